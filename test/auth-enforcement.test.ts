// Resource-server authorization (RS-01…RS-07): every protected route wants a valid bearer
// token of this tenant with the scope the interaction needs; public routes stay public.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { disableClient } from '../src/auth/clients.js';
import { rotateSigningKey } from '../src/auth/signing-keys.js';
import { requestToken, signAssertion, tokenFor, tokenUrlFor } from './helpers/auth.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

/**
 * Repeats a request until it is refused, for at most 5 s — far less than the 30 s a client's
 * status is cached, so only the change notification can make it pass.
 */
async function refusedSoon<T extends { status: number }>(request: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const r = await request();
    if (r.status !== 200 || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('resource-server authorization', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  let patientId: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('rs'));
    patientId = (await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: 'Scoped' }] } })).json.id;
  });
  after(() => server.close());

  /** Every protected route, as [method, path, body?]. */
  const routes = (): [string, string, unknown?][] => [
    ['GET', `/Patient/${patientId}`],
    ['GET', `/Patient/${patientId}/_history/1`],
    ['GET', `/Patient/${patientId}/_history`],
    ['GET', '/Patient/_history'],
    ['GET', '/_history'],
    ['GET', '/Patient?name=Scoped'],
    ['POST', '/Patient/_search', 'name=Scoped'],
    ['POST', '/Patient', { resourceType: 'Patient' }],
    ['PUT', `/Patient/${patientId}`, { resourceType: 'Patient', id: patientId }],
    ['DELETE', '/Patient/nothing-here'],
    ['POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [] }],
  ];

  const send = (method: string, path: string, body: unknown, headers: Record<string, string>) =>
    http(`${base}${path}`, {
      method,
      auth: false,
      headers: { ...headers, ...(typeof body === 'string' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body !== undefined ? { body } : {}),
    });

  it('RS-01, RS-03: no token → 401 with WWW-Authenticate Bearer realm (no error attribute) and an OperationOutcome, on every protected route', async () => {
    for (const [method, path, body] of routes()) {
      const r = await send(method, path, body, {});
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.headers.get('www-authenticate'), `Bearer realm="${base}"`, `${method} ${path}`);
      assert.ok(isOperationOutcome(r));
      assert.equal(r.json.issue[0].code, 'login');
    }
  });

  it('RS-01: a token in the query string is not accepted', async () => {
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    const r = await http(`${base}/Patient/${patientId}?access_token=${token}`, { auth: false });
    assert.equal(r.status, 401);
  });

  it('RS-04: garbage, foreign-signed, expired and other-tenant tokens → 401 invalid_token', async () => {
    const other = await server.newTenant('rs-other');
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ scope: 'system/*.cruds', tenant, client_id: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: 'forged', typ: 'at+jwt' })
      .setIssuer(`${server.origin}/auth/${tenant}`)
      .setAudience(base)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const cases: [string, string][] = [
      ['garbage', 'Bearer not.a.jwt'],
      ['forged', `Bearer ${forged}`],
      ['other tenant', `Bearer ${other.token}`],
    ];
    for (const [label, authorization] of cases) {
      for (const [method, path, body] of routes()) {
        const r = await send(method, path, body, { authorization });
        assert.equal(r.status, 401, `${label}: ${method} ${path}`);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm=".*", error="invalid_token"/, label);
        assert.ok(isOperationOutcome(r));
      }
    }
  });

  it('RS-04: a token signed by the server’s own key but past its exp → 401 invalid_token', async () => {
    // Sign a token with the server's own current key but an exp in the past, as an expired one would be.
    const { rows } = await server.db.pool.query('SELECT kid, private_jwk FROM signing_key WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1');
    const { importJWK } = await import('jose');
    const key = await importJWK(rows[0].private_jwk, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ scope: 'system/*.cruds', tenant, client_id: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: rows[0].kid, typ: 'at+jwt' })
      .setIssuer(`${server.origin}/auth/${tenant}`)
      .setAudience(base)
      .setIssuedAt(now - 400)
      .setExpirationTime(now - 100)
      .sign(key);
    const r = await send('GET', `/Patient/${patientId}`, undefined, { authorization: `Bearer ${expired}` });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate')!, /error="invalid_token"/);
    assert.match(r.json.issue[0].diagnostics, /expired/);
  });

  it('RS-02, RS-05: read needs r, search s, create c, update u, delete d; otherwise 403 insufficient_scope', async () => {
    const cases: [string, string, string, unknown?][] = [
      ['system/Patient.s', 'GET', `/Patient/${patientId}`],
      ['system/Patient.r', 'GET', '/Patient?name=Scoped'],
      ['system/Patient.rs', 'POST', '/Patient', { resourceType: 'Patient' }],
      ['system/Patient.crs', 'PUT', `/Patient/${patientId}`, { resourceType: 'Patient', id: patientId }],
      ['system/Patient.cru', 'DELETE', `/Patient/${patientId}`],
      ['system/Observation.cruds', 'GET', `/Patient/${patientId}`],
    ];
    for (const [scope, method, path, body] of cases) {
      const { token } = await tokenFor(server.db.pool, server.origin, tenant, scope);
      const r = await send(method, path, body, { authorization: `Bearer ${token}` });
      assert.equal(r.status, 403, `${scope}: ${method} ${path}`);
      assert.match(r.headers.get('www-authenticate')!, /^Bearer error="insufficient_scope", scope="system\/\w+\.[cruds]"$/);
      assert.ok(isOperationOutcome(r));
      assert.equal(r.json.issue[0].code, 'forbidden');
    }
    // And each permission alone is enough for its interaction (v1 and v2 syntax).
    const allowed: [string, string, string, unknown?][] = [
      ['system/Patient.r', 'GET', `/Patient/${patientId}`],
      ['system/Patient.read', 'GET', '/Patient?name=Scoped'],
      ['system/Patient.c', 'POST', '/Patient', { resourceType: 'Patient' }],
      ['system/*.u', 'PUT', `/Patient/${patientId}`, { resourceType: 'Patient', id: patientId, name: [{ family: 'Scoped' }] }],
    ];
    for (const [scope, method, path, body] of allowed) {
      const { token } = await tokenFor(server.db.pool, server.origin, tenant, scope);
      const r = await send(method, path, body, { authorization: `Bearer ${token}` });
      assert.ok(r.status >= 200 && r.status < 300, `${scope}: ${method} ${path} → ${r.status}`);
    }
  });

  it('RS-05: writes inside a transaction are checked per entry', async () => {
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/Patient.cruds');
    const body = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const before = (await server.db.pool.query('SELECT count(*)::int AS n FROM resource WHERE tenant = $1', [tenant])).rows[0].n;
    const r = await send('POST', '', body, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 403);
    const afterCount = (await server.db.pool.query('SELECT count(*)::int AS n FROM resource WHERE tenant = $1', [tenant])).rows[0].n;
    assert.equal(afterCount, before);
  });

  it('RS-06: metadata and discovery stay public with no, garbage or expired tokens attached', async () => {
    for (const authorization of [undefined, 'Bearer garbage', 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.x']) {
      for (const path of ['/metadata', '/.well-known/smart-configuration']) {
        const r = await http(`${base}${path}`, { auth: false, headers: authorization ? { authorization } : {} });
        assert.equal(r.status, 200, `${path} with ${authorization}`);
      }
    }
  });

  it('RS-07: granular scopes — reads outside the filter are 404, searches are filtered, writes outside it are 403', async () => {
    const lab = { resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }], code: { text: 'HbA1c' }, subject: { reference: `Patient/${patientId}` } };
    const vital = { ...lab, category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }], code: { text: 'Heart rate' } };
    const labId = (await http(`${base}/Observation`, { body: lab })).json.id;
    const vitalId = (await http(`${base}/Observation`, { body: vital })).json.id;
    const filter = 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, `system/Observation.crs?${filter}`);
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await send('GET', `/Observation/${labId}`, undefined, auth)).status, 200);
    const hidden = await send('GET', `/Observation/${vitalId}`, undefined, auth);
    assert.equal(hidden.status, 404);
    assert.ok(isOperationOutcome(hidden));
    const search = await send('GET', `/Observation?subject=Patient/${patientId}`, undefined, auth);
    assert.equal(search.status, 200);
    assert.deepEqual(
      search.json.entry.filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id),
      [labId],
    );
    assert.equal((await send('POST', '/Observation', vital, auth)).status, 403);
    assert.equal((await send('POST', '/Observation', lab, auth)).status, 201);
    // Union of two granular scopes.
    const both = await tokenFor(server.db.pool, server.origin, tenant, `system/Observation.rs?${filter} system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs`);
    assert.equal((await send('GET', `/Observation/${vitalId}`, undefined, { authorization: `Bearer ${both.token}` })).status, 200);
  });

  it('a disabled client: its tokens stop working at once, and it gets no new ones', async () => {
    const { token, clientId, key } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await send('GET', `/Patient/${patientId}`, undefined, auth)).status, 200);
    await disableClient(server.db.pool, tenant, clientId);
    // The change reaches the serving process as a notification on its own connection, which can
    // land a moment after disableClient returns; well inside the 30 s status cache it must.
    const r = await refusedSoon(() => send('GET', `/Patient/${patientId}`, undefined, auth));
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate')!, /invalid_token/);
    const url = tokenUrlFor(server.origin, tenant);
    const again = await requestToken(url, {
      grant_type: 'client_credentials',
      scope: 'system/*.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signAssertion(key, clientId, url),
    });
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_client');
  });

  it('keys rotate-server: tokens signed by the old key stay valid; new tokens carry the new kid', async () => {
    const old = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    const kid = await rotateSigningKey(server.db.pool);
    assert.equal((await send('GET', `/Patient/${patientId}`, undefined, { authorization: `Bearer ${old.token}` })).status, 200);
    // The serving process picks the new key up on its next key refresh; force it as a restart would.
    const fresh = await startServer();
    try {
      const issued = await tokenFor(fresh.db.pool, fresh.origin, tenant, 'system/*.rs');
      const header = JSON.parse(Buffer.from(issued.token.split('.')[0], 'base64url').toString());
      assert.equal(header.kid, kid);
      const read = await http(`${fresh.origin}/payer/system-access/v2/${tenant}/Patient/${patientId}`, { auth: false, headers: { authorization: `Bearer ${issued.token}` } });
      assert.equal(read.status, 200);
    } finally {
      await fresh.close();
    }
  });
});

