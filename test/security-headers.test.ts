// Security headers on every answer — FHIR reads and searches, the token endpoint, errors, 404s,
// health, export status — with Cache-Control: no-store wherever member data or tokens may be,
// and Strict-Transport-Security when the public origin is https.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { registerKeyClient, requestToken, signAssertion, tokenUrlFor } from './helpers/auth.js';
import { KICKOFF_HEADERS } from './helpers/bulk.js';
import { http, type HttpResult } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const ALWAYS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function assertSecurityHeaders(r: { headers: Headers }, label: string): void {
  for (const [name, value] of Object.entries(ALWAYS)) assert.equal(r.headers.get(name), value, `${label}: ${name}`);
}

describe('security headers', () => {
  let server: TestServer;
  let httpsOrigin: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('sechdr'));
    httpsOrigin = await startServer({ publicUrl: 'https://fhir.example.org' });
  });
  after(async () => {
    await server.close();
    await httpsOrigin.close();
  });

  it('authenticated FHIR answers, errors and unknown routes carry every header and no-store', async () => {
    const created = await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'female' } });
    assert.equal(created.status, 201);
    const answers: [string, HttpResult, number][] = [
      ['create', created, 201],
      ['read', await http(`${base}/Patient/${created.json.id}`), 200],
      ['search', await http(`${base}/Patient?gender=female`), 200],
      ['history', await http(`${base}/Patient/${created.json.id}/_history`), 200],
      ['read 404', await http(`${base}/Patient/no-such-patient`), 404],
      ['invalid search 400', await http(`${base}/Patient?_count=x`), 400],
      ['no token 401', await http(`${base}/Patient`, { auth: false }), 401],
      ['bad body 400', await http(`${base}/Patient`, { body: '{not json' }), 400],
      ['405', await http(`${base}/Patient/${created.json.id}`, { method: 'PATCH', body: '[]', headers: { 'content-type': 'application/json-patch+json' } }), 405],
      ['unknown tenant 404', await http(`${server.origin}/payer/system-access/v2/no-such-tenant/Patient`), 404],
      ['unknown route 404', await http(`${server.origin}/nothing/here`, { auth: false }), 404],
      ['health', await http(`${server.origin}/healthz`), 200],
    ];
    for (const [label, r, status] of answers) {
      assert.equal(r.status, status, `${label}: ${r.text}`);
      assertSecurityHeaders(r, label);
      assert.equal(r.headers.get('cache-control'), 'no-store', `${label}: Cache-Control`);
      assert.equal(r.headers.get('strict-transport-security'), null, `${label}: no HSTS on a plain-http origin`);
    }
  });

  it('the token endpoint keeps its own no-store (granted and refused) and gets the headers', async () => {
    const url = tokenUrlFor(server.origin, tenant);
    const refused = await requestToken(url, { grant_type: 'password' });
    assert.equal(refused.status, 400);
    const wrongMethod = await fetch(url);
    assert.equal(wrongMethod.status, 405);
    const { clientId, key } = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
    const granted = await requestToken(url, {
      grant_type: 'client_credentials',
      scope: 'system/*.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signAssertion(key, clientId, url),
    });
    assert.equal(granted.status, 200);
    for (const [label, r] of [['granted', granted], ['refused', refused], ['405', wrongMethod]] as const) {
      assertSecurityHeaders(r, `token ${label}`);
      assert.equal(r.headers.get('cache-control'), 'no-store', `token ${label}`);
      assert.equal(r.headers.get('pragma'), 'no-cache', `token ${label}`);
    }
  });

  it('routes with a Cache-Control of their own keep it; public discovery documents may be cached', async () => {
    const kick = await http(`${base}/$export?_type=Patient`, { headers: KICKOFF_HEADERS });
    assert.equal(kick.status, 202, kick.text);
    const status = await http(kick.headers.get('content-location')!);
    assert.equal(status.status, 202);
    assertSecurityHeaders(status, 'export status');
    assert.equal(status.headers.get('cache-control'), 'no-store');
    for (const path of ['/metadata', '/.well-known/smart-configuration']) {
      const r = await http(`${base}${path}`, { auth: false });
      assert.equal(r.status, 200, path);
      assertSecurityHeaders(r, path);
      assert.equal(r.headers.get('cache-control'), null, `${path}: no no-store on a public document`);
    }
  });

  it('Strict-Transport-Security on every answer when PUBLIC_URL is https', async () => {
    for (const path of ['/healthz', '/payer/system-access/v2/no-such-tenant/metadata', '/nothing/here', '/auth/x/oauth2/v1/token']) {
      const r = await fetch(`${httpsOrigin.origin}${path}`);
      assert.equal(r.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains', path);
      assertSecurityHeaders(r, path);
    }
  });

  it('answers Node writes itself (a request that is not HTTP) carry the headers too', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(server.origin).port), '127.0.0.1', () => socket.write('NOT-HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    for (const [name, value] of Object.entries(ALWAYS)) assert.ok(raw.toLowerCase().includes(`${name}: ${value.toLowerCase()}`), `${name} in ${raw}`);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    assert.equal(body.resourceType, 'OperationOutcome');
    assert.equal(body.issue[0].code, 'structure');
  });
});
