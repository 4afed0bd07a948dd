// Binary: stored as a FHIR resource, read back as FHIR JSON by default and as its own content
// type (the exact bytes) when Accept asks for that type; raw uploads become Binary resources.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

/** Bearer token of the test tenant, when the harness issues one (attached to raw requests). */
let auth: Record<string, string> = {};

async function rawGet(url: string, accept?: string): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const res = await fetch(url, { headers: { ...auth, ...(accept ? { accept } : {}) } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('Binary', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  // A PNG signature followed by bytes that are not valid UTF-8, so any text round trip would show.
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crypto.randomBytes(300), Buffer.from([0xff, 0xfe, 0x00])]);
  before(async () => {
    server = await startServer();
    const t: { tenant: string; base: string; token?: string } = await server.newTenant('binary');
    ({ tenant, base } = t);
    if (t.token) auth = { authorization: `Bearer ${t.token}` };
  });
  after(() => server.close());

  it('created as FHIR JSON; read back as FHIR JSON by default and with Accept FHIR JSON', async () => {
    const c = await http(`${base}/Binary`, { body: { resourceType: 'Binary', contentType: 'image/png', data: png.toString('base64') } });
    assert.equal(c.status, 201);
    assertValidR4(c.json);
    for (const accept of [undefined, 'application/fhir+json', 'application/json', '*/*']) {
      const r = await http(`${base}/Binary/${c.json.id}`, { headers: accept ? { accept } : {} });
      assert.equal(r.status, 200, String(accept));
      assert.match(r.headers.get('content-type')!, /^application\/fhir\+json/);
      assertValidR4(r.json);
      assert.equal(r.json.resourceType, 'Binary');
      assert.equal(r.json.contentType, 'image/png');
      assert.equal(r.json.data, png.toString('base64'));
    }
  });

  it('read with Accept of its own content type → the exact bytes, with ETag', async () => {
    const c = await http(`${base}/Binary`, { body: { resourceType: 'Binary', contentType: 'image/png', data: png.toString('base64') } });
    for (const accept of ['image/png', 'image/*', 'image/png, application/fhir+json;q=0.5']) {
      const r = await rawGet(`${base}/Binary/${c.json.id}`, accept);
      assert.equal(r.status, 200, accept);
      assert.equal(r.headers.get('content-type'), 'image/png');
      assert.equal(r.headers.get('etag'), 'W/"1"');
      assert.ok(r.bytes.equals(png), accept);
    }
    // vread negotiates the same way.
    const v = await rawGet(`${base}/Binary/${c.json.id}/_history/1`, 'image/png');
    assert.equal(v.status, 200);
    assert.ok(v.bytes.equals(png));
    // FHIR JSON preferred over the raw type → FHIR JSON.
    const json = await http(`${base}/Binary/${c.json.id}`, { headers: { accept: 'application/fhir+json, image/png;q=0.5' } });
    assert.equal(json.json.resourceType, 'Binary');
    // _format overrides Accept.
    const fmt = await http(`${base}/Binary/${c.json.id}?_format=json`, { headers: { accept: 'image/png' } });
    assert.equal(fmt.status, 200);
    assert.equal(fmt.json.resourceType, 'Binary');
  });

  it('raw upload (POST Binary with Content-Type image/png) creates a Binary', async () => {
    const res = await fetch(`${base}/Binary`, { method: 'POST', headers: { ...auth, 'content-type': 'image/png' }, body: png });
    assert.equal(res.status, 201);
    const created = (await res.json()) as any;
    assertValidR4(created);
    assert.equal(created.resourceType, 'Binary');
    assert.equal(created.contentType, 'image/png');
    assert.equal(Buffer.from(created.data, 'base64').equals(png), true);
    const location = res.headers.get('location')!;
    assert.equal(location, `${base}/Binary/${created.id}/_history/1`);
    const raw = await rawGet(`${base}/Binary/${created.id}`, 'image/png');
    assert.ok(raw.bytes.equals(png));
    const { rows } = await server.db.pool.query('SELECT count(*)::int AS n FROM resource WHERE tenant = $1 AND type = $2 AND id = $3', [
      tenant,
      'Binary',
      created.id,
    ]);
    assert.equal(rows[0].n, 1);
  });

  it('raw update (PUT Binary/id with its own content type) writes a new version', async () => {
    const c = await http(`${base}/Binary`, { body: { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('one').toString('base64') } });
    const res = await fetch(`${base}/Binary/${c.json.id}`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: 'two' });
    assert.equal(res.status, 200);
    const updated = (await res.json()) as any;
    assertValidR4(updated);
    assert.equal(updated.id, c.json.id);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.contentType, 'text/plain');
    const r = await rawGet(`${base}/Binary/${c.json.id}`, 'text/plain');
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(r.bytes.toString(), 'two');
  });

  it('a deleted Binary → 410 whatever the Accept', async () => {
    const c = await http(`${base}/Binary`, { body: { resourceType: 'Binary', contentType: 'image/png', data: png.toString('base64') } });
    await http(`${base}/Binary/${c.json.id}`, { method: 'DELETE' });
    const r = await http(`${base}/Binary/${c.json.id}`, { headers: { accept: 'image/png' } });
    assert.equal(r.status, 410);
    assert.ok(isOperationOutcome(r));
  });

  it('XML for a Binary read → 406 (REST-01)', async () => {
    const c = await http(`${base}/Binary`, { body: { resourceType: 'Binary', contentType: 'image/png', data: png.toString('base64') } });
    const fmt = await http(`${base}/Binary/${c.json.id}?_format=xml`);
    assert.equal(fmt.status, 406);
    assert.ok(isOperationOutcome(fmt));
    const acc = await http(`${base}/Binary/${c.json.id}`, { headers: { accept: 'application/fhir+xml' } });
    assert.equal(acc.status, 406);
    assert.ok(isOperationOutcome(acc));
    const hist = await http(`${base}/Binary/${c.json.id}/_history`, { headers: { accept: 'application/fhir+xml' } });
    assert.equal(hist.status, 406);
  });
});
