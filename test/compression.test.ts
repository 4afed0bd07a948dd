// Content coding (http/compression.ts): JSON answers of 1 kB or more are gzip-compressed when
// Accept-Encoding allows it (q-values, '*', case), never otherwise; small answers, binary
// content and export downloads' own negotiation are left alone. Raw node:http requests, so the
// bytes on the wire are what the test sees (fetch would decompress them silently).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { acceptsGzip } from '../src/http/compression.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(url: string, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('response compression', () => {
  let server: TestServer;
  let base: string;
  let token: string;
  before(async () => {
    server = await startServer();
    ({ base, token } = await server.newTenant('gzip'));
    for (let i = 0; i < 12; i++) {
      const r = await http(`${base}/Patient/z${i}`, { method: 'PUT', body: { resourceType: 'Patient', id: `z${i}`, name: [{ family: `Zipper-${i}`, given: ['Ada', 'Grace'] }], gender: 'female' } });
      assert.equal(r.status, 201);
    }
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const bin = await http(`${base}/Binary/img`, { method: 'PUT', body: { resourceType: 'Binary', id: 'img', contentType: 'image/png', data: Buffer.concat(Array(400).fill(png)).toString('base64') } });
    assert.equal(bin.status, 201);
  });
  after(() => server.close());

  it('a search Bundle with Accept-Encoding: gzip is gzip-coded, Vary: Accept-Encoding, and decodes to the uncoded answer', async () => {
    const url = `${base}/Patient?family=Zipper&_sort=_id`;
    const auth = { authorization: `Bearer ${token}` };
    const zipped = await raw(url, { ...auth, 'accept-encoding': 'gzip' });
    const plain = await raw(url, auth);
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.match(String(zipped.headers.vary), /accept-encoding/i);
    assert.equal(Number(zipped.headers['content-length']), zipped.body.length);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.match(String(plain.headers.vary), /accept-encoding/i);
    const decoded = JSON.parse(zlib.gunzipSync(zipped.body).toString('utf8'));
    const expected = JSON.parse(plain.body.toString('utf8'));
    assert.equal(decoded.entry.length, 12);
    // The same answer apart from the Bundle's own id and timestamp, which every search mints anew.
    for (const b of [decoded, expected]) {
      delete b.id;
      delete b.meta;
    }
    assert.deepEqual(decoded, expected);
    assert.ok(zipped.body.length < plain.body.length / 3, `${zipped.body.length} coded vs ${plain.body.length}`);
  });

  it('Accept-Encoding is read with its q-values: gzip;q=0, identity and br alone are not gzip; *, x-gzip and GZIP are', async () => {
    const url = `${base}/Patient?family=Zipper`;
    for (const [header, coded] of [
      ['gzip;q=0', false],
      ['identity', false],
      ['br', false],
      ['*;q=0', false],
      ['*', true],
      ['x-gzip', true],
      ['GZIP', true],
      ['deflate, gzip;q=0.5', true],
      ['*, gzip;q=0', false],
    ] as const) {
      const r = await raw(url, { authorization: `Bearer ${token}`, 'accept-encoding': header });
      assert.equal(r.status, 200, header);
      assert.equal(r.headers['content-encoding'], coded ? 'gzip' : undefined, header);
    }
    assert.equal(acceptsGzip(undefined), false);
    assert.equal(acceptsGzip(['deflate', 'gzip']), true);
  });

  it('small answers, 304s and binary content stay uncoded', async () => {
    const auth = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' };
    const missing = await raw(`${base}/Patient/nobody`, auth);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['content-encoding'], undefined);
    assert.ok(missing.body.length < 1024);
    const notModified = await raw(`${base}/Patient/z1`, { ...auth, 'if-none-match': 'W/"1"' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['content-encoding'], undefined);
    const image = await raw(`${base}/Binary/img`, { ...auth, accept: 'image/png' });
    assert.equal(image.status, 200);
    assert.equal(image.headers['content-type'], 'image/png');
    assert.equal(image.headers['content-encoding'], undefined);
    assert.equal(image.body.length, 3200);
    // The same Binary as FHIR JSON is text, and coded.
    const json = await raw(`${base}/Binary/img`, { ...auth, accept: 'application/fhir+json' });
    assert.equal(json.headers['content-encoding'], 'gzip');
    assert.equal(JSON.parse(zlib.gunzipSync(json.body).toString('utf8')).contentType, 'image/png');
  });

  it('the CapabilityStatement (public) is coded too, and keeps its own caching headers', async () => {
    const r = await raw(`${base}/metadata`, { 'accept-encoding': 'gzip' });
    const plain = await raw(`${base}/metadata`, {});
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['cache-control'], plain.headers['cache-control']);
    assert.notEqual(r.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(zlib.gunzipSync(r.body).toString('utf8')), JSON.parse(plain.body.toString('utf8')));
  });
});