describe('state shared by several server processes', () => {
  let a: TestServer;
  let b: TestServer;
  let tenant: string;
  before(async () => {
    a = await startServer();
    b = await startServer();
    ({ tenant } = await a.newTenant('shared'));
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  it('TOK-47: an assertion accepted by one process is refused as a replay by the other', async () => {
    const { clientId, key } = await tokenFor(a.db.pool, a.origin, tenant, 'system/*.rs');
    // Each process checks aud against its own token URL, so the replay is the same (client, jti)
    // signed for the second process: only the shared replay store can refuse it.
    const jti = `replay-${Date.now()}`;
    const urlA = tokenUrlFor(a.origin, tenant);
    const urlB = tokenUrlFor(b.origin, tenant);
    const form = async (url: string) => ({
      grant_type: 'client_credentials',
      scope: 'system/*.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signAssertion(key, clientId, url, { jti }),
    });
    assert.equal((await requestToken(urlA, await form(urlA))).status, 200);
    const replay = await requestToken(urlB, await form(urlB));
    assert.equal(replay.status, 400);
    assert.equal(replay.json.error, 'invalid_client');
    assert.match(replay.json.error_description, /already used/);
  });

  it('a client disabled through one process is refused at once by the other (LISTEN/NOTIFY)', async () => {
    const baseB = `${b.origin}/payer/system-access/v2/${tenant}`;
    const { token, clientId } = await tokenFor(b.db.pool, b.origin, tenant, 'system/*.rs');
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await http(`${baseB}/Patient/_history`, { auth: false, headers: auth })).status, 200);
    // b learns of the change only through its LISTEN connection (its status cache lasts 30 s).
    await disableClient(a.db.pool, tenant, clientId);
    const r = await refusedSoon(() => http(`${baseB}/Patient/_history`, { auth: false, headers: auth }));
    assert.equal(r.status, 401);
  });
});
