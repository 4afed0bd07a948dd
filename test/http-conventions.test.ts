// FHIR HTTP conventions: media types and _format (REST-01), OperationOutcome errors (REST-09),
// status codes (REST-10), body limits, _pretty, X-Request-Id, and health endpoints.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome, type HttpResult } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

/** REST-09: an error is an OperationOutcome in FHIR JSON, valid R4, with no internals leaked. */
function assertSafeOutcome(r: HttpResult, label: string): void {
  assert.ok(isOperationOutcome(r), `${label}: not an OperationOutcome: ${r.status} ${r.headers.get('content-type')} ${r.text}`);
  assert.match(r.headers.get('content-type')!, /^application\/fhir\+json;\s*charset=utf-8$/i, label);
  assertValidR4(r.json);
  for (const issue of r.json.issue) {
    assert.ok(['fatal', 'error', 'warning', 'information'].includes(issue.severity), label);
    assert.ok(typeof issue.diagnostics === 'string' || typeof issue.details?.text === 'string', `${label}: no diagnostics`);
  }
  assert.doesNotMatch(r.text, /\bat \S+ \(|\n\s+at |:\d+:\d+\)?/, `${label}: stack trace in ${r.text}`);
  assert.doesNotMatch(r.text, /\b(SELECT|INSERT|UPDATE \w+ SET|DELETE FROM|unnest|pg_)\b/, `${label}: SQL in ${r.text}`);
  assert.doesNotMatch(r.text, /\/work\/|node_modules|\/home\/|\/tmp\/|\.ts\b|\.js\b/, `${label}: path in ${r.text}`);
}

