/**
 * Rate limits and network controls (issue 7 §2–3): token buckets per client and per tenant
 * shared by every server process, RateLimit-* headers, 429 + Retry-After + OperationOutcome,
 * export status polls never counted, the token endpoint's own limits per client and per
 * address, per-client IP allowlists, and client addresses taken from X-Forwarded-For only
 * behind a trusted proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addClient, updateClientLimits, type ClientLimits } from '../src/auth/clients.js';
import { KICKOFF_HEADERS } from './helpers/bulk.js';
import { makeKeyPair, requestToken, signAssertion, tokenUrlFor } from './helpers/auth.js';
import { http } from './helpers/http.js';
import { startServer, uniqueId, type TestServer } from './helpers/server.js';
import { loadConfig } from '../src/config.js';

/** A key client with `limits`, and a token for it (taken from `headers`' address). */
async function limitedClient(server: TestServer, tenant: string, limits: ClientLimits, headers: Record<string, string> = {}) {
  const key = await makeKeyPair();
  const { client_id } = await addClient(server.db.pool, { tenant, name: 'limited', jwks: { keys: [key.publicJwk] }, scope: 'system/*.rs', limits });
  const url = tokenUrlFor(server.origin, tenant);
  const assertion = async () => signAssertion(key, client_id, url);
  const res = await requestToken(url, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() }, headers);
  return { clientId: client_id, token: res.json?.access_token as string, tokenStatus: res.status, tokenJson: res.json, assertion, url };
}

const auth = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra }, auth: false });

