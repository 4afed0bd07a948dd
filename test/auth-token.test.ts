// The token endpoint (checklist §1): discovery (TOK-01…12), private_key_jwt for every advertised
// algorithm (TOK-40…49), the error matrix E1–E13, client secrets (TOK-50…53), JWKS URLs with
// rotation (TOK-30…32, TOK-42), and the response shape (TOK-70…74). Real keys and signatures.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { addClient, rotateSecret } from '../src/auth/clients.js';
import { makeKeyPair, registerKeyClient, requestToken, signAssertion, tokenUrlFor, type KeyPair } from './helpers/auth.js';
import { http as fhir } from './helpers/http.js';
import { startServer, uniqueId, type TestServer } from './helpers/server.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGORITHMS = ['RS384', 'ES384', 'RS256', 'RS512', 'ES256', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

describe('token endpoint', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let url: string;
  let client: { clientId: string; key: KeyPair };
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('tok'));
    url = tokenUrlFor(server.origin, tenant);
    client = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
  });
  after(() => server.close());

  const form = async (o: Parameters<typeof signAssertion>[3] = {}, extra: Record<string, string> = {}, c = client) => ({
    grant_type: 'client_credentials',
    scope: 'system/*.rs',
    client_assertion_type: JWT_BEARER,
    client_assertion: await signAssertion(c.key, c.clientId, url, o),
    ...extra,
  });

  /** Every token-endpoint answer: JSON, never cached (TOK-71, §1.7). */
  function assertNoStore(r: { headers: Headers }): void {
    assert.match(r.headers.get('content-type')!, /^application\/json/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('pragma'), 'no-cache');
  }

  function assertError(r: { status: number; headers: Headers; json: any }, status: number, error: string, label: string): void {
    assert.equal(r.status, status, `${label}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error, error, label);
    assert.equal(typeof r.json.error_description, 'string', label);
    assert.doesNotMatch(JSON.stringify(r.json), /SELECT|\/work\/|at [A-Za-z]+ \(/, label);
    assertNoStore(r);
  }

  it('TOK-01…TOK-10, TOK-12: discovery is public JSON with absolute URLs and the truthful capability list', async () => {
    const r = await fhir(`${base}/.well-known/smart-configuration`, { auth: false, headers: { accept: 'application/fhir+json', origin: 'https://partner.example' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^application\/json/);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.json.token_endpoint, url);
    assert.deepEqual(r.json.grant_types_supported, ['client_credentials']);
    assert.deepEqual(r.json.token_endpoint_auth_methods_supported, ['private_key_jwt', 'client_secret_basic', 'client_secret_post']);
    for (const alg of ['RS384', 'ES384']) assert.ok(r.json.token_endpoint_auth_signing_alg_values_supported.includes(alg));
    assert.ok(!r.json.token_endpoint_auth_signing_alg_values_supported.some((a: string) => a === 'none' || a.startsWith('HS')));
    for (const c of ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v1', 'permission-v2']) assert.ok(r.json.capabilities.includes(c), c);
    assert.ok(r.json.scopes_supported.includes('system/*.read') && r.json.scopes_supported.includes('system/*.rs'));
    assert.deepEqual(r.json.code_challenge_methods_supported, ['S256']);
    assert.equal(r.json.issuer, undefined);
    assert.equal(r.json.authorization_endpoint, undefined, 'P1: no App Launch, so no authorization endpoint is advertised');
    const meta = await fhir(`${base}/metadata`, { auth: false, headers: { origin: 'https://partner.example' } });
    assert.equal(meta.headers.get('access-control-allow-origin'), '*');
    const security = meta.json.rest[0].security;
    assert.equal(security.service[0].coding[0].code, 'SMART-on-FHIR');
    const uris = security.extension.find((e: any) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    assert.equal(uris.extension.find((e: any) => e.url === 'token').valueUri, url);
    const preflight = await fhir(`${base}/.well-known/smart-configuration`, { method: 'OPTIONS', auth: false, headers: { origin: 'https://x.example', 'access-control-request-method': 'GET' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  });

  it('TOK-41, TOK-43, TOK-70…TOK-74: every advertised algorithm gets a token of the documented shape', async () => {
    for (const alg of ALGORITHMS) {
      const c = await registerKeyClient(server.db.pool, tenant, 'system/*.rs', alg);
      const r = await requestToken(url, await form({}, {}, c));
      assert.equal(r.status, 200, `${alg}: ${JSON.stringify(r.json)}`);
      assertNoStore(r);
      assert.equal(typeof r.json.access_token, 'string');
      assert.equal(r.json.token_type, 'bearer');
      assert.equal(typeof r.json.expires_in, 'number');
      assert.equal(r.json.expires_in, 300);
      assert.equal(r.json.scope, 'system/*.rs');
      assert.equal(r.json.refresh_token, undefined);
      const read = await fhir(`${base}/Patient/_history`, { auth: false, headers: { authorization: `Bearer ${r.json.access_token}` } });
      assert.equal(read.status, 200, alg);
    }
  });

  it('TOK-40…TOK-49, E7–E9: assertion failures are all 400 invalid_client', async () => {
    const now = Math.floor(Date.now() / 1000);
    const foreign = await makeKeyPair('ES384', client.key.kid); // same kid, different key
    const rsaUnderEcKid = await makeKeyPair('RS384', client.key.kid); // the registered key for this kid is EC
    const rsaClient = await registerKeyClient(server.db.pool, tenant, 'system/*.rs', 'RS384');
    const hs = await new SignJWT({ jti: 'hs' })
      .setProtectedHeader({ alg: 'HS256', kid: rsaClient.key.kid })
      .setIssuer(rsaClient.clientId)
      .setSubject(rsaClient.clientId)
      .setAudience(url)
      .setExpirationTime(now + 200)
      .sign(new TextEncoder().encode(JSON.stringify(rsaClient.key.publicJwk)));
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', kid: client.key.kid })}.${b64({ iss: client.clientId, sub: client.clientId, aud: url, exp: now + 200, jti: 'none' })}.`;
    const twin = await makeKeyPair('ES384');
    const twinJwks = { keys: [twin.publicJwk, { ...(await makeKeyPair('ES384', twin.kid)).publicJwk }] };
    const twins = await addClient(server.db.pool, { tenant, name: 'twin kids', jwks: twinJwks, scope: 'system/*.rs' });
    const cases: [string, Record<string, string>][] = [
      ['TOK-40 not a JWT', { ...(await form()), client_assertion: 'not-a-jwt' }],
      ['TOK-41 alg none', { ...(await form()), client_assertion: none }],
      ['TOK-41 HS256 signed with the public key', { ...(await form({}, {}, rsaClient)), client_assertion: hs }],
      ['TOK-40 no kid', await form({ header: { kid: undefined } })],
      ['TOK-42 unknown kid', await form({ header: { kid: 'nobody' } })],
      ['TOK-42 wrong key for the kid', { ...(await form()), client_assertion: await signAssertion(foreign, client.clientId, url) }],
      ['TOK-42 RS384 under the kid of an EC key', { ...(await form()), client_assertion: await signAssertion(rsaUnderEcKid, client.clientId, url) }],
      ['TOK-42 two registered keys share the kid', { ...(await form()), client_assertion: await signAssertion(twin, twins.client_id, url) }],
      ['TOK-42 jku not registered', await form({ header: { jku: 'https://evil.example/jwks.json' } })],
      ['TOK-44 iss ≠ sub', await form({ iss: 'not_a_valid_iss' })],
      ['TOK-44 unknown client', await form({ iss: 'nobody', sub: 'nobody' })],
      ['TOK-22 client_id ≠ sub', await form({}, { client_id: 'someone-else' })],
      ['TOK-45 wrong aud', await form({ aud: `${server.origin}/auth/${tenant}/token` })],
      ['TOK-46 exp missing', await form({ expIn: Number.NEGATIVE_INFINITY })],
      ['TOK-46 exp more than 5 minutes (plus leeway) ahead', await form({ expIn: 300 + 61 + 5 })],
      ['TOK-46 exp in the past beyond the leeway', await form({ expIn: -90 })],
      ['TOK-47 jti missing', await form({ jti: null })],
      ['TOK-48 nbf in the future', await form({ nbf: now + 120 })],
      ['TOK-48 iat in the future', await form({ iat: now + 120 })],
      ['E5 client_assertion_type wrong', { ...(await form()), client_assertion_type: 'not_an_assertion_type' }],
    ];
    for (const [label, body] of cases) assertError(await requestToken(url, body), 400, 'invalid_client', label);
  });

  it('TOK-46, TOK-40: the edges that must pass — exp = now+300, exp within the leeway in the past, aud as an array, no typ', async () => {
    for (const [label, o] of [
      ['exp now+300', { expIn: 300 }],
      ['exp 30 s ago (leeway)', { expIn: -30 }],
      ['aud array', { aud: ['https://other.example', url] }],
      ['no typ', { header: { typ: undefined } }],
    ] as [string, Parameters<typeof signAssertion>[3]][]) {
      const r = await requestToken(url, await form(o));
      assert.equal(r.status, 200, `${label}: ${JSON.stringify(r.json)}`);
    }
  });

  it('TOK-47: a jti is accepted once only', async () => {
    const body = await form({ jti: uniqueId('jti') });
    assert.equal((await requestToken(url, body)).status, 200);
    assertError(await requestToken(url, body), 400, 'invalid_client', 'replay');
  });

  it('E1–E6, E12, TOK-20…TOK-23, TOK-63/64: the request-level error matrix', async () => {
    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal(get.headers.get('cache-control'), 'no-store');
    const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(await form()) });
    assertError({ status: json.status, headers: json.headers, json: await json.json() }, 400, 'invalid_request', 'E2 JSON body');
    const { grant_type: _g, ...noGrant } = await form();
    assertError(await requestToken(url, noGrant), 400, 'invalid_request', 'E3 grant_type missing');
    assertError(await requestToken(url, await form({}, { grant_type: 'not_a_grant_type' })), 400, 'unsupported_grant_type', 'E4');
    const { client_assertion: _a, ...noAssertion } = await form();
    assertError(await requestToken(url, noAssertion), 400, 'invalid_request', 'E6 client_assertion missing');
    const repeated = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `${new URLSearchParams(await form())}&scope=system%2F*.rs` });
    assertError({ status: repeated.status, headers: repeated.headers, json: await repeated.json() }, 400, 'invalid_request', 'TOK-23 repeated parameter');
    assertError(await requestToken(url, await form(), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 400, 'invalid_request', 'TOK-23 two methods');
    const { scope: _s, ...noScope } = await form();
    assertError(await requestToken(url, noScope), 400, 'invalid_scope', 'E12 scope missing');
    assertError(await requestToken(url, await form({}, { scope: 'patient/*.read user/*.rs launch openid' })), 400, 'invalid_scope', 'TOK-63 nothing grantable');
    assertError(await requestToken(url, await form({}, { scope: 'system/*.cud' })), 400, 'invalid_scope', 'TOK-62 beyond pre-authorization');
    const unknown = await requestToken(tokenUrlFor(server.origin, 'no-such-tenant'), await form());
    assert.equal(unknown.status, 404);
    assertNoStore(unknown);
  });

  it('TOK-60…TOK-66: granted = requested ∩ registered, answered in the syntax the client used; per-client and global lifetimes', async () => {
    const c = await registerKeyClient(server.db.pool, tenant, 'system/Patient.rs system/Observation.rs');
    const cases: [string, string][] = [
      ['system/*.read', 'system/Patient.read system/Observation.read'],
      ['system/*.rs', 'system/Patient.rs system/Observation.rs'],
      ['system/Patient.r launch patient/*.read', 'system/Patient.r'],
      ['system/*.cruds', 'system/Patient.rs system/Observation.rs'],
      ['system/Observation.rs?category=laboratory', 'system/Observation.rs?category=laboratory'],
    ];
    for (const [requested, granted] of cases) {
      const r = await requestToken(url, await form({}, { scope: requested }, c));
      assert.equal(r.status, 200, requested);
      assert.equal(r.json.scope, granted, requested);
    }
    const long = await makeKeyPair('ES384');
    const { client_id } = await addClient(server.db.pool, { tenant, name: 'batch', jwks: { keys: [long.publicJwk] }, scope: 'system/*.rs', tokenTtl: 3600 });
    assert.equal((await requestToken(url, await form({}, {}, { clientId: client_id, key: long }))).json.expires_in, 3600);
    const short = await startServer({ accessTokenTtl: 120 });
    try {
      const shortUrl = tokenUrlFor(short.origin, tenant);
      const r = await requestToken(shortUrl, {
        grant_type: 'client_credentials',
        scope: 'system/*.rs',
        client_assertion_type: JWT_BEARER,
        client_assertion: await signAssertion(client.key, client.clientId, shortUrl),
      });
      assert.equal(r.json.expires_in, 120);
    } finally {
      await short.close();
    }
  });

  it('TOK-50…TOK-53: client secrets by Basic and form post; wrong secrets refused; rotation; stored only hashed', async () => {
    const { client_id, client_secret } = await addClient(server.db.pool, { tenant, name: 'secret', secret: true, scope: 'system/*.rs' });
    const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}` });
    const grant = { grant_type: 'client_credentials', scope: 'system/*.rs' };
    assert.equal((await requestToken(url, grant, basic(client_id, client_secret!))).status, 200);
    assert.equal((await requestToken(url, { ...grant, client_id, client_secret: client_secret! })).status, 200);
    const wrongBasic = await requestToken(url, grant, basic(client_id, 'wrong'));
    assertError(wrongBasic, 401, 'invalid_client', 'E10 Basic');
    assert.equal(wrongBasic.headers.get('www-authenticate'), `Basic realm="${url}"`);
    assertError(await requestToken(url, { ...grant, client_id, client_secret: 'wrong' }), 400, 'invalid_client', 'post');
    assertError(await requestToken(`${url}?client_secret=${client_secret}`, { ...grant, client_id }), 400, 'invalid_request', 'TOK-51 secret in the query');
    const stored = (await server.db.pool.query('SELECT secret_hash FROM client WHERE tenant = $1 AND client_id = $2', [tenant, client_id])).rows[0].secret_hash as string;
    assert.match(stored, /^scrypt\$/);
    assert.ok(!stored.includes(client_secret!));
    const rotated = await rotateSecret(server.db.pool, tenant, client_id);
    assertError(await requestToken(url, grant, basic(client_id, client_secret!)), 401, 'invalid_client', 'old secret after rotation');
    assert.equal((await requestToken(url, grant, basic(client_id, rotated))).status, 200);
  });

  it('TOK-30…TOK-32, TOK-42: a JWKS URL client — fetched, kid rotation picked up without re-registration, jku only when registered', async () => {
    let jwks: { keys: object[] } = { keys: [] };
    let fetches = 0;
    const jwksServer = http.createServer((req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
    try {
      const first = await makeKeyPair('RS384');
      const { privateKey } = await generateKeyPair('ES384', { extractable: true });
      jwks = { keys: [first.publicJwk, { ...(await exportJWK(privateKey)), kid: 'private-one' }] };
      const { client_id } = await addClient(server.db.pool, { tenant, name: 'jwks url', jwksUrl, scope: 'system/*.rs' });
      const c = { clientId: client_id, key: first };
      assert.equal((await requestToken(url, await form({}, {}, c))).status, 200);
      assert.equal((await requestToken(url, await form({ header: { jku: jwksUrl } }, {}, c))).status, 200);
      assertError(await requestToken(url, await form({ header: { jku: `${jwksUrl}?other` } }, {}, c)), 400, 'invalid_client', 'jku ≠ registered');
      const cachedFetches = fetches;
      assert.equal((await requestToken(url, await form({}, {}, c))).status, 200);
      assert.equal(fetches, cachedFetches, 'TOK-32: cached per Cache-Control');
      // Rotation: the client publishes a new key under a new kid and drops the old one.
      const second = await makeKeyPair('ES384');
      jwks = { keys: [second.publicJwk] };
      assert.equal((await requestToken(url, await form({}, {}, { clientId: client_id, key: second }))).status, 200, 'new kid picked up');
      assert.ok(fetches > cachedFetches);
      assertError(await requestToken(url, await form({}, {}, c)), 400, 'invalid_client', 'the dropped key no longer works');
      // A private key published by mistake is never used to verify (TOK-31).
      assertError(await requestToken(url, await form({ header: { kid: 'private-one' } }, {}, { clientId: client_id, key: second })), 400, 'invalid_client', 'private JWK ignored');
    } finally {
      jwksServer.close();
    }
  });
});
