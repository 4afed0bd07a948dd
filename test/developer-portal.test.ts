/**
 * The partner developer portal (issue 14 §8): a public page per tenant with the endpoints,
 * algorithms, scopes and a step-by-step guide, and Postman v2.1 collection and environment
 * files whose URLs are the tenant's real endpoints.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ASSERTION_ALGORITHMS } from '../src/auth/client-assertion.js';
import { fhirBase, tokenUrl } from '../src/http/urls.js';
import { COLLECTION_SCHEMA } from '../src/portal/postman.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('partner developer portal', () => {
  let server: TestServer;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ tenant } = await server.newTenant('portal'));
  });
  after(async () => server.close());

  it('serves a public page per tenant with endpoints, algorithms, scopes, the guide and the Postman links', async () => {
    const res = await fetch(`${server.origin}/developers/${tenant}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await res.text();
    assert.ok(html.includes(fhirBase(server.origin, tenant)));
    assert.ok(html.includes(tokenUrl(server.origin, tenant)));
    for (const alg of ASSERTION_ALGORITHMS) assert.ok(html.includes(`<li>${alg}</li>`));
    assert.ok(html.includes('system/*.rs'));
    assert.ok(html.includes('npx payer-fhir token --token-url'));
    assert.ok(html.includes('client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer'));
    assert.ok(html.includes(`/developers/${tenant}/postman-collection.json`));
    assert.ok(html.includes('/.well-known/smart-configuration'));
    assert.ok(!/<script|style=/.test(html), 'no script, no inline style');
    const css = await fetch(`${server.origin}/developers/portal.css`);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
  });

  it('an unknown tenant is a 404 page that shows the name as text', async () => {
    const res = await fetch(`${server.origin}/developers/${encodeURIComponent('<script>x')}`);
    assert.equal(res.status, 404);
    const html = await res.text();
    assert.ok(!html.includes('<script>'));
    assert.ok(html.includes('&lt;script&gt;x'));
  });

  it('the Postman collection (v2.1): token by signed assertion, read and search, export kick-off, poll and download', async () => {
    const res = await fetch(`${server.origin}/developers/${tenant}/postman-collection.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="payer-fhir-.*\.postman_collection\.json"/);
    const c = await res.json();
    assert.equal(c.info.schema, COLLECTION_SCHEMA);
    assert.match(c.info._postman_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(c.auth, { type: 'bearer', bearer: [{ key: 'token', value: '{{access_token}}', type: 'string' }] });
    const all = c.item.flatMap((f: any) => f.item);
    for (const i of all) {
      assert.equal(typeof i.name, 'string');
      assert.ok(['GET', 'POST', 'DELETE'].includes(i.request.method));
      assert.equal(typeof i.request.url.raw, 'string');
    }
    const token = all[0];
    assert.equal(token.request.url.raw, '{{token_url}}');
    assert.equal(token.request.auth.type, 'noauth');
    const form = Object.fromEntries(token.request.body.urlencoded.map((p: any) => [p.key, p.value]));
    assert.equal(form.grant_type, 'client_credentials');
    assert.equal(form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(form.client_assertion, '{{client_assertion}}');
    const pre = token.event.find((e: any) => e.listen === 'prerequest').script.exec.join('\n');
    assert.match(pre, /KJUR\.jws\.JWS\.sign/);
    assert.match(pre, /aud: pm\.environment\.get\('token_url'\)/);
    assert.match(token.event.find((e: any) => e.listen === 'test').script.exec.join('\n'), /access_token/);
    const names = all.map((i: any) => i.name).join(' | ');
    for (const w of ['Read a member', 'Search members', 'Kick off', 'Poll', 'Download']) assert.ok(names.includes(w), w);
    const kick = all.find((i: any) => i.name.startsWith('Kick off'));
    assert.deepEqual(kick.request.header.map((h: any) => h.key), ['Accept', 'Prefer']);
    assert.match(kick.event[0].script.exec.join('\n'), /Content-Location/);
  });

  it('the Postman environment holds the tenant\'s real endpoints and secret slots', async () => {
    const env = await (await fetch(`${server.origin}/developers/${tenant}/postman-environment.json`)).json();
    assert.equal(env._postman_variable_scope, 'environment');
    const v = Object.fromEntries(env.values.map((x: any) => [x.key, x]));
    assert.equal(v.base.value, fhirBase(server.origin, tenant));
    assert.equal(v.token_url.value, tokenUrl(server.origin, tenant));
    assert.equal(v.private_jwk.type, 'secret');
    assert.equal(v.access_token.type, 'secret');
    // The URLs answer as the collection expects: metadata is public; the token URL is the token endpoint.
    assert.equal((await fetch(`${v.base.value}/metadata`)).status, 200);
    const tok = await fetch(v.token_url.value, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    assert.equal(tok.status, 400);
    assert.equal((await tok.json()).error, 'invalid_request');
  });
});
