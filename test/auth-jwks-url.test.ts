// Clients registered with a JWKS URL (TOK-30…TOK-32, TOK-42): keys fetched from a real local
// HTTP server, rotation without re-registration, jku handling, an unreachable JWKS, private
// keys ignored, Cache-Control honoured.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import nodeHttp from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { addClient } from '../src/auth/clients.js';
import { makeKeyPair, requestToken, signAssertion, tokenUrlFor, type KeyPair } from './helpers/auth.js';
import { freePort, startServer, type TestServer } from './helpers/server.js';
import { JWT_BEARER, assertOAuthError, assertTokenResponse } from './helpers/token-asserts.js';

interface Served {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

describe('token endpoint: JWKS URL clients', () => {
  let server: TestServer;
  let tenant: string;
  let url: string;
  let jwksServer: nodeHttp.Server;
  let jwksOrigin: string;
  const routes = new Map<string, Served>();
  const hits = new Map<string, { count: number; accept: string[] }>();

  before(async () => {
    jwksServer = nodeHttp.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const h = hits.get(path) ?? { count: 0, accept: [] };
      h.count++;
      h.accept.push(String(req.headers.accept ?? ''));
      hits.set(path, h);
      const r = routes.get(path);
      if (!r || req.method !== 'GET') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(r.status, { 'content-type': 'application/json', ...(r.headers ?? {}) }).end(JSON.stringify(r.body));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksOrigin = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    server = await startServer();
    ({ tenant } = await server.newTenant('tokjku'));
    url = tokenUrlFor(server.origin, tenant);
  });
  after(async () => {
    await server.close();
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  });

  /** Serves `keys` at a fresh path and registers a client with that URL. */
  async function urlClient(keys: Record<string, unknown>[], headers?: Record<string, string>): Promise<{ clientId: string; jwksUrl: string; path: string }> {
    const path = `/${crypto.randomUUID()}/jwks.json`;
    routes.set(path, { status: 200, body: { keys }, headers });
    const jwksUrl = `${jwksOrigin}${path}`;
    const { client_id } = await addClient(server.db.pool, { tenant, name: 'jwks url client', jwksUrl, scope: 'system/*.rs' });
    return { clientId: client_id, jwksUrl, path };
  }
  const ask = async (key: KeyPair, clientId: string, o: Parameters<typeof signAssertion>[3] = {}) =>
    requestToken(url, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: await signAssertion(key, clientId, url, o) });

  it('TOK-30, TOK-32: a client registered with a JWKS URL gets a token; the fetch is a GET with Accept: application/json', async () => {
    const key = await makeKeyPair('ES384');
    const c = await urlClient([key.publicJwk]);
    assertTokenResponse(await ask(key, c.clientId), 'jwks url');
    const h = hits.get(c.path)!;
    assert.ok(h.count >= 1);
    assert.ok(h.accept.every((a) => a.includes('application/json')), h.accept.join(' | '));
  });

  it('TOK-30: RS384 keys from a JWKS URL work too, beside other keys', async () => {
    const rsa = await makeKeyPair('RS384');
    const other = await makeKeyPair('ES256');
    const c = await urlClient([other.publicJwk, rsa.publicJwk]);
    assertTokenResponse(await ask(rsa, c.clientId), 'rs384');
    assertTokenResponse(await ask(other, c.clientId), 'es256');
  });

  it('TOK-32, TOK-42: key rotation — a new key with a new kid is accepted without re-registration', async () => {
    const oldKey = await makeKeyPair('ES384');
    const c = await urlClient([oldKey.publicJwk], { 'cache-control': 'max-age=300' });
    assertTokenResponse(await ask(oldKey, c.clientId), 'old key');
    const newKey = await makeKeyPair('ES384');
    routes.set(c.path, { status: 200, body: { keys: [newKey.publicJwk] }, headers: { 'cache-control': 'max-age=300' } });
    assertTokenResponse(await ask(newKey, c.clientId), 'rotated key, unknown kid forces a re-fetch');
    assert.ok(hits.get(c.path)!.count >= 2, 'the JWKS was fetched again');
  });

  it('TOK-32: a cached JWKS (max-age) is reused for a known kid', async () => {
    const key = await makeKeyPair('ES384');
    const c = await urlClient([key.publicJwk], { 'cache-control': 'max-age=300' });
    assertTokenResponse(await ask(key, c.clientId), 'first');
    const after1 = hits.get(c.path)!.count;
    assertTokenResponse(await ask(key, c.clientId), 'second');
    assert.equal(hits.get(c.path)!.count, after1, 'no second fetch within max-age');
  });

  it('TOK-32: Cache-Control: no-store is honoured — a key removed from the JWKS stops working', async () => {
    const key = await makeKeyPair('ES384');
    const other = await makeKeyPair('ES384');
    const c = await urlClient([key.publicJwk, other.publicJwk], { 'cache-control': 'no-store' });
    assertTokenResponse(await ask(key, c.clientId), 'before removal');
    routes.set(c.path, { status: 200, body: { keys: [other.publicJwk] }, headers: { 'cache-control': 'no-store' } });
    assertOAuthError(await ask(key, c.clientId), 400, 'invalid_client', 'removed key');
    assertTokenResponse(await ask(other, c.clientId), 'remaining key');
  });

  it('TOK-42: jku equal to the registered JWKS URL is accepted', async () => {
    const key = await makeKeyPair('ES384');
    const c = await urlClient([key.publicJwk]);
    assertTokenResponse(await ask(key, c.clientId, { header: { jku: c.jwksUrl } }), 'jku = registered');
  });

  it('TOK-42: any other jku → invalid_client, even one serving the right key', async () => {
    const key = await makeKeyPair('ES384');
    const c = await urlClient([key.publicJwk]);
    const elsewhere = `/${crypto.randomUUID()}/jwks.json`;
    routes.set(elsewhere, { status: 200, body: { keys: [key.publicJwk] } });
    for (const jku of [`${jwksOrigin}${elsewhere}`, `${c.jwksUrl}?x=1`, c.jwksUrl.replace('127.0.0.1', 'localhost'), 'https://evil.example/jwks.json']) {
      assertOAuthError(await ask(key, c.clientId, { header: { jku } }), 400, 'invalid_client', `jku ${jku}`);
    }
    assert.equal(hits.get(elsewhere), undefined, 'an unregistered jku is never dereferenced');
  });

  it('TOK-32, E7: the JWKS server down → invalid_client', async () => {
    const key = await makeKeyPair('ES384');
    const port = await freePort(); // nothing listens here
    const { client_id } = await addClient(server.db.pool, { tenant, name: 'dead jwks', jwksUrl: `http://127.0.0.1:${port}/jwks.json`, scope: 'system/*.rs' });
    assertOAuthError(await ask(key, client_id), 400, 'invalid_client', 'connection refused');
  });

  it('TOK-32, E7: a JWKS URL answering 500, non-JSON or without keys → invalid_client', async () => {
    const key = await makeKeyPair('ES384');
    for (const served of [
      { status: 500, body: { error: 'boom' } },
      { status: 200, body: 'not json at all' },
      { status: 200, body: { notKeys: [] } },
    ] as Served[]) {
      const c = await urlClient([]);
      routes.set(c.path, served);
      const r = await ask(key, c.clientId);
      assertOAuthError(r, 400, 'invalid_client', JSON.stringify(served));
    }
  });

  it('TOK-31: private keys (d) in the JWKS are ignored', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const kid = crypto.randomUUID();
    const key: KeyPair = { kid, alg: 'ES384', privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES384' } };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES384' };
    assert.ok('d' in privateJwk);
    // Only the private JWK served: it is not a usable verification key.
    const only = await urlClient([privateJwk]);
    assertOAuthError(await ask(key, only.clientId), 400, 'invalid_client', 'private key only');
    // Private and public under one kid: the private one is skipped, so the kid is not ambiguous.
    const both = await urlClient([privateJwk, key.publicJwk]);
    assertTokenResponse(await ask(key, both.clientId), 'private key ignored beside the public one');
  });

  it('TOK-31: keys whose key_ops exclude verify, or use ≠ sig, are ignored; unknown members are tolerated', async () => {
    const key = await makeKeyPair('ES384');
    const noVerify = await urlClient([{ ...key.publicJwk, key_ops: ['encrypt'] }]);
    assertOAuthError(await ask(key, noVerify.clientId), 400, 'invalid_client', 'key_ops without verify');
    const enc = await urlClient([{ ...key.publicJwk, use: 'enc', key_ops: undefined }]);
    assertOAuthError(await ask(key, enc.clientId), 400, 'invalid_client', 'use enc');
    const extras = await urlClient([{ ...key.publicJwk, x5t: 'ignored', custom: { a: 1 }, ext: true }]);
    assertTokenResponse(await ask(key, extras.clientId), 'extra members');
  });

  it('TOK-42: a JWK alg different from the header alg is not a match', async () => {
    const key = await makeKeyPair('RS384');
    const c = await urlClient([{ ...key.publicJwk, alg: 'RS256' }]);
    assertOAuthError(await ask(key, c.clientId), 400, 'invalid_client', 'jwk alg RS256, header RS384');
  });
});
