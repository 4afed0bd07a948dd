// Export files in S3-compatible object storage, against a real local S3-protocol server
// (s3rver): the export is exact, objects carry application/fhir+ndjson (P13), downloads pass
// the token check and then stream or redirect to a presigned URL (DL-09), ranges work,
// multipart uploads round-trip byte for byte, an aborted upload leaves nothing, and expiry
// removes every object of a job.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { parquetReadObjects } from 'hyparquet';
import { S3Storage } from '../src/bulk/s3-storage.js';
import { ExportWorkers } from '../src/bulk/worker.js';
import { loadConfig } from '../src/config.js';
import { kickOff, loadFixtures, poll, refs, runExport } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { freePort, startServer, uniqueId, type TestServer } from './helpers/server.js';

describe('bulk export to S3-compatible storage', () => {
  let s3: S3rver;
  let dir: string;
  let client: S3Client;
  let server: TestServer;
  let base: string;
  let tenant: string;
  let token: string;
  let stored: any[];
  // Workers claim only jobs of their own EXPORT_STORAGE: a prefix of this run's own keeps two
  // runs of this file against one database from taking each other's jobs.
  const prefix = uniqueId('bulk');
  const storageUrl = `s3://exports/${prefix}`;

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
    stored = await loadFixtures(base);
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
    const exported = [...byType.values()].flat();
    assert.deepEqual(refs(exported), refs(stored));
    for (const r of exported) assertValidR4(r);
    const jobId = manifest.output[0].url.split('/').at(-2);
    const keys = await objects(`${prefix}/${tenant}/${jobId}/`);
    assert.deepEqual(keys.sort(), manifest.output.map((o: any) => `${prefix}/${tenant}/${jobId}/${o.url.split('/').pop()}`).sort());
    for (const Key of keys) {
      const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key }));
      assert.equal(head.ContentType, 'application/fhir+ndjson', Key);
    }
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

  it('$viewdefinition-export to Parquet in the object store: objects typed application/vnd.apache.parquet, the presigned download too', async () => {
    const auth = await tokenHeader();
    const view = { resourceType: 'ViewDefinition', name: 'patients', status: 'active', resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'birth_date', path: 'birthDate', type: 'date' }] }] };
    const k = await http(`${base}/$viewdefinition-export`, {
      body: { resourceType: 'Parameters', parameter: [{ name: 'view', part: [{ name: 'viewResource', resource: view }] }, { name: '_format', valueCode: 'parquet' }] },
      headers: { prefer: 'respond-async' },
    });
    assert.equal(k.status, 202, k.text);
    const done = await poll(k.headers.get('content-location')!);
    assert.equal(done.status, 200, done.text);
    const output = done.json.parameter.find((p: any) => p.name === 'output');
    const urls: string[] = output.part.filter((p: any) => p.name === 'location').map((p: any) => p.valueUri);
    assert.ok(urls.length >= 1);
    const jobId = urls[0].split('/').at(-2);
    const keys = await objects(`${prefix}/${tenant}/${jobId}/`);
    assert.deepEqual(keys.sort(), urls.map((u) => `${prefix}/${tenant}/${jobId}/${u.split('/').pop()}`).sort());
    for (const Key of keys) assert.equal((await client.send(new HeadObjectCommand({ Bucket: 'exports', Key }))).ContentType, 'application/vnd.apache.parquet', Key);
    server.config.export.s3Redirect = true;
    let r: Response;
    try {
      r = await fetch(urls[0], { headers: { authorization: auth! }, redirect: 'manual' });
    } finally {
      server.config.export.s3Redirect = false;
    }
    assert.equal(r.status, 302);
    const fetched = await fetch(r.headers.get('location')!);
    assert.equal(fetched.headers.get('content-type'), 'application/vnd.apache.parquet');
    assert.equal(Buffer.from(await fetched.arrayBuffer()).subarray(0, 4).toString(), 'PAR1');
    const patients = stored.filter((x) => x.resourceType === 'Patient').length;
    let rows = 0;
    for (const u of urls) {
      const file = await fetch(u, { headers: { authorization: auth! } });
      const bytes = Buffer.from(await file.arrayBuffer());
      rows += (await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer })).length;
    }
    assert.equal(rows, patients);
  });

  it('a file larger than a part goes up as a multipart upload and reads back byte for byte, ranges across parts too', async () => {
    const storage = S3Storage.fromUrl(storageUrl);
    const key = `${tenant}/multipart/big.ndjson`;
    const sink = storage.create(key);
    const lines: Buffer[] = [];
    for (let i = 0, n = 0; n <= 9 * 1024 * 1024; i++) {
      const line = Buffer.from(`${JSON.stringify({ resourceType: 'Basic', id: `b${i}`, code: { text: 'x'.repeat(500) } })}\n`);
      lines.push(line);
      n += line.length;
      await sink.write(line);
    }
    await sink.end();
    const whole = Buffer.concat(lines);
    assert.equal(await storage.size(key), whole.length);
    const read = async (range?: { start: number; end: number }) => {
      const f = (await storage.open(key, range))!;
      const chunks: Buffer[] = [];
      for await (const c of f.stream) chunks.push(c as Buffer);
      return { bytes: Buffer.concat(chunks), size: f.size };
    };
    assert.ok((await read()).bytes.equals(whole));
    const part = 8 * 1024 * 1024;
    const across = await read({ start: part - 100, end: part + 99 });
    assert.equal(across.size, whole.length);
    assert.ok(across.bytes.equals(whole.subarray(part - 100, part + 100)));
    const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key: `${prefix}/${key}` }));
    assert.equal(head.ContentType, 'application/fhir+ndjson');
    assert.equal(await storage.open(`${tenant}/multipart/none.ndjson`), undefined);
  });

  it('an aborted upload leaves no object, whether still one buffer or already a multipart upload', async () => {
    // The storage's own client, with a note of every command it sends (the requests still go to s3rver).
    const sent: string[] = [];
    const recording = new S3Client({ region: 'us-east-1', endpoint: process.env.EXPORT_S3_ENDPOINT, forcePathStyle: true });
    recording.middlewareStack.add((next, context) => (args) => (sent.push(context.commandName!), next(args)), { step: 'initialize' });
    const storage = new S3Storage(recording, 'exports', prefix);
    for (const [name, bytes] of [['small', 100], ['large', 9 * 1024 * 1024]] as const) {
      const key = `${tenant}/aborted/${name}.ndjson`;
      const sink = storage.create(key);
      const line = Buffer.from(`${JSON.stringify({ resourceType: 'Patient', id: 'p'.repeat(64) })}\n`);
      for (let n = 0; n < bytes; n += line.length) await sink.write(line);
      await sink.abort();
      // abort() returns once the store has been asked to drop the parts, not before (s3rver
      // does not implement that call and keeps them on disk, so the request is what we check).
      if (name === 'large') assert.ok(sent.includes('CreateMultipartUploadCommand') && sent.at(-1) === 'AbortMultipartUploadCommand', sent.join());
      await assert.rejects(sink.write(line), 'no writes after abort');
      assert.equal(await storage.size(key), undefined, name);
      await assert.rejects(client.send(new GetObjectCommand({ Bucket: 'exports', Key: `${prefix}/${key}` })), { name: 'NoSuchKey' });
    }
    assert.deepEqual(await objects(`${prefix}/${tenant}/aborted/`), []);
    assert.ok(!sent.includes('PutObjectCommand') && !sent.includes('CompleteMultipartUploadCommand'), sent.join());
  });

  it('retention: a deleted job loses every object once the sweep runs', async () => {
    const k = await kickOff(`${base}/$export?_type=Patient,Condition`);
    const url = k.headers.get('content-location')!;
    const done = await poll(url);
    assert.equal(done.status, 200);
    const jobId = url.split('/').pop()!;
    assert.equal((await objects(`${prefix}/${tenant}/${jobId}/`)).length, done.json.output.length);
    assert.equal((await http(url, { method: 'DELETE' })).status, 202);
    // Cancelled jobs wait out a lease before their files go; expire it now.
    await server.db.pool.query(`UPDATE export_job SET expires_at = now() - interval '1 second' WHERE id = $1`, [jobId]);
    // The server's own sweeper runs on a timer; this one runs now, against the same storage.
    const sweeper = new ExportWorkers({ pool: server.db.pool, storage: S3Storage.fromUrl(storageUrl), config: server.config.export, base: () => base, concurrency: 0, log: console });
    await sweeper.sweep();
    assert.deepEqual(await objects(`${prefix}/${tenant}/${jobId}/`), []);
    const gone = await server.db.pool.query('SELECT 1 FROM export_job WHERE id = $1', [jobId]);
    assert.equal(gone.rowCount, 0, 'the job row goes after its files');
  });

  /** The token of the client that started the exports (jobs belong to their client). */
  async function tokenHeader(): Promise<string | undefined> {
    return `Bearer ${token}`;
  }
});
