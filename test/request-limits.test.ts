// Abuse limits, each a precise 4xx (or 503 for the server's own deadline) with an
// OperationOutcome — or RFC 6749 JSON at the token endpoint — and never a 500: query-string
// length, number of parameters, oversized headers, body size, _count cap, _include depth,
// request/response/keep-alive timeouts, and running exports per tenant.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { registerKeyClient, requestToken, signAssertion, tokenFor, tokenUrlFor } from './helpers/auth.js';
import { KICKOFF_HEADERS } from './helpers/bulk.js';
import { http, isOperationOutcome, type HttpResult } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

function assertOutcome(r: HttpResult, status: number, code: string, label: string): void {
  assert.equal(r.status, status, `${label}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(isOperationOutcome(r), `${label}: OperationOutcome`);
  assert.equal(r.json.issue[0].code, code, `${label}: issue code`);
  assert.doesNotMatch(r.text, /\bat .*\.js:\d+|SELECT |\/work\//, `${label}: nothing internal`);
}

/** Raw HTTP over one socket: writes `request`, returns everything the server sends until it closes. */
function rawExchange(origin: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(origin).port), '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

function rawBody(raw: string): any {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

describe('request limits', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer({
      bodyLimit: 2048,
      http: { maxQueryLength: 300, maxQueryParams: 5, requestTimeoutMs: 1000, responseTimeoutMs: 1500, keepAliveTimeoutMs: 1000 },
      search: { defaultCount: 50, maxCount: 3, maxIncludeDepth: 2, exactTotalUpTo: 10_000, preparedShapes: 100 },
    });
    ({ base, tenant } = await server.newTenant('limits'));
  });
  after(() => server.close());

  it('MAX_QUERY_LENGTH: a longer query string is 414 everywhere, before authentication; one at the limit is served', async () => {
    const long = `name=${'a'.repeat(300)}`;
    assertOutcome(await http(`${base}/Patient?${long}`), 414, 'too-long', 'search');
    assertOutcome(await http(`${base}/Patient?${long}`, { auth: false }), 414, 'too-long', 'search without a token');
    assertOutcome(await http(`${server.origin}/nowhere?${long}`), 414, 'too-long', 'unknown route');
    const token = await fetch(`${tokenUrlFor(server.origin, tenant)}?${long}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    assert.equal(token.status, 414);
    assert.equal(((await token.json()) as { error: string }).error, 'invalid_request');
    const atLimit = `name=${'a'.repeat(295)}`;
    assert.equal(atLimit.length, 300);
    assert.equal((await http(`${base}/Patient?${atLimit}`)).status, 200);
  });

  it('headers larger than Node reads are 431 with an OperationOutcome', async () => {
    const raw = await rawExchange(server.origin, `GET /healthz?${'x'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.equal(rawBody(raw).issue[0].code, 'too-long');
  });

  it('MAX_QUERY_PARAMS: more parameters, in the URL or a _search form, are 400 too-costly', async () => {
    assertOutcome(await http(`${base}/Patient?a=1&b=2&c=3&d=4&e=5&f=6`), 400, 'too-costly', 'six in the URL');
    assert.equal((await http(`${base}/Patient?gender=male&_count=2&_total=none&_summary=false&_sort=_id`)).status, 200, 'five are fine');
    const form = (query: string, body: string) =>
      http(`${base}/Patient/_search?${query}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assertOutcome(await form('gender=male&_count=2&_total=none', 'birthdate=gt2000&_sort=_id&_summary=false'), 400, 'too-costly', 'URL and form together');
    assert.equal((await form('gender=male&_count=2', 'birthdate=gt2000&_sort=_id')).status, 200);
  });

  it('BODY_LIMIT: a larger body is 413 too-long (OperationOutcome; RFC 6749 JSON at the token endpoint)', async () => {
    const big = { resourceType: 'Patient', name: [{ family: 'x'.repeat(4000) }] };
    assertOutcome(await http(`${base}/Patient`, { body: big }), 413, 'too-long', 'create');
    const token = await fetch(tokenUrlFor(server.origin, tenant), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `scope=${'x'.repeat(4000)}` });
    assert.equal(token.status, 413);
    assert.equal(((await token.json()) as { error: string }).error, 'invalid_request');
  });

  it('SEARCH_MAX_COUNT: a larger _count is served at the cap, as the self link says', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'unknown' } })).status, 201);
    const r = await http(`${base}/Patient?gender=unknown&_count=500`);
    assert.equal(r.status, 200);
    assert.equal(r.json.entry.length, 3);
    const self = new URL(r.json.link.find((l: any) => l.relation === 'self').url);
    assert.equal(self.searchParams.get('_count'), '3');
    assert.ok(r.json.link.some((l: any) => l.relation === 'next'));
  });

  it('MAX_INCLUDE_DEPTH: _include:iterate stops at the limit and says so (400 too-costly under handling=strict)', async () => {
    // org-d ← org-c ← org-b ← org-a (partOf): from org-a, three levels up.
    for (const [id, parent] of [['org-d'], ['org-c', 'org-d'], ['org-b', 'org-c'], ['org-a', 'org-b']]) {
      const org = { resourceType: 'Organization', id, name: id, ...(parent ? { partOf: { reference: `Organization/${parent}` } } : {}) };
      assert.ok([200, 201].includes((await http(`${base}/Organization/${id}`, { method: 'PUT', body: org })).status));
    }
    const ids = (r: HttpResult, mode: string) => r.json.entry.filter((e: any) => e.search.mode === mode).map((e: any) => e.resource.id ?? e.resource.resourceType).sort();
    const cut = await http(`${base}/Organization?_id=org-a&_include:iterate=Organization:partof`);
    assert.equal(cut.status, 200);
    assert.deepEqual(ids(cut, 'include'), ['org-b', 'org-c']);
    const outcome = cut.json.entry.find((e: any) => e.search.mode === 'outcome')?.resource;
    assert.equal(outcome?.issue?.[0]?.code, 'too-costly', JSON.stringify(outcome));
    assert.match(outcome.issue[0].diagnostics, /2 level/);
    // Two levels up from org-b is the whole chain: nothing was cut, nothing is said.
    const whole = await http(`${base}/Organization?_id=org-b&_include:iterate=Organization:partof`);
    assert.deepEqual(ids(whole, 'include'), ['org-c', 'org-d']);
    assert.equal(ids(whole, 'outcome').length, 0);
    const strict = await http(`${base}/Organization?_id=org-a&_include:iterate=Organization:partof`, { headers: { prefer: 'handling=strict' } });
    assertOutcome(strict, 400, 'too-costly', 'strict');
  });

  it('REQUEST_TIMEOUT_MS: a request that never finishes arriving is answered 408 and the connection closed', async () => {
    const path = new URL(`${base}/Patient`).pathname;
    const token = (await tokenFor(server.db.pool, server.origin, tenant)).token;
    const raw = await rawExchange(
      server.origin,
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/fhir+json\r\nContent-Length: 100\r\n\r\n{"resourceType":`,
    );
    assert.match(raw, /^HTTP\/1\.1 408 /);
    assert.match(raw, /\r\nx-content-type-options: nosniff\r\n/i);
    const body = rawBody(raw);
    assert.equal(body.resourceType, 'OperationOutcome');
    assert.equal(body.issue[0].code, 'timeout');
  });

  it('KEEP_ALIVE_TIMEOUT_MS: the server announces it and closes an idle kept-alive connection', async () => {
    const raw = await rawExchange(server.origin, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    // One answer, then the server itself closed the connection (the client never did).
    assert.match(raw, /^HTTP\/1\.1 200 /);
    assert.match(raw, /\r\nKeep-Alive: timeout=1\r\n/i);
    assert.equal(raw.match(/HTTP\/1\.1 /g)?.length, 1);
  });

  it('RESPONSE_TIMEOUT_MS: an answer the server cannot give in time is 503 timeout with Retry-After, FHIR and token alike', async () => {
    const created = await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'male' } });
    const locker = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await locker.connect();
    try {
      // Another transaction holds the row an update must lock, for as long as this test wants.
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM resource WHERE tenant = $1 AND type = 'Patient' AND id = $2 FOR UPDATE`, [tenant, created.json.id]);
      const update = await http(`${base}/Patient/${created.json.id}`, { method: 'PUT', body: { ...created.json, gender: 'female' } });
      assertOutcome(update, 503, 'timeout', 'blocked update');
      assert.match(update.headers.get('retry-after') ?? '', /^\d+$/);
      await locker.query('ROLLBACK');

      // The token endpoint: an uncommitted record of the same assertion id holds the token request back.
      const { clientId, key } = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
      const url = tokenUrlFor(server.origin, tenant);
      const jti = `held-${Date.now()}`;
      await locker.query('BEGIN');
      await locker.query(`INSERT INTO assertion_jti (tenant, client_id, jti, expires_at) VALUES ($1, $2, $3, now() + interval '5 minutes')`, [tenant, clientId, jti]);
      const token = await requestToken(url, {
        grant_type: 'client_credentials',
        scope: 'system/*.rs',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signAssertion(key, clientId, url, { jti }),
      });
      assert.equal(token.status, 503, JSON.stringify(token.json));
      assert.equal(token.json.error, 'temporarily_unavailable');
      assert.match(token.headers.get('retry-after') ?? '', /^\d+$/);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });

  it('EXPORT_MAX_JOBS_PER_TENANT: running exports of all clients together are capped (429 throttled, Retry-After)', async () => {
    const capped = await startServer({ export: { ...server.config.export, maxJobsPerTenant: 2, maxJobsPerClient: 3 } });
    try {
      const { base: b, tenant: t, token: first } = await capped.newTenant('exportcap');
      const { token: second } = await tokenFor(capped.db.pool, capped.origin, t);
      const kick = (token: string) => http(`${b}/$export?_type=Patient`, { headers: { ...KICKOFF_HEADERS, authorization: `Bearer ${token}` } });
      const a1 = await kick(first);
      assert.equal(a1.status, 202, a1.text);
      assert.equal((await kick(second)).status, 202);
      const third = await kick(second);
      assertOutcome(third, 429, 'throttled', 'third export in the tenant');
      assert.match(third.json.issue[0].diagnostics, /tenant/);
      assert.match(third.headers.get('retry-after') ?? '', /^\d+$/);
      assert.equal((await kick(first)).status, 429, 'the first client is under its own limit but the tenant is full');
      // Another tenant is not affected.
      const other = await capped.newTenant('exportcap');
      assert.equal((await http(`${other.base}/$export?_type=Patient`, { headers: KICKOFF_HEADERS })).status, 202);
      // A cancelled export frees its place at once.
      assert.equal((await http(a1.headers.get('content-location')!, { method: 'DELETE', headers: { authorization: `Bearer ${first}` } })).status, 202);
      assert.equal((await kick(second)).status, 202);
    } finally {
      await capped.close();
    }
  });
});
