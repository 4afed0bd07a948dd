// Client secret authentication (TOK-50…TOK-53): Basic and form post, failures (401 + Basic
// challenge for Basic, 400 for post), never in the query string, rotation, hashed storage.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addClient, disableClient, rotateSecret } from '../src/auth/clients.js';
import { registerKeyClient, requestToken, tokenUrlFor } from './helpers/auth.js';
import { startServer, type TestServer } from './helpers/server.js';
import { assertOAuthError, assertTokenResponse } from './helpers/token-asserts.js';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('token endpoint: client secrets', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let url: string;
  let id: string;
  let secret: string;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('toksec'));
    url = tokenUrlFor(server.origin, tenant);
    const c = await addClient(server.db.pool, { tenant, name: 'secret client', secret: true, scope: 'system/*.rs' });
    id = c.client_id;
    secret = c.client_secret!;
  });
  after(() => server.close());

  const grant = { grant_type: 'client_credentials', scope: 'system/*.read' };

  it('TOK-50: client_secret_basic gets a token', async () => {
    const r = await requestToken(url, grant, { authorization: basic(id, secret) });
    assertTokenResponse(r, 'basic');
    assert.equal(r.json.scope, 'system/*.read');
  });

  it('TOK-51: client_secret_post gets a token', async () => {
    const r = await requestToken(url, { ...grant, client_id: id, client_secret: secret });
    assertTokenResponse(r, 'post');
  });

  it('TOK-52, E10: a wrong secret with Basic → 401, WWW-Authenticate: Basic realm=…, invalid_client', async () => {
    for (const [label, auth] of [
      ['wrong secret', basic(id, `${secret}x`)],
      ['unknown client', basic('nobody', secret)],
      ['empty secret', basic(id, '')],
    ]) {
      const r = await requestToken(url, grant, { authorization: auth });
      assertOAuthError(r, 401, 'invalid_client', label);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"/, label);
    }
  });

  it('TOK-52: a wrong secret with form post → 400 invalid_client', async () => {
    for (const [label, f] of [
      ['wrong secret', { client_id: id, client_secret: `${secret}x` }],
      ['unknown client', { client_id: 'nobody', client_secret: secret }],
    ] as const) {
      const r = await requestToken(url, { ...grant, ...f });
      assertOAuthError(r, 400, 'invalid_client', label);
    }
  });

  it('TOK-52: a key client cannot authenticate with a secret', async () => {
    const keyClient = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
    const r = await requestToken(url, grant, { authorization: basic(keyClient.clientId, 'anything') });
    assertOAuthError(r, 401, 'invalid_client', 'no secret registered');
  });

  it('TOK-51: secrets in the query string are refused, even when correct', async () => {
    const q = new URLSearchParams({ client_id: id, client_secret: secret });
    const r = await requestToken(`${url}?${q}`, { ...grant, client_id: id });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.ok(['invalid_request', 'invalid_client'].includes(r.json.error), r.json.error);
    assert.equal(r.json.access_token, undefined);
    const r2 = await requestToken(`${url}?client_secret=${encodeURIComponent(secret)}`, grant, { authorization: basic(id, secret) });
    assert.equal(r2.status, 400, 'a secret in the URL is refused even beside valid Basic credentials');
  });

  it('TOK-50…TOK-52: rotateSecret makes the old secret fail and the new one work', async () => {
    const c = await addClient(server.db.pool, { tenant, name: 'rotating', secret: true, scope: 'system/*.rs' });
    assertTokenResponse(await requestToken(url, grant, { authorization: basic(c.client_id, c.client_secret!) }), 'before rotation');
    const fresh = await rotateSecret(server.db.pool, tenant, c.client_id);
    assert.notEqual(fresh, c.client_secret);
    assertOAuthError(await requestToken(url, grant, { authorization: basic(c.client_id, c.client_secret!) }), 401, 'invalid_client', 'old secret (basic)');
    assertOAuthError(await requestToken(url, { ...grant, client_id: c.client_id, client_secret: c.client_secret! }), 400, 'invalid_client', 'old secret (post)');
    assertTokenResponse(await requestToken(url, grant, { authorization: basic(c.client_id, fresh) }), 'new secret (basic)');
    assertTokenResponse(await requestToken(url, { ...grant, client_id: c.client_id, client_secret: fresh }), 'new secret (post)');
  });

  it('TOK-52: the client table stores only an scrypt$ hash, never the plaintext secret', async () => {
    const { rows } = await server.db.pool.query('SELECT * FROM client WHERE tenant = $1 AND client_id = $2', [tenant, id]);
    assert.equal(rows.length, 1);
    assert.match(rows[0].secret_hash, /^scrypt\$/);
    assert.ok(!rows[0].secret_hash.includes(secret));
    const everything = JSON.stringify(rows[0]);
    assert.ok(!everything.includes(secret), 'plaintext secret found in the client row');
    const { rows: any } = await server.db.pool.query("SELECT count(*)::int AS n FROM client WHERE tenant = $1 AND row_to_json(client)::text LIKE '%' || $2 || '%'", [tenant, secret]);
    assert.equal(any[0].n, 0);
  });

  it('TOK-52: a disabled secret client is refused', async () => {
    const c = await addClient(server.db.pool, { tenant, name: 'to disable', secret: true, scope: 'system/*.rs' });
    assertTokenResponse(await requestToken(url, grant, { authorization: basic(c.client_id, c.client_secret!) }), 'before');
    await disableClient(server.db.pool, tenant, c.client_id);
    assertOAuthError(await requestToken(url, grant, { authorization: basic(c.client_id, c.client_secret!) }), 401, 'invalid_client', 'disabled basic');
    assertOAuthError(await requestToken(url, { ...grant, client_id: c.client_id, client_secret: c.client_secret! }), 400, 'invalid_client', 'disabled post');
  });

  it('TOK-53: discovery advertises the symmetric capability and both secret methods', async () => {
    const r = await fetch(`${base}/.well-known/smart-configuration`);
    assert.equal(r.status, 200);
    const doc = (await r.json()) as any;
    assert.ok(doc.capabilities.includes('client-confidential-symmetric'));
    assert.ok(doc.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    assert.ok(doc.token_endpoint_auth_methods_supported.includes('client_secret_post'));
  });
});
