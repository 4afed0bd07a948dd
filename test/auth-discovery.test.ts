// SMART discovery (TOK-01…TOK-12) and the CapabilityStatement's rest.security (§6): public,
// application/json whatever Accept says, absolute URLs, CORS, and a token URL both agree on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tokenUrlFor } from './helpers/auth.js';
import { http, type HttpResult } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

describe('SMART discovery', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  let doc: HttpResult;
  const wellKnown = () => `${base}/.well-known/smart-configuration`;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('disc'));
    doc = await http(wellKnown(), { auth: false, headers: { accept: 'application/json' } });
  });
  after(() => server.close());

  it('TOK-01: served at [base]/.well-known/smart-configuration without authentication', async () => {
    assert.equal(doc.status, 200, doc.text);
    assert.equal(typeof doc.json, 'object');
    assert.ok(base.includes(`/${tenant}`), 'the base has a path; the document is appended to it');
  });

  it('TOK-02: 200 application/json even when the client asks for application/fhir+json', async () => {
    assert.match(doc.headers.get('content-type')!, /^application\/json/);
    for (const accept of ['application/fhir+json', 'application/json', '*/*', 'text/html']) {
      const r = await http(wellKnown(), { auth: false, headers: { accept } });
      assert.equal(r.status, 200, `Accept ${accept}: ${r.text}`);
      assert.match(r.headers.get('content-type')!, /^application\/json/, `Accept ${accept}`);
      assert.equal(r.json.token_endpoint, doc.json.token_endpoint);
    }
  });

  it('TOK-03: every endpoint URL in the document is absolute', () => {
    const urls = Object.entries(doc.json).filter(([k]) => k.endsWith('_endpoint') || k.endsWith('_uri'));
    assert.ok(urls.length >= 1);
    for (const [k, v] of urls) {
      assert.equal(typeof v, 'string', k);
      const u = new URL(v as string); // throws for a relative URL
      assert.ok(u.protocol === 'http:' || u.protocol === 'https:', k);
      assert.equal(u.origin, server.origin, k);
    }
  });

  it('TOK-04: token_endpoint is the tenant token URL on the public origin', () => {
    assert.equal(doc.json.token_endpoint, tokenUrlFor(server.origin, tenant));
  });

  it('TOK-05: grant_types_supported lists client_credentials and no grant the server lacks (P1)', () => {
    assert.ok(Array.isArray(doc.json.grant_types_supported));
    assert.deepEqual(doc.json.grant_types_supported, ['client_credentials']);
    assert.equal(doc.json.authorization_endpoint, undefined, 'no App Launch, so no authorization endpoint');
  });

  it('TOK-06, TOK-53: capabilities name asymmetric and symmetric client auth and both permission syntaxes', () => {
    assert.ok(Array.isArray(doc.json.capabilities));
    assert.ok(doc.json.capabilities.every((c: unknown) => typeof c === 'string'));
    for (const c of ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v1', 'permission-v2']) {
      assert.ok(doc.json.capabilities.includes(c), c);
    }
    assert.ok(!doc.json.capabilities.includes('launch-ehr') && !doc.json.capabilities.includes('launch-standalone'));
  });

  it('TOK-07, TOK-53: token_endpoint_auth_methods_supported has private_key_jwt and both secret methods', () => {
    const m = doc.json.token_endpoint_auth_methods_supported;
    assert.ok(Array.isArray(m));
    for (const x of ['private_key_jwt', 'client_secret_basic', 'client_secret_post']) assert.ok(m.includes(x), x);
  });

  it('TOK-08: signing algorithms include RS384 and ES384, never none or HS*', () => {
    const a = doc.json.token_endpoint_auth_signing_alg_values_supported;
    assert.ok(Array.isArray(a));
    assert.ok(a.includes('RS384') && a.includes('ES384'));
    for (const alg of ['RS256', 'RS512', 'ES256', 'ES512', 'PS256', 'PS384', 'PS512']) assert.ok(a.includes(alg), alg);
    assert.ok(!a.some((x: string) => x.toLowerCase() === 'none' || x.startsWith('HS')));
  });

  it('TOK-09: scopes_supported lists the kits\' defaults, all system/ scopes', () => {
    const s = doc.json.scopes_supported;
    assert.ok(Array.isArray(s));
    for (const x of ['system/*.read', 'system/*.rs']) assert.ok(s.includes(x), x);
    assert.ok(s.every((x: string) => x.startsWith('system/')), 'only system/ scopes can be honoured');
  });

  it('TOK-10: code_challenge_methods_supported has S256 and not plain; no issuer; no jwks_uri without OIDC', () => {
    assert.ok(doc.json.code_challenge_methods_supported.includes('S256'));
    assert.ok(!doc.json.code_challenge_methods_supported.includes('plain'));
    assert.equal('issuer' in doc.json, false);
    assert.ok(!doc.json.capabilities.includes('sso-openid-connect'));
  });

  it('TOK-11: optional endpoints, when present, are absolute URLs', () => {
    for (const k of ['introspection_endpoint', 'revocation_endpoint', 'registration_endpoint', 'management_endpoint']) {
      if (doc.json[k] !== undefined) assert.ok(new URL(doc.json[k]).href, k);
    }
    if (doc.json.response_types_supported !== undefined) assert.ok(Array.isArray(doc.json.response_types_supported));
  });

  it('TOK-12: Access-Control-Allow-Origin on the discovery document and on /metadata for any Origin', async () => {
    for (const origin of ['https://partner.example', 'http://localhost:4567']) {
      for (const path of ['/.well-known/smart-configuration', '/metadata']) {
        const r = await http(`${base}${path}`, { auth: false, headers: { origin } });
        assert.equal(r.status, 200, `${path}: ${r.text}`);
        const acao = r.headers.get('access-control-allow-origin');
        assert.ok(acao === '*' || acao === origin, `${path} from ${origin}: ${acao}`);
      }
    }
  });

  it('TOK-12: OPTIONS preflight on the discovery document and /metadata answers with CORS headers', async () => {
    for (const path of ['/.well-known/smart-configuration', '/metadata']) {
      const r = await http(`${base}${path}`, { method: 'OPTIONS', auth: false, headers: { origin: 'https://partner.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
      assert.ok(r.status === 200 || r.status === 204, `${path}: ${r.status}`);
      assert.ok(['*', 'https://partner.example'].includes(r.headers.get('access-control-allow-origin')!), path);
      assert.match(r.headers.get('access-control-allow-methods') ?? '', /GET/, path);
    }
  });

  it('TOK-01, P17: public even with a garbage or expired-looking bearer token', async () => {
    for (const authorization of ['Bearer garbage', 'Bearer eyJhbGciOiJub25lIn0.eyJleHAiOjF9.', 'Basic Zm9vOmJhcg==']) {
      for (const path of ['/.well-known/smart-configuration', '/metadata']) {
        const r = await http(`${base}${path}`, { headers: { authorization } });
        assert.equal(r.status, 200, `${path} with ${authorization}: ${r.text}`);
      }
    }
  });

  it('TOK-01: an unknown tenant has no discovery document', async () => {
    const r = await http(`${base.replace(tenant, `${tenant}-missing`)}/.well-known/smart-configuration`, { auth: false });
    assert.equal(r.status, 404);
  });

  it('§6, TOK-04: CapabilityStatement rest.security carries the SMART-on-FHIR service and oauth-uris token = token_endpoint', async () => {
    const meta = await http(`${base}/metadata`, { auth: false });
    assert.equal(meta.status, 200);
    assert.equal(meta.json.resourceType, 'CapabilityStatement');
    const security = meta.json.rest[0].security;
    const coding = security.service.flatMap((s: any) => s.coding ?? []);
    assert.ok(coding.some((c: any) => c.system === 'http://terminology.hl7.org/CodeSystem/restful-security-service' && c.code === 'SMART-on-FHIR'), JSON.stringify(security.service));
    const uris = security.extension.find((e: any) => e.url === OAUTH_URIS);
    assert.ok(uris, 'oauth-uris extension');
    const token = uris.extension.find((e: any) => e.url === 'token');
    assert.equal(token.valueUri, doc.json.token_endpoint);
  });
});