describe('HTTP conventions', () => {
  let server: TestServer;
  let small: TestServer;
  let base: string;
  let smallBase: string;
  let smallTenant: string;
  let tenant: string;
  let patientId: string;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('conv'));
    small = await startServer({ bodyLimit: 1024 });
    ({ base: smallBase, tenant: smallTenant } = await small.newTenant('small'));
    patientId = (await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: 'Zoë', given: ['Łukasz', '渡辺'] }] } })).json.id;
  });
  after(async () => {
    await server.close();
    await small.close();
  });

  async function rowCount(): Promise<number> {
    const { rows } = await server.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant = $1', [tenant]);
    return Number(rows[0].n);
  }

  it('REST-01: FHIR JSON accepted through Accept and _format; answers are application/fhir+json; charset=utf-8', async () => {
    for (const accept of ['application/fhir+json', 'application/json', 'json', '*/*', 'application/*', 'application/fhir+json; fhirVersion=4.0', 'text/html, */*;q=0.8', 'application/xml;q=0.9, application/fhir+json;q=0.5']) {
      const r = await http(`${base}/Patient/${patientId}`, { headers: { accept } });
      assert.equal(r.status, 200, accept);
      assert.match(r.headers.get('content-type')!, /^application\/fhir\+json;\s*charset=utf-8$/i, accept);
      assertValidR4(r.json);
    }
    for (const format of ['json', 'application/json', 'application/fhir+json', 'application/fhir%2Bjson']) {
      const r = await http(`${base}/Patient/${patientId}?_format=${format}`);
      assert.equal(r.status, 200, format);
      assert.match(r.headers.get('content-type')!, /^application\/fhir\+json/);
    }
    const meta = await http(`${base}/metadata?_format=json`, { headers: { accept: 'application/json' } });
    assert.equal(meta.status, 200);
  });

  it('REST-01: UTF-8 bodies round trip', async () => {
    const r = await http(`${base}/Patient/${patientId}`);
    assert.equal(r.json.name[0].family, 'Zoë');
    assert.deepEqual(r.json.name[0].given, ['Łukasz', '渡辺']);
  });

  it('REST-01: XML Accept or _format=xml → 406 OperationOutcome; _format overrides Accept', async () => {
    for (const accept of ['application/fhir+xml', 'application/xml', 'text/xml', 'text/turtle', 'application/fhir+json;q=0, application/xml']) {
      const r = await http(`${base}/Patient/${patientId}`, { headers: { accept } });
      assert.equal(r.status, 406, accept);
      assertSafeOutcome(r, accept);
    }
    for (const format of ['xml', 'application/fhir+xml', 'text/xml', 'ttl']) {
      const r = await http(`${base}/Patient/${patientId}?_format=${encodeURIComponent(format)}`);
      assert.equal(r.status, 406, format);
      assertSafeOutcome(r, format);
    }
    const metaXml = await http(`${base}/metadata`, { headers: { accept: 'application/fhir+xml' } });
    assert.equal(metaXml.status, 406);
    // _format wins over Accept, both ways.
    const jsonWins = await http(`${base}/Patient/${patientId}?_format=json`, { headers: { accept: 'application/fhir+xml' } });
    assert.equal(jsonWins.status, 200);
    assert.equal(jsonWins.json.id, patientId);
    const xmlWins = await http(`${base}/Patient/${patientId}?_format=xml`, { headers: { accept: 'application/fhir+json' } });
    assert.equal(xmlWins.status, 406);
    // A write refused for its Accept writes nothing.
    const before = await rowCount();
    const w = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { accept: 'application/fhir+xml' } });
    assert.equal(w.status, 406);
    assert.equal(await rowCount(), before);
  });

  it('REST-01: request bodies in FHIR JSON or JSON are accepted, other types → 415', async () => {
    for (const type of ['application/fhir+json', 'application/json', 'application/fhir+json; charset=utf-8', 'application/json+fhir', 'application/fhir+json; fhirVersion=4.0']) {
      const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { 'content-type': type } });
      assert.equal(r.status, 201, type);
    }
    const before = await rowCount();
    for (const type of ['text/plain', 'application/xml', 'application/fhir+xml', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
      const post = await http(`${base}/Patient`, { body: JSON.stringify({ resourceType: 'Patient' }), headers: { 'content-type': type } });
      assert.equal(post.status, 415, `POST ${type}`);
      assertSafeOutcome(post, `POST ${type}`);
      const put = await http(`${base}/Patient/${patientId}`, { method: 'PUT', body: JSON.stringify({ resourceType: 'Patient', id: patientId }), headers: { 'content-type': type } });
      assert.equal(put.status, 415, `PUT ${type}`);
      assertSafeOutcome(put, `PUT ${type}`);
      const bundle = await http(base, { body: JSON.stringify({ resourceType: 'Bundle', type: 'batch' }), headers: { 'content-type': type } });
      assert.equal(bundle.status, 415, `Bundle ${type}`);
      assertSafeOutcome(bundle, `Bundle ${type}`);
    }
    assert.equal(await rowCount(), before);
  });

  it('REST-10: broken JSON, empty bodies and non-object JSON → 400, nothing written', async () => {
    const before = await rowCount();
    const cases: [string, string, string | undefined, Record<string, string>][] = [
      ['POST', 'Patient', '{"resourceType": "Patient",', {}],
      ['POST', 'Patient', '{"resourceType": "Patient"} trailing', {}],
      ['PUT', `Patient/${patientId}`, '{', {}],
      ['POST', '', '{"resourceType":', {}],
      ['POST', 'Patient', '', {}],
      ['POST', 'Patient', '', { 'content-type': 'application/fhir+json' }],
      ['PUT', `Patient/${patientId}`, '', {}],
      ['POST', '', '', {}],
      ['POST', 'Patient', '[]', {}],
      ['POST', 'Patient', 'null', {}],
      ['POST', 'Patient', '"Patient"', {}],
      ['POST', 'Patient', '42', {}],
    ];
    for (const [method, path, body, headers] of cases) {
      const url = path ? `${base}/${path}` : base;
      const r = await http(url, { method, body: body === '' ? undefined : body, headers: body === '' ? headers : { 'content-type': 'application/fhir+json', ...headers } });
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
      assertSafeOutcome(r, `${method} ${path} ${JSON.stringify(body)}`);
    }
    assert.equal(await rowCount(), before);
  });

  it('REST-10: a body over the limit → 413 OperationOutcome, nothing written', async () => {
    const big = { resourceType: 'Patient', name: [{ family: 'x'.repeat(2000) }] };
    const r = await http(`${smallBase}/Patient`, { body: big });
    assert.equal(r.status, 413);
    assertSafeOutcome(r, '413');
    const bundle = await http(smallBase, { body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: big, request: { method: 'POST', url: 'Patient' } }] } });
    assert.equal(bundle.status, 413);
    assertSafeOutcome(bundle, '413 bundle');
    const raw = await http(`${smallBase}/Binary`, { body: Buffer.alloc(4096, 1), headers: { 'content-type': 'image/png' } });
    assert.equal(raw.status, 413);
    assertSafeOutcome(raw, '413 binary');
    const { rows } = await small.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM resource WHERE tenant = $1', [smallTenant]);
    assert.equal(rows[0].n, 0);
    // Under the limit is fine.
    const ok = await http(`${smallBase}/Patient`, { body: { resourceType: 'Patient' } });
    assert.equal(ok.status, 201);
  });

  it('_pretty=true indents the JSON; without it the JSON is compact', async () => {
    const pretty = await http(`${base}/Patient/${patientId}?_pretty=true`);
    assert.equal(pretty.status, 200);
    assert.match(pretty.text, /^\{\n {2}"resourceType": "Patient",\n/);
    assert.deepEqual(pretty.json, (await http(`${base}/Patient/${patientId}`)).json);
    const compact = await http(`${base}/Patient/${patientId}`);
    assert.ok(!compact.text.includes('\n'));
    const prettyError = await http(`${base}/Patient/nobody?_pretty=true`);
    assert.equal(prettyError.status, 404);
    assert.match(prettyError.text, /^\{\n {2}"resourceType": "OperationOutcome"/);
    const prettyBundle = await http(`${base}/_history?_pretty=true`);
    assert.match(prettyBundle.text, /^\{\n {2}"resourceType": "Bundle"/);
  });

  it('REST-09/10: unknown paths and routes → 404 OperationOutcome', async () => {
    for (const path of ['/nothing-here', '/payer/system-access/v2', `/payer/system-access/v2/${tenant}/Patient/x/y/z/w`, `/payer/system-access/v2/${tenant}/Spaceship/1`, `/payer/system-access/v2/${tenant}/Spaceship`]) {
      const r = await http(`${server.origin}${path}`);
      assert.ok(r.status === 404, `${path}: ${r.status}`);
      assertSafeOutcome(r, path);
    }
    const badId = await http(`${base}/Patient/${'x'.repeat(65)}`);
    assert.equal(badId.status, 404);
    assertSafeOutcome(badId, 'long id');
    const badChars = await http(`${base}/Patient/a_b`);
    assert.equal(badChars.status, 404);
  });

  it('REST-09: unsupported methods and malformed URLs answer with an OperationOutcome', async () => {
    const patch = await http(`${base}/Patient/${patientId}`, { method: 'PATCH', body: [{ op: 'remove', path: '/name' }], headers: { 'content-type': 'application/json-patch+json' } });
    assert.ok(patch.status === 404 || patch.status === 405, String(patch.status));
    assertSafeOutcome(patch, 'PATCH');
    const badEscape = await http(`${base}/Patient/%E0%A4%A`);
    assert.equal(badEscape.status, 400);
    assertSafeOutcome(badEscape, 'bad escape');
    const longParam = await http(`${base}/Patient/${'x'.repeat(300)}`);
    assert.ok(longParam.status >= 400 && longParam.status < 500, String(longParam.status));
    assertSafeOutcome(longParam, 'long path parameter');
    assert.equal((await http(`${base}/Patient/${patientId}`)).json.name[0].family, 'Zoë');
  });

  it('every error carries a safe OperationOutcome (REST-09)', async () => {
    const errors: [string, HttpResult][] = [
      ['404', await http(`${base}/Patient/nobody`)],
      ['410', await (async () => {
        const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
        await http(`${base}/Patient/${c.json.id}`, { method: 'DELETE' });
        return http(`${base}/Patient/${c.json.id}`);
      })()],
      ['400 validation', await http(`${base}/Patient`, { body: { resourceType: 'Patient', birthDate: 'soon' } })],
      ['400 vid', await http(`${base}/Patient/${patientId}/_history/x`)],
      ['400 _since', await http(`${base}/_history?_since=never`)],
      ['400 _page', await http(`${base}/_history?_page=abc.def`)],
      ['412', await http(`${base}/Patient/${patientId}`, { method: 'PUT', body: { resourceType: 'Patient', id: patientId }, headers: { 'if-match': 'W/"99"' } })],
      ['400 if-match', await http(`${base}/Patient/${patientId}`, { method: 'PUT', body: { resourceType: 'Patient', id: patientId }, headers: { 'if-match': 'garbage' } })],
      ['400 bundle', await http(base, { body: { resourceType: 'Bundle', type: 'document' } })],
    ];
    for (const [label, r] of errors) {
      assert.ok(r.status >= 400, label);
      assertSafeOutcome(r, label);
      assert.ok(r.headers.get('x-request-id'), label);
    }
  });

  it('X-Request-Id on every answer, different per request', async () => {
    const a = await http(`${base}/Patient/${patientId}`);
    const b = await http(`${base}/Patient/${patientId}`);
    const c = await http(`${server.origin}/nowhere`);
    for (const r of [a, b, c]) assert.ok(r.headers.get('x-request-id'));
    assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
  });

  it('/healthz and /readyz → 200', async () => {
    const h = await http(`${server.origin}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
    const r = await http(`${server.origin}/readyz`);
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ok');
  });
});
