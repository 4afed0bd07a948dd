// Export file downloads and status polling (DL-01…DL-13, ST-01…ST-03): who may download,
// gzip, HTTP Range for resuming, unknown files, and the polling-storm guard that never
// touches a client polling at the Retry-After it was given.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { tokenFor } from './helpers/auth.js';
import { kickOff, loadFixtures, runExport } from './helpers/bulk.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('export downloads', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let url: string;
  let whole: Buffer;

  before(async () => {
    server = await startServer({}, { workers: 2 });
    let token: string;
    ({ tenant, base, token } = await server.newTenant('dl'));
    ownerToken = `Bearer ${token}`;
    await loadFixtures(base);
    const { manifest, files } = await runExport(`${base}/$export?_type=Observation,Patient`);
    const item = manifest.output.find((o: any) => o.type === 'Observation');
    url = item.url;
    whole = Buffer.from(files.get(url)!);
    assert.ok(whole.length > 1000);
  });
  after(() => server.close());

  it('DL-01: no token → 401; another client of the tenant → 404 (the job is not theirs); scopes not covering the type → 403', async () => {
    const none = await http(url, { auth: false });
    assert.equal(none.status, 401);
    assert.ok(isOperationOutcome(none));
    const other = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    const foreign = await http(url, { headers: { authorization: `Bearer ${other.token}` } });
    assert.equal(foreign.status, 404);
    const statusUrl = url.replace(/\$export-file\/([^/]+)\/.*$/, '$export-status/$1');
    assert.equal((await http(statusUrl, { headers: { authorization: `Bearer ${other.token}` } })).status, 404, 'nor its status');
  });

  it('DL-02, DL-03: Accept application/fhir+ndjson → 200 application/fhir+ndjson with the exact length', async () => {
    const r = await fetch(url, { headers: { authorization: await owner(), accept: 'application/fhir+ndjson', 'accept-encoding': 'identity' } });
    assert.equal(r.status, 200);
    assert.ok(r.headers.get('content-type')!.startsWith('application/fhir+ndjson'));
    assert.equal(r.headers.get('content-length'), String(whole.length));
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
  });

  it('DL-13: Accept-Encoding: gzip → gzip that unpacks to the same bytes', async () => {
    const r = await fetch(url, { headers: { authorization: await owner(), 'accept-encoding': 'gzip' }, decompress: false } as RequestInit);
    assert.equal(r.headers.get('content-encoding'), 'gzip');
    const body = Buffer.from(await r.arrayBuffer());
    // fetch may already have inflated it; either way the content is the file.
    const inflated = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body;
    assert.deepEqual(inflated, whole);
  });

  it('HTTP Range: a range, a suffix, an open end → 206 with exact bytes; unsatisfiable → 416', async () => {
    const get = (range: string) => fetch(url, { headers: { authorization: ownerToken, range } });
    let r = await get('bytes=0-99');
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes 0-99/${whole.length}`);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), whole.subarray(0, 100));
    r = await get('bytes=-50');
    assert.equal(r.status, 206);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), whole.subarray(whole.length - 50));
    r = await get(`bytes=${whole.length - 10}-`);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), whole.subarray(whole.length - 10));
    r = await get(`bytes=${whole.length}-`);
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('content-range'), `bytes */${whole.length}`);
  });

  it('DL-11: an unknown file or job → 404 OperationOutcome', async () => {
    const r = await http(url.replace(/[^/]+$/, 'no-such-file.ndjson'));
    assert.equal(r.status, 404);
    assert.ok(isOperationOutcome(r));
    assert.equal((await http(`${base}/$export-file/00000000-0000-0000-0000-000000000000/x.ndjson`)).status, 404);
  });

  let ownerToken = '';
  async function owner(): Promise<string> {
    return ownerToken;
  }
});

describe('ST-01…ST-03: polling a running job', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    // No workers: the job stays in progress for as long as the test polls.
    server = await startServer({ export: { ...loadConfig().export, retryAfterSeconds: 1, pollBurst: 5 } }, { workers: 0 });
    ({ base } = await server.newTenant('poll'));
  });
  after(() => server.close());

  it('202 with integer Retry-After and X-Progress; polling at the Retry-After is never throttled; a burst is 429 with Retry-After', async () => {
    const k = await kickOff(`${base}/$export`);
    const url = k.headers.get('content-location')!;
    for (let i = 0; i < 3; i++) {
      const r = await http(url, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 202);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.match(r.headers.get('x-progress')!, /units/);
      assert.ok(r.headers.get('x-progress')!.length < 100);
      await new Promise((res) => setTimeout(res, 1100));
    }
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await http(url, { headers: { accept: 'application/json' } })).status);
    assert.ok(statuses.includes(429), `a burst is throttled: ${statuses.join(',')}`);
    assert.equal(statuses[0], 202, 'the first polls of a window are fine');
    const throttled = await http(url, { headers: { accept: 'application/json' } });
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get('retry-after'), '1');
    assert.equal(throttled.json.issue[0].code, 'throttled');
  });
});
