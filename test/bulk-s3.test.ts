// Export files in S3-compatible object storage, against a real local S3-protocol server
// (s3rver): the export is exact, objects carry application/fhir+ndjson (P13), downloads pass
// the token check and then stream or redirect to a presigned URL (DL-09), ranges work,
// an aborted upload leaves nothing, and expiry removes every object of a job.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { S3Storage } from '../src/bulk/s3-storage.js';
import { ExportWorkers } from '../src/bulk/worker.js';
import { loadConfig } from '../src/config.js';
import { kickOff, loadExamples, poll, refs, runExport } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { freePort, startServer, type TestServer } from './helpers/server.js';

describe('bulk export to S3-compatible storage', () => {
  let s3: S3rver;
  let dir: string;
  let client: S3Client;
  let server: TestServer;
  let base: string;
  let tenant: string;
  let token: string;
  let stored: any[];
  const storageUrl = 's3://exports/bulk';

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-s3-'));
    const port = await freePort();
    s3 = new S3rver({ port, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: 'exports', configs: [] }] });
    await s3.run();
    Object.assign(process.env, { EXPORT_S3_ENDPOINT: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
    client = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const exportConfig = { ...loadConfig().export, storage: storageUrl };
    server = await startServer({ export: exportConfig }, { workers: 2 });
    ({ tenant, base, token } = await server.newTenant('s3'));
    stored = await loadExamples(base);
  });
  after(async () => {
    await server.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function objects(prefix: string): Promise<string[]> {
    const page = await client.send(new ListObjectsV2Command({ Bucket: 'exports', Prefix: prefix }));
    return (page.Contents ?? []).map((o) => o.Key!);
  }

  it('a system export is exact; its objects are application/fhir+ndjson under the prefix', async () => {
    const { manifest, byType } = await runExport(`${base}/$export`);
    assert.deepEqual(refs([...byType.values()].flat()), refs(stored));
    const jobId = manifest.output[0].url.split('/').at(-2);
    const keys = await objects(`bulk/${tenant}/${jobId}/`);
    assert.equal(keys.length, manifest.output.length);
    const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key: keys[0] }));
    assert.equal(head.ContentType, 'application/fhir+ndjson');
  });

  it('HTTP Range reads the exact bytes from the object store', async () => {
    const { manifest, files } = await runExport(`${base}/$export?_type=Observation`);
    const url = manifest.output[0].url;
    const whole = Buffer.from(files.get(url)!);
    const r = await fetch(url, { headers: { authorization: (await tokenHeader()) ?? '', range: 'bytes=10-99' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes 10-99/${whole.length}`);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), whole.subarray(10, 100));
  });

  it('DL-09: with redirects on, a download is 302 to a presigned URL that serves the file; without a token still 401', async () => {
    const { manifest, files } = await runExport(`${base}/$export?_type=Patient`);
    const url = manifest.output[0].url;
    const auth = await tokenHeader();
    server.config.export.s3Redirect = true; // read per request
    let r: Response;
    try {
      r = await fetch(url, { headers: { authorization: auth! }, redirect: 'manual' });
      assert.equal((await fetch(url, { redirect: 'manual' })).status, 401, 'no token: 401, not a redirect');
    } finally {
      server.config.export.s3Redirect = false;
    }
    assert.equal(r.status, 302);
    const location = r.headers.get('location')!;
    assert.match(location, /X-Amz-Signature=/);
    const fetched = await fetch(location);
    assert.equal(fetched.status, 200);
    assert.equal(await fetched.text(), files.get(manifest.output[0].url));
  });

  it('an aborted upload leaves no object', async () => {
    const storage = S3Storage.fromUrl(storageUrl);
    const sink = storage.create(`${tenant}/aborted/file.ndjson`);
    await sink.write(Buffer.from('{"resourceType":"Patient"}\n'));
    await sink.abort();
    assert.deepEqual(await objects(`bulk/${tenant}/aborted/`), []);
    assert.equal(await storage.size(`${tenant}/aborted/file.ndjson`), undefined);
  });

  it('retention: a deleted job loses every object once the sweep runs', async () => {
    const k = await kickOff(`${base}/$export?_type=Patient,Condition`);
    const url = k.headers.get('content-location')!;
    const done = await poll(url);
    assert.equal(done.status, 200);
    const jobId = url.split('/').pop()!;
    assert.ok((await objects(`bulk/${tenant}/${jobId}/`)).length > 0);
    assert.equal((await http(url, { method: 'DELETE' })).status, 202);
    // Cancelled jobs wait out a lease before their files go; expire it now.
    await server.db.pool.query(`UPDATE export_job SET expires_at = now() - interval '1 second' WHERE id = $1`, [jobId]);
    const sweeper = new ExportWorkers({ pool: server.db.pool, storage: S3Storage.fromUrl(storageUrl), config: server.config.export, base: () => base, concurrency: 0, log: console });
    assert.ok((await sweeper.sweep()) >= 1);
    assert.deepEqual(await objects(`bulk/${tenant}/${jobId}/`), []);
  });

  /** The token of the client that started the exports (jobs belong to their client). */
  async function tokenHeader(): Promise<string | undefined> {
    return `Bearer ${token}`;
  }
});
