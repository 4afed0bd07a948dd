// The token endpoint error matrix E1–E13 (checklist §1.7), table-driven: status, error code,
// and the shape every error shares — {error, error_description}, application/json, no-store,
// no-cache, and no stack or SQL text.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerKeyClient, signAssertion, tokenUrlFor, type KeyPair } from './helpers/auth.js';
import { startServer, type TestServer } from './helpers/server.js';
import { JWT_BEARER, assertNoStore, assertOAuthError, type TokenResult } from './helpers/token-asserts.js';

interface Raw {
  method?: string;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  url?: string;
}

describe('token endpoint error matrix', () => {
  let server: TestServer;
  let tenant: string;
  let url: string;
  let client: { clientId: string; key: KeyPair };
  before(async () => {
    server = await startServer();
    ({ tenant } = await server.newTenant('tokerr'));
    url = tokenUrlFor(server.origin, tenant);
    client = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
  });
  after(() => server.close());

  async function raw(r: Raw): Promise<TokenResult & { text: string }> {
    const headers: Record<string, string> = { accept: 'application/json', ...(r.headers ?? {}) };
    if (r.contentType !== undefined) headers['content-type'] = r.contentType;
    const res = await fetch(r.url ?? url, { method: r.method ?? 'POST', headers, body: r.body });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  }
  /** A valid form (fresh assertion each time) with fields replaced or removed (undefined). */
  async function form(changes: Record<string, string | undefined> = {}): Promise<URLSearchParams> {
    const f: Record<string, string | undefined> = {
      grant_type: 'client_credentials',
      scope: 'system/*.rs',
      client_assertion_type: JWT_BEARER,
      client_assertion: await signAssertion(client.key, client.clientId, url),
      ...changes,
    };
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v !== undefined) p.append(k, v);
    return p;
  }
  const FORM = 'application/x-www-form-urlencoded';

  it('control: the unchanged form gets a token (so every failure below is caused by its one change)', async () => {
    const r = await raw({ body: (await form()).toString(), contentType: FORM });
    assert.equal(r.status, 200, r.text);
    assertNoStore(r, 'control');
  });

  it('TOK-20: the form content type is matched with parameters and in any case', async () => {
    for (const contentType of ['application/x-www-form-urlencoded; charset=UTF-8', 'Application/X-WWW-Form-Urlencoded']) {
      const r = await raw({ body: (await form()).toString(), contentType });
      assert.equal(r.status, 200, `${contentType}: ${r.text}`);
    }
  });

  it('E1, TOK-20: GET (and other non-POST methods) on the token URL → 405 with Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const r = await raw({ method, body: method === 'GET' || method === 'DELETE' ? undefined : (await form()).toString(), contentType: method === 'GET' || method === 'DELETE' ? undefined : FORM });
      assert.equal(r.status, 405, `${method}: ${r.text}`);
      assert.match(r.headers.get('allow') ?? '', /\bPOST\b/, method);
      assertOAuthError(r, 405, 'invalid_request', method);
    }
  });

  const table: { id: string; label: string; status: number; error: string; request: () => Promise<Raw> }[] = [
    { id: 'E2, TOK-20', label: 'JSON body', status: 400, error: 'invalid_request', request: async () => ({ body: JSON.stringify(Object.fromEntries(await form())), contentType: 'application/json' }) },
    { id: 'E2, TOK-20', label: 'text/plain body', status: 400, error: 'invalid_request', request: async () => ({ body: (await form()).toString(), contentType: 'text/plain' }) },
    { id: 'E2, TOK-20', label: 'no body and no content type', status: 400, error: 'invalid_request', request: async () => ({}) },
    { id: 'E3, TOK-21', label: 'grant_type missing', status: 400, error: 'invalid_request', request: async () => ({ body: (await form({ grant_type: undefined })).toString(), contentType: FORM }) },
    { id: 'E4, TOK-21', label: 'grant_type=not_a_grant_type with a valid assertion', status: 400, error: 'unsupported_grant_type', request: async () => ({ body: (await form({ grant_type: 'not_a_grant_type' })).toString(), contentType: FORM }) },
    { id: 'E4, TOK-21', label: 'grant_type=authorization_code', status: 400, error: 'unsupported_grant_type', request: async () => ({ body: (await form({ grant_type: 'authorization_code' })).toString(), contentType: FORM }) },
    { id: 'E5, P2', label: 'client_assertion_type=not_an_assertion_type', status: 400, error: 'invalid_client', request: async () => ({ body: (await form({ client_assertion_type: 'not_an_assertion_type' })).toString(), contentType: FORM }) },
    { id: 'E6, TOK-21', label: 'client_assertion missing', status: 400, error: 'invalid_request', request: async () => ({ body: (await form({ client_assertion: undefined })).toString(), contentType: FORM }) },
    { id: 'E6, TOK-21', label: 'no client authentication at all', status: 400, error: 'invalid_request', request: async () => ({ body: (await form({ client_assertion: undefined, client_assertion_type: undefined })).toString(), contentType: FORM }) },
    {
      id: 'TOK-23', label: 'repeated scope parameter', status: 400, error: 'invalid_request',
      request: async () => { const f = await form(); f.append('scope', 'system/*.rs'); return { body: f.toString(), contentType: FORM }; },
    },
    {
      id: 'TOK-23', label: 'repeated client_assertion parameter', status: 400, error: 'invalid_request',
      request: async () => { const f = await form(); f.append('client_assertion', await signAssertion(client.key, client.clientId, url)); return { body: f.toString(), contentType: FORM }; },
    },
    {
      id: 'TOK-23', label: 'assertion and Basic credentials at once', status: 400, error: 'invalid_request',
      request: async () => ({ body: (await form()).toString(), contentType: FORM, headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:secret`).toString('base64')}` } }),
    },
    { id: 'TOK-23', label: 'assertion and client_secret at once', status: 400, error: 'invalid_request', request: async () => ({ body: (await form({ client_secret: 'x', client_id: client.clientId })).toString(), contentType: FORM }) },
    { id: 'E7', label: 'malformed assertion', status: 400, error: 'invalid_client', request: async () => ({ body: (await form({ client_assertion: 'a.b.c' })).toString(), contentType: FORM }) },
    { id: 'E8', label: 'iss ≠ sub', status: 400, error: 'invalid_client', request: async () => ({ body: (await form({ client_assertion: await signAssertion(client.key, client.clientId, url, { iss: 'not_a_valid_iss' }) })).toString(), contentType: FORM }) },
    { id: 'E9', label: 'wrong aud', status: 400, error: 'invalid_client', request: async () => ({ body: (await form({ client_assertion: await signAssertion(client.key, client.clientId, url, { aud: 'https://x.example/token' }) })).toString(), contentType: FORM }) },
    { id: 'E12, TOK-64', label: 'scope missing', status: 400, error: 'invalid_scope', request: async () => ({ body: (await form({ scope: undefined })).toString(), contentType: FORM }) },
    { id: 'E12, TOK-64', label: 'scope blank', status: 400, error: 'invalid_scope', request: async () => ({ body: (await form({ scope: '   ' })).toString(), contentType: FORM }) },
    { id: 'E12, TOK-63', label: 'nothing grantable: only patient/*.read', status: 400, error: 'invalid_scope', request: async () => ({ body: (await form({ scope: 'patient/*.read' })).toString(), contentType: FORM }) },
    { id: 'E12, TOK-62', label: 'nothing grantable: write on a read client', status: 400, error: 'invalid_scope', request: async () => ({ body: (await form({ scope: 'system/*.cud' })).toString(), contentType: FORM }) },
    { id: 'E12, TOK-61', label: 'nothing grantable: malformed scopes', status: 400, error: 'invalid_scope', request: async () => ({ body: (await form({ scope: 'system/*.sr openid' })).toString(), contentType: FORM }) },
    { id: 'TOK-01', label: 'unknown tenant', status: 404, error: 'invalid_request', request: async () => ({ url: tokenUrlFor(server.origin, `${tenant}-missing`), body: (await form()).toString(), contentType: FORM }) },
  ];

  for (const c of table) {
    it(`${c.id}: ${c.label} → ${c.status} ${c.error}`, async () => {
      const r = await raw(await c.request());
      assertOAuthError(r, c.status, c.error, c.label);
      assert.equal(r.headers.get('www-authenticate'), null, 'only Basic failures carry a challenge');
    });
  }

  it('E4, P2: an unsupported grant_type is exactly 400 even without any client authentication', async () => {
    const r = await raw({ body: new URLSearchParams({ grant_type: 'not_a_grant_type', scope: 'system/*.rs' }).toString(), contentType: FORM });
    assertOAuthError(r, 400, 'unsupported_grant_type', 'no auth');
  });

  it('E2: an oversized or unparsable body is an OAuth JSON error, not a crash', async () => {
    const r = await raw({ body: `grant_type=client_credentials&scope=${'x'.repeat(2_000_000)}`, contentType: FORM });
    assert.ok(r.status === 400 || r.status === 413, `status ${r.status}`);
    assertOAuthError(r, r.status, 'invalid_request', 'oversized');
    const bad = await raw({ body: '%E0%A4%A', contentType: FORM });
    assert.ok(bad.status === 400, `status ${bad.status}: ${bad.text}`);
    assertNoStore(bad, 'bad percent-encoding');
    assert.equal(typeof bad.json?.error, 'string');
  });

  it('E13 shape: error bodies have exactly error and error_description (error_uri optional)', async () => {
    const r = await raw({ body: (await form({ grant_type: undefined })).toString(), contentType: FORM });
    assert.deepEqual(Object.keys(r.json).filter((k) => k !== 'error_uri').sort(), ['error', 'error_description']);
  });
});
