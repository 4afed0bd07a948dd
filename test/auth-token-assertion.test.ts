// private_key_jwt client assertions (TOK-40…TOK-49) and the success response (TOK-70…TOK-74):
// real keys, real signatures, one case per check; every failure is 400 invalid_client.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { addClient, disableClient } from '../src/auth/clients.js';
import { makeKeyPair, registerKeyClient, requestToken, signAssertion, tokenUrlFor, type KeyPair } from './helpers/auth.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';
import { JWT_BEARER, assertOAuthError, assertTokenResponse } from './helpers/token-asserts.js';

const ALGORITHMS = ['RS384', 'ES384', 'RS256', 'RS512', 'ES256', 'ES512', 'PS256', 'PS384', 'PS512'] as const;
type Client = { clientId: string; key: KeyPair };

describe('token endpoint: private_key_jwt assertions', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let url: string;
  let client: Client;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('tokjwt'));
    url = tokenUrlFor(server.origin, tenant);
    client = await registerKeyClient(server.db.pool, tenant, 'system/*.rs', 'ES384');
  });
  after(() => server.close());

  const formWith = (assertion: string, extra: Record<string, string> = {}) => ({
    grant_type: 'client_credentials',
    scope: 'system/*.rs',
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion,
    ...extra,
  });
  const send = async (o: Parameters<typeof signAssertion>[3] = {}, c: Client = client, extra: Record<string, string> = {}) =>
    requestToken(url, formWith(await signAssertion(c.key, c.clientId, url, o), extra));
  const rejected = async (label: string, r: Promise<Awaited<ReturnType<typeof requestToken>>>) => assertOAuthError(await r, 400, 'invalid_client', label);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = () => Math.floor(Date.now() / 1000);

  for (const alg of ALGORITHMS) {
    it(`TOK-41, TOK-43, TOK-70…TOK-74: ${alg} assertion → 200 bearer token, no-store, number expires_in, no refresh_token`, async () => {
      const c = await registerKeyClient(server.db.pool, tenant, 'system/*.rs', alg);
      const r = await send({}, c);
      assertTokenResponse(r, alg);
      assert.equal(r.json.token_type, 'bearer');
      assert.equal(r.json.expires_in, 300, 'default lifetime (TOK-73)');
      assert.equal(r.json.scope, 'system/*.rs');
      // TOK-75: the token really works on the FHIR API.
      const read = await http(`${base}/metadata`, { headers: { authorization: `Bearer ${r.json.access_token}` } });
      assert.equal(read.status, 200);
      const search = await http(`${base}/Patient`, { headers: { authorization: `Bearer ${r.json.access_token}` } });
      assert.equal(search.status, 200, `${alg}: ${search.text}`);
    });
  }

  it('TOK-40: a client_assertion that is not a JWT → invalid_client', async () => {
    await rejected('not a JWT', requestToken(url, formWith('not-a-jwt')));
    await rejected('two parts', requestToken(url, formWith(`${b64({ alg: 'ES384', kid: client.key.kid })}.${b64({ iss: client.clientId })}`)));
    await rejected('garbage base64', requestToken(url, formWith('@@@.###.$$$')));
  });

  it('TOK-41: an unsigned alg=none JWT → invalid_client', async () => {
    const t = now();
    const none = `${b64({ alg: 'none', typ: 'JWT', kid: client.key.kid })}.${b64({ iss: client.clientId, sub: client.clientId, aud: url, exp: t + 200, jti: crypto.randomUUID() })}.`;
    await rejected('alg none', requestToken(url, formWith(none)));
  });

  it('TOK-41: HS256 signed with the public key bytes (algorithm confusion) → invalid_client', async () => {
    const rsa = await registerKeyClient(server.db.pool, tenant, 'system/*.rs', 'RS384');
    const pem = JSON.stringify(rsa.key.publicJwk);
    for (const secret of [pem, rsa.key.publicJwk.n as string]) {
      const hs = await new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: rsa.key.kid })
        .setIssuer(rsa.clientId)
        .setSubject(rsa.clientId)
        .setAudience(url)
        .setExpirationTime(now() + 200)
        .sign(new TextEncoder().encode(secret));
      await rejected('HS256', requestToken(url, formWith(hs)));
    }
  });

  it('TOK-40: no kid in the header → invalid_client', async () => {
    await rejected('missing kid', send({ header: { kid: undefined } }));
  });

  it('TOK-42: an unknown kid → invalid_client', async () => {
    await rejected('unknown kid', send({ header: { kid: 'no-such-kid' } }));
  });

  it('TOK-42: a signature by another key under the registered kid → invalid_client', async () => {
    const impostor = await makeKeyPair('ES384', client.key.kid);
    await rejected('wrong key', requestToken(url, formWith(await signAssertion(impostor, client.clientId, url))));
  });

  it('TOK-42: RS384 under the kid of a registered EC key (kty mismatch) → invalid_client', async () => {
    const rsa = await makeKeyPair('RS384', client.key.kid);
    await rejected('kty mismatch', requestToken(url, formWith(await signAssertion(rsa, client.clientId, url))));
  });

  it('TOK-42: two registered keys with the same kid (ambiguous) → invalid_client, even with a valid signature', async () => {
    const a = await makeKeyPair('ES384');
    const b = await makeKeyPair('ES384', a.kid);
    const { client_id } = await addClient(server.db.pool, { tenant, name: 'twin kids', jwks: { keys: [a.publicJwk, b.publicJwk] }, scope: 'system/*.rs' });
    await rejected('ambiguous kid, key a', requestToken(url, formWith(await signAssertion(a, client_id, url))));
    await rejected('ambiguous kid, key b', requestToken(url, formWith(await signAssertion(b, client_id, url))));
    // Control: the same key alone under that kid works.
    const { client_id: single } = await addClient(server.db.pool, { tenant, name: 'single kid', jwks: { keys: [a.publicJwk] }, scope: 'system/*.rs' });
    assertTokenResponse(await requestToken(url, formWith(await signAssertion(a, single, url))), 'single key');
  });

  it('TOK-44, P3: iss ≠ sub (g10 sends iss=not_a_valid_iss) → invalid_client', async () => {
    await rejected('iss ≠ sub', send({ iss: 'not_a_valid_iss' }));
    await rejected('sub ≠ iss', send({ sub: 'not_a_valid_sub' }));
  });

  it('TOK-44: an unknown client (iss = sub = unregistered id) → invalid_client', async () => {
    await rejected('unknown client', send({ iss: 'nobody', sub: 'nobody' }));
    await rejected('unknown uuid client', send({ iss: '00000000-0000-4000-8000-000000000000', sub: '00000000-0000-4000-8000-000000000000' }));
  });

  it('TOK-22, TOK-44: a client_id form parameter ≠ sub → invalid_client; equal → accepted', async () => {
    const other = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
    await rejected('client_id ≠ sub', send({}, client, { client_id: other.clientId }));
    assertTokenResponse(await send({}, client, { client_id: client.clientId }), 'client_id = sub');
  });

  it('TOK-45, P4: an aud other than the advertised token URL → invalid_client', async () => {
    for (const aud of [`${server.origin}/auth/${tenant}/token`, `${url}/`, url.replace('http://', 'https://'), base, 'https://elsewhere.example/token']) {
      await rejected(`aud ${aud}`, send({ aud }));
    }
  });

  it('TOK-45: aud as an array containing the token URL is accepted', async () => {
    assertTokenResponse(await send({ aud: ['https://other.example/token', url] }), 'aud array');
    await rejected('aud array without the token URL', send({ aud: ['https://other.example/token', base] }));
  });

  it('TOK-46: exp missing → invalid_client', async () => {
    await rejected('no exp', send({ expIn: Number.NEGATIVE_INFINITY }));
  });

  it('TOK-46, P5: exp = now + 300 s exactly (as Inferno sends) is accepted', async () => {
    assertTokenResponse(await send({ expIn: 300 }), 'exp now+300');
  });

  it('TOK-46: exp beyond now + 300 s + 60 s leeway → invalid_client', async () => {
    // now+300+61 is the first rejected second; +2 more keeps the case valid if the server's
    // clock reads a second or two later than the signer's.
    await rejected('exp now+300+61(+2)', send({ expIn: 300 + 61 + 2 }));
    await rejected('exp an hour ahead', send({ expIn: 3600 }));
  });

  it('TOK-46, P5: exp 30 s in the past is accepted (leeway); 90 s in the past is rejected', async () => {
    assertTokenResponse(await send({ expIn: -30 }), 'exp −30 s');
    await rejected('exp −90 s', send({ expIn: -90 }));
  });

  it('TOK-48: iat in the future beyond the leeway → invalid_client; iat now is fine', async () => {
    await rejected('iat now+120', send({ iat: now() + 120 }));
    assertTokenResponse(await send({ iat: now() }), 'iat now');
  });

  it('TOK-48: nbf in the future (beyond leeway) → invalid_client; nbf in the past is fine', async () => {
    await rejected('nbf now+120', send({ nbf: now() + 120 }));
    assertTokenResponse(await send({ nbf: now() - 10 }), 'nbf past');
  });

  it('TOK-47: jti missing → invalid_client', async () => {
    await rejected('no jti', send({ jti: null }));
    await rejected('empty jti', send({ jti: '' }));
  });

  it('TOK-47: a replayed assertion (same jti) is refused the second time', async () => {
    const assertion = await signAssertion(client.key, client.clientId, url);
    assertTokenResponse(await requestToken(url, formWith(assertion)), 'first use');
    await rejected('replay', requestToken(url, formWith(assertion)));
    // The same jti in a freshly signed assertion is a replay too.
    const jti = crypto.randomUUID();
    assertTokenResponse(await send({ jti }), 'first jti');
    await rejected('same jti, new signature', send({ jti }));
    // …but another client may use the same jti string.
    const other = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
    assertTokenResponse(await send({ jti }, other), 'other client, same jti');
  });

  it('TOK-40: typ absent is accepted; typ "jwt" in another case is tolerated', async () => {
    assertTokenResponse(await send({ header: { typ: undefined } }), 'no typ');
    assertTokenResponse(await send({ header: { typ: 'jwt' } }), 'typ jwt');
  });

  it('TOK-42: jku not registered for an inline-JWKS client → invalid_client', async () => {
    await rejected('jku', send({ header: { jku: 'https://evil.example/jwks.json' } }));
  });

  it('TOK-44, TOK-30: a disabled client\'s assertion → invalid_client', async () => {
    const c = await registerKeyClient(server.db.pool, tenant, 'system/*.rs', 'RS384');
    assertTokenResponse(await send({}, c), 'before disabling');
    await disableClient(server.db.pool, tenant, c.clientId);
    await rejected('disabled', send({}, c));
  });

  it('TOK-49: assertion failures never answer invalid_grant or 401', async () => {
    for (const r of [await send({ iss: 'x' }), await send({ aud: 'https://x.example' }), await send({ expIn: -600 })]) {
      assert.equal(r.status, 400);
      assert.equal(r.json.error, 'invalid_client');
      assert.equal(r.headers.get('www-authenticate'), null);
    }
  });
});