describe('rate limits', () => {
  let a: TestServer;
  let b: TestServer;
  let tenant: string;
  let base: string;

  before(async () => {
    a = await startServer({}, { workers: 1 });
    // Two processes behind one public URL, as behind a load balancer: a token from either works on both.
    b = await startServer({ publicUrl: a.origin });
    ({ tenant, base } = await a.newTenant('limits'));
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  it('every answer carries RateLimit-Limit/Remaining/Reset; past the burst → 429 with Retry-After and a throttled OperationOutcome, audited', async () => {
    const c = await limitedClient(a, tenant, { ratePerSecond: 0.01, rateBurst: 3 });
    const seen: [number, string | null][] = [];
    for (let i = 0; i < 3; i++) {
      const r = await http(`${base}/Patient?_count=1`, auth(c.token));
      seen.push([r.status, r.headers.get('ratelimit-remaining')]);
      assert.equal(r.headers.get('ratelimit-limit'), '3');
      assert.ok(Number(r.headers.get('ratelimit-reset')) > 0);
    }
    assert.deepEqual(seen, [[200, '2'], [200, '1'], [200, '0']]);
    const refused = await http(`${base}/Patient?_count=1`, auth(c.token));
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.equal(refused.json.resourceType, 'OperationOutcome');
    assert.equal(refused.json.issue[0].code, 'throttled');
    await a.app.auditLog!.flush();
    const { rows } = await a.db.pool.query('SELECT status FROM audit_event WHERE tenant = $1 AND client_id = $2 AND interaction = $3 ORDER BY seq', [tenant, c.clientId, 'search']);
    assert.deepEqual(rows.map((r) => r.status), [200, 200, 200, 429]);
  });

  it('the buckets are shared by two server processes on one database', async () => {
    const c = await limitedClient(a, tenant, { ratePerSecond: 0.01, rateBurst: 4 });
    const baseB = base.replace(a.origin, b.origin);
    assert.equal((await http(`${baseB}/metadata`)).status, 200);
    const statuses = [];
    for (const url of [base, baseB, base, baseB, baseB, base]) statuses.push((await http(`${url}/Patient?_count=1`, auth(c.token))).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
  });

  it('a tenant limit is shared by all of its clients', async () => {
    const t = await startServer({ limits: { ...loadConfig().limits, clientRate: 1000, clientBurst: 1000, tenantRate: 0.01, tenantBurst: 3, tokenPerMinuteClient: 1000, tokenPerMinuteIp: 100000 } });
    try {
      const { tenant: tt, base: tb } = await t.newTenant('tenant-limit');
      const one = await limitedClient(t, tt, {});
      const two = await limitedClient(t, tt, {});
      // newTenant's own client spent nothing yet; the tenant bucket is spent by these two.
      const statuses = [];
      for (const token of [one.token, two.token, one.token, two.token]) statuses.push((await http(`${tb}/Patient`, auth(token))).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const r = await http(`${tb}/Patient`, auth(two.token));
      assert.match(r.json.issue[0].diagnostics, /tenant/);
    } finally {
      await t.close();
    }
  });

  it('export status polls are never counted; kick-off and downloads are', async () => {
    const c = await limitedClient(a, tenant, { ratePerSecond: 0.01, rateBurst: 2 });
    const k = await http(`${base}/$export?_type=Patient`, { ...auth(c.token), headers: { ...auth(c.token).headers, ...KICKOFF_HEADERS } });
    assert.equal(k.status, 202);
    assert.equal(k.headers.get('ratelimit-remaining'), '1');
    const statusUrl = k.headers.get('content-location')!;
    for (let i = 0; i < 6; i++) {
      const s = await http(statusUrl, auth(c.token));
      assert.ok(s.status === 202 || s.status === 200, `poll ${i}: ${s.status}`);
      assert.equal(s.headers.get('ratelimit-remaining'), null, 'a poll takes no token');
    }
    assert.equal((await http(`${base}/Patient`, auth(c.token))).status, 200);
    assert.equal((await http(`${base}/Patient`, auth(c.token))).status, 429);
  });

  it('a client\'s own export limit replaces the server default', async () => {
    const c = await limitedClient(a, tenant, { maxExports: 1 });
    const h = { ...auth(c.token), headers: { ...auth(c.token).headers, ...KICKOFF_HEADERS } };
    assert.equal((await http(`${base}/$export?_type=Patient`, h)).status, 202);
    const second = await http(`${base}/$export?_type=Patient`, h);
    assert.equal(second.status, 429);
    assert.match(second.json.issue[0].diagnostics, /limit 1/);
  });

  it('limits can be changed while a client is in use: every process applies them at once', async () => {
    const c = await limitedClient(a, tenant, { ratePerSecond: 0.01, rateBurst: 1 });
    assert.equal((await http(`${base}/Patient`, auth(c.token))).status, 200);
    assert.equal((await http(`${base}/Patient`, auth(c.token))).status, 429);
    await updateClientLimits(a.db.pool, tenant, c.clientId, { ratePerSecond: 1000, rateBurst: 1000 });
    let status = 429;
    for (let i = 0; i < 100 && status === 429; i++) {
      status = (await http(`${base}/Patient`, auth(c.token))).status;
      if (status === 429) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 200);
    await assert.rejects(updateClientLimits(a.db.pool, tenant, c.clientId, { rateBurst: 0 }), /burst/);
    await assert.rejects(updateClientLimits(a.db.pool, tenant, c.clientId, { allowedIps: '10.0.0.0/33' }), /CIDR/);
    await assert.rejects(updateClientLimits(a.db.pool, tenant, 'nobody', { rateBurst: 5 }), /No client/);
  });
});

describe('token endpoint limits and network controls', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;

  before(async () => {
    // Behind a trusted proxy on loopback: the client address comes from X-Forwarded-For.
    server = await startServer({ limits: { ...loadConfig().limits, clientRate: 1000, clientBurst: 1000, tokenPerMinuteClient: 3, tokenPerMinuteIp: 8, trustProxy: ['127.0.0.1'] } });
    ({ tenant, base } = await server.newTenant('netctl'));
  });
  after(() => server.close());

  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  it('per client: the fourth token request within a minute → 429 temporarily_unavailable with Retry-After', async () => {
    const ip = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
    const c = await limitedClient(server, tenant, {}, from(ip));
    assert.equal(c.tokenStatus, 200);
    const form = async () => ({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await c.assertion() });
    assert.equal((await requestToken(c.url, await form(), from(ip))).status, 200);
    assert.equal((await requestToken(c.url, await form(), from(ip))).status, 200);
    const r = await requestToken(c.url, await form(), from(ip));
    assert.equal(r.status, 429);
    assert.equal(r.json.error, 'temporarily_unavailable');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  it('per source address: guessing many client ids from one address is stopped', async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await requestToken(tokenUrlFor(server.origin, tenant), { grant_type: 'client_credentials', scope: 'system/*.rs', client_id: uniqueId('guess'), client_secret: 'x' }, from(ip));
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 400, 400, 400, 429, 429]);
    // Another address is not affected.
    const other = await requestToken(tokenUrlFor(server.origin, tenant), { grant_type: 'client_credentials', scope: 'system/*.rs', client_id: 'x', client_secret: 'x' }, from('192.0.2.200'));
    assert.equal(other.status, 400);
  });

  it('IP allowlist: tokens and FHIR requests from outside the list → 403 (audited); inside → served', async () => {
    const inside = { 'x-forwarded-for': '10.20.30.40' };
    const c = await limitedClient(server, tenant, { allowedIps: '10.0.0.0/8, 2001:db8::/32' }, inside);
    assert.equal(c.tokenStatus, 200, JSON.stringify(c.tokenJson));
    assert.equal((await http(`${base}/Patient`, auth(c.token, inside))).status, 200);
    const outside = await http(`${base}/Patient`, auth(c.token, { 'x-forwarded-for': '192.0.2.9' }));
    assert.equal(outside.status, 403);
    assert.equal(outside.json.issue[0].code, 'forbidden');
    const tokenOutside = await requestToken(c.url, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await c.assertion() }, { 'x-forwarded-for': '192.0.2.9' });
    assert.equal(tokenOutside.status, 403);
    assert.equal(tokenOutside.json.error, 'unauthorized_client');
    assert.equal((await http(`${base}/Patient`, auth(c.token, { 'x-forwarded-for': '2001:db8::7' }))).status, 200);
    await server.app.auditLog!.flush();
    const { rows } = await server.db.pool.query("SELECT source_ip, status, interaction FROM audit_event WHERE tenant = $1 AND client_id = $2 AND status = 403 ORDER BY seq", [tenant, c.clientId]);
    assert.deepEqual(rows.map((r) => [r.source_ip, r.interaction]), [['192.0.2.9', 'search'], ['192.0.2.9', 'token']]);
  });

  it('without TRUST_PROXY a forged X-Forwarded-For is ignored: the socket address decides', async () => {
    const plain = await startServer();
    try {
      const { tenant: t, base: pb } = await plain.newTenant('noproxy');
      const c = await limitedClient(plain, t, { allowedIps: '10.0.0.0/8' }, { 'x-forwarded-for': '10.1.1.1' });
      assert.equal(c.tokenStatus, 403, 'the token request really came from 127.0.0.1');
      const ok = await limitedClient(plain, t, { allowedIps: '127.0.0.1' }, { 'x-forwarded-for': '10.1.1.1' });
      assert.equal(ok.tokenStatus, 200);
      assert.equal((await http(`${pb}/Patient`, auth(ok.token, { 'x-forwarded-for': '10.1.1.1' }))).status, 200);
    } finally {
      await plain.close();
    }
  });
});
