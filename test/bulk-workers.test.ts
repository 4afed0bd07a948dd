// Export jobs survive crashes and share work: real `payer-fhir worker` processes, one killed
// with SIGKILL in the middle of an export, two sharing one job — the result is exact every
// time (every resource once, none missing). Also the retention sweep: expired jobs and their
// files leave nothing behind.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { seedTenant } from '../src/seed/load.js';
import { kickOff, poll, repoRoot } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const bin = path.join(repoRoot, 'bin', 'payer-fhir.js');

function startWorker(storageDir: string, extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [bin, 'worker', '--concurrency', '2'], {
    env: { ...process.env, LOG_LEVEL: 'info', EXPORT_STORAGE: `file:${storageDir}`, EXPORT_LEASE_SECONDS: '2', EXPORT_UNIT_SIZE: '50', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves once the worker has logged that it is ready (it then claims within its idle interval). */
async function ready(child: ChildProcess): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('export worker ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
  });
  child.stdout!.resume();
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('export workers: crash resume, sharing, retention', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let storageDir: string;
  let stored: Map<string, number>;
  const children: ChildProcess[] = [];

  before(async () => {
    storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-exports-'));
    // The API process runs no workers: only the child processes do the exporting.
    server = await startServer({ export: { ...loadConfig().export, storage: `file:${storageDir}`, unitSize: 300, leaseSeconds: 2 } }, { workers: 0 });
    ({ tenant, base } = await server.newTenant('workers'));
    await seedTenant(server.db.pool, tenant, { seed: 'workers', members: 60 });
    const { rows } = await server.db.pool.query<{ type: string; n: number }>('SELECT type, count(*)::int AS n FROM resource WHERE tenant = $1 AND NOT deleted GROUP BY type', [tenant]);
    stored = new Map(rows.map((r) => [r.type, r.n]));
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map(stopped));
    await server.close();
    fs.rmSync(storageDir, { recursive: true, force: true });
  });

  /** Downloads a finished export and checks it holds every stored resource exactly once. */
  async function assertExact(manifest: any): Promise<void> {
    const seen = new Map<string, number>();
    for (const item of manifest.output) {
      const r = await http(item.url);
      assert.equal(r.status, 200);
      for (const line of r.text.split('\n').filter(Boolean)) {
        const res = JSON.parse(line);
        const key = `${res.resourceType}/${res.id}`;
        assert.ok(!seen.has(key), `${key} exported twice`);
        seen.set(key, 1);
      }
    }
    const perType = new Map<string, number>();
    for (const key of seen.keys()) perType.set(key.split('/')[0], (perType.get(key.split('/')[0]) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...perType].sort()), Object.fromEntries([...stored].sort()));
  }

  async function progress(jobId: string): Promise<{ done: number; total: number | null }> {
    const { rows } = await server.db.pool.query<{ units_done: number; units_total: number | null }>('SELECT units_done, units_total FROM export_job WHERE id = $1', [jobId]);
    return { done: rows[0].units_done, total: rows[0].units_total };
  }

  it('a worker killed with SIGKILL mid-export: another finishes it, exact', async () => {
    const k = await kickOff(`${base}/$export`);
    assert.equal(k.status, 202);
    const statusUrl = k.headers.get('content-location')!;
    const jobId = statusUrl.split('/').pop()!;
    const first = startWorker(storageDir);
    children.push(first);
    // Kill it as soon as it has finished some units but not all.
    let at: { done: number; total: number | null };
    for (;;) {
      at = await progress(jobId);
      if (at.done >= 2) break;
      await sleep(10);
    }
    first.kill('SIGKILL');
    await stopped(first);
    assert.ok(at.total !== null && at.done < at.total, `the worker was killed mid-export (${at.done}/${at.total})`);
    const killedAt = await progress(jobId);
    assert.ok(killedAt.done < killedAt.total!, 'work was left when the worker died');

    const second = startWorker(storageDir);
    children.push(second);
    const done = await poll(statusUrl);
    assert.equal(done.status, 200, done.text);
    await assertExact(done.json);
    second.kill('SIGTERM');
    await stopped(second);
  });

  it('two worker processes share one job; the result is exact', async () => {
    const a = startWorker(storageDir);
    const b = startWorker(storageDir);
    children.push(a, b);
    await Promise.all([ready(a), ready(b)]);
    const k = await kickOff(`${base}/$export`);
    const statusUrl = k.headers.get('content-location')!;
    const jobId = statusUrl.split('/').pop()!;
    const done = await poll(statusUrl);
    assert.equal(done.status, 200, done.text);
    await assertExact(done.json);
    const { rows } = await server.db.pool.query<{ owner: string }>(
      `SELECT DISTINCT split_part(lease_owner, ':', 2) AS owner FROM export_unit WHERE job_id = $1 AND state = 'done'`,
      [jobId],
    );
    assert.equal(rows.length, 2, 'units were done by both processes');
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    await Promise.all([stopped(a), stopped(b)]);
    assert.equal(a.exitCode, 0, 'SIGTERM stops a worker cleanly');
  });

  it('retention: an expired job and its files are deleted by the sweep; its URLs are 404', async () => {
    const k = await kickOff(`${base}/$export?_type=Patient`);
    const statusUrl = k.headers.get('content-location')!;
    const jobId = statusUrl.split('/').pop()!;
    const w = startWorker(storageDir);
    children.push(w);
    const done = await poll(statusUrl);
    assert.equal(done.status, 200);
    const fileUrl = done.json.output[0].url;
    const jobDir = path.join(storageDir, tenant, jobId);
    assert.ok(fs.readdirSync(jobDir).length > 0);
    // Expire it now; the worker's sweep (at start and then periodically) removes it.
    await server.db.pool.query(`UPDATE export_job SET expires_at = now() - interval '1 second' WHERE id = $1`, [jobId]);
    assert.equal((await http(statusUrl)).status, 404, 'an expired job is gone for clients at once');
    assert.equal((await http(fileUrl)).status, 404);
    w.kill('SIGTERM');
    await stopped(w);
    const sweeper = startWorker(storageDir);
    children.push(sweeper);
    // The sweep removes files first, then the rows: wait for both.
    const jobRows = async () => (await server.db.pool.query('SELECT 1 FROM export_job WHERE id = $1', [jobId])).rows.length;
    for (let i = 0; i < 500 && (fs.existsSync(jobDir) || (await jobRows()) > 0); i++) await sleep(20);
    assert.equal(fs.existsSync(jobDir), false, 'files deleted');
    assert.equal(await jobRows(), 0, 'job rows deleted');
    const units = await server.db.pool.query('SELECT 1 FROM export_unit WHERE job_id = $1 UNION ALL SELECT 1 FROM export_file WHERE job_id = $1', [jobId]);
    assert.equal(units.rows.length, 0, 'unit and file rows deleted with the job');
    sweeper.kill('SIGTERM');
    await stopped(sweeper);
  });
});

describe('KO-44: transactionTime waits for writes in flight at kick-off', () => {
  it('a write stamped before kick-off but committed after it is in the export; nothing changed after is', async () => {
    const server = await startServer({}, { workers: 2 });
    try {
      const { tenant, base } = await server.newTenant('snapshot');
      const { performWrites } = await import('../src/interactions/writes.js');
      const client = await server.db.pool.connect();
      try {
        await client.query('BEGIN');
        await performWrites(client, tenant, [{ method: 'PUT', type: 'Patient', id: 'in-flight', resource: { resourceType: 'Patient', id: 'in-flight', gender: 'female' } }]);
        const k = await kickOff(`${base}/$export?_type=Patient`);
        assert.equal(k.status, 202);
        const statusUrl = k.headers.get('content-location')!;
        // The job cannot run while the write it must see is uncommitted.
        await sleep(1500);
        const waiting = await http(statusUrl);
        assert.equal(waiting.status, 202, 'still waiting for the in-flight write');
        await client.query('COMMIT');
        // A write after kick-off is after transactionTime: not in this export.
        assert.equal((await http(`${base}/Patient/after-kickoff`, { method: 'PUT', body: { resourceType: 'Patient', id: 'after-kickoff' } })).status, 201);
        const done = await poll(statusUrl);
        assert.equal(done.status, 200, done.text);
        const file = await http(done.json.output[0].url);
        const ids = file.text.split('\n').filter(Boolean).map((l) => JSON.parse(l).id);
        assert.deepEqual(ids, ['in-flight']);
      } finally {
        client.release();
      }
    } finally {
      await server.close();
    }
  });
});

describe('ST-10: a job that cannot be written fails with a reason', () => {
  it('storage that refuses writes → after the allowed attempts the status is 500 OperationOutcome, and the slot is free', async () => {
    const blocker = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-blocked-'));
    const notADir = path.join(blocker, 'file');
    fs.writeFileSync(notADir, 'a file where the export folder should be');
    const server = await startServer({ export: { ...loadConfig().export, storage: `file:${notADir}`, maxAttempts: 2, maxJobsPerClient: 1 } }, { workers: 1 });
    try {
      const { base } = await server.newTenant('failing');
      assert.equal((await http(`${base}/Patient/p1`, { method: 'PUT', body: { resourceType: 'Patient', id: 'p1' } })).status, 201);
      const k = await kickOff(`${base}/$export`);
      assert.equal(k.status, 202);
      const r = await poll(k.headers.get('content-location')!);
      assert.equal(r.status, 500);
      assert.equal(r.json.resourceType, 'OperationOutcome');
      assert.match(r.json.issue[0].diagnostics, /The export failed: an internal error occurred while writing the export files/);
      assert.doesNotMatch(r.text, /ENOTDIR|\/tmp\//, 'no internal paths or error codes');
      // A failed job no longer counts against the client's running exports (KO-42).
      assert.equal((await kickOff(`${base}/$export`)).status, 202);
    } finally {
      await server.close();
      fs.rmSync(blocker, { recursive: true, force: true });
    }
  });
});
