/**
 * Export benchmark: a system-level $export through the real HTTP API and real worker
 * processes, next to the practical limit measured in the same run — a plain
 * `COPY (SELECT the same JSON) TO` a file on the same database. Also: the server's peak
 * memory on a 1× and a 4× data set (it must stay flat), a Group export of 10% of the members
 * against the system export, and 2 worker processes against 1.
 *
 *   npm run bench -- export     (BENCH_EXPORT_MEMBERS=10000 → about 1.1 million resources)
 *
 * Seeded tenants are kept between runs (bench-export-<members>) because seeding a million
 * resources takes minutes; BENCH_EXPORT_RESEED=1 rebuilds them, BENCH_EXPORT_DROP=1 drops them at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import type pg from 'pg';
import { addClient } from '../src/auth/clients.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/store/database.js';
import { dropTenant, figure, printFigures, table, type Figure } from './lib/report.js';
import { freePort, peakRss } from './lib/process.js';
import { ensureSeeded } from './lib/seeded.js';

const MEMBERS = Number(process.env.BENCH_EXPORT_MEMBERS ?? 10_000);
const root = path.dirname(path.dirname(path.dirname(new URL(import.meta.url).pathname)));
const bin = path.join(root, 'bin', 'payer-fhir.js');
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));



/** The limit: PostgreSQL streaming the same JSON to a file with COPY, nothing else. */
async function copyLimit(pool: pg.Pool, tenant: string, dir: string): Promise<{ seconds: number; bytes: number }> {
  const client = await pool.connect();
  try {
    const file = path.join(dir, 'copy-limit.ndjson');
    await client.query('SET statement_timeout = 0');
    const started = performance.now();
    const t = client.escapeLiteral(tenant);
    await pipeline(client.query(copyTo(`COPY (SELECT content FROM resource WHERE tenant = ${t} AND NOT deleted) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`)), fs.createWriteStream(file));
    const seconds = (performance.now() - started) / 1000;
    const bytes = fs.statSync(file).size;
    fs.rmSync(file);
    return { seconds, bytes };
  } finally {
    client.release();
  }
}

/** Every child started, so a failed run leaves no server behind. */
const children: ChildProcess[] = [];

interface Proc {
  child: ChildProcess;
  origin: string;
}

function env(port: number, storage: string): NodeJS.ProcessEnv {
  return { ...process.env, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, EXPORT_STORAGE: `file:${storage}`, LOG_LEVEL: 'warn', RATE_LIMIT_CLIENT: '0' };
}

async function startServe(storage: string, workers: number): Promise<Proc> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--workers', String(workers)], { env: env(port, storage), stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (await fetch(`${origin}/healthz`).then((r) => r.ok, () => false)) return { child, origin };
    await sleep(100);
  }
  throw new Error('serve did not start');
}

function startWorker(storage: string, port: number): ChildProcess {
  const child = spawn(process.execPath, [bin, 'worker', '--concurrency', '2'], { env: env(port, storage), stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

async function token(pool: pg.Pool, origin: string, tenant: string, scope = 'system/*.rs'): Promise<string> {
  const { client_id, client_secret } = await addClient(pool, { tenant, name: 'bench export', secret: true, scope, tokenTtl: 3600 });
  const res = await fetch(`${origin}/auth/${tenant}/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  const json = (await res.json()) as { access_token: string };
  return json.access_token;
}

/** Kick-off to complete manifest, polling at the Retry-After asked; resources and bytes written. */
async function timeExport(pool: pg.Pool, url: string, bearer: string): Promise<{ seconds: number; jobSeconds: number; resources: number; bytes: number }> {
  const headers = { authorization: `Bearer ${bearer}`, accept: 'application/fhir+json', prefer: 'respond-async' };
  const started = performance.now();
  const k = await fetch(url, { headers });
  if (k.status !== 202) throw new Error(`kick-off ${k.status}: ${await k.text()}`);
  const status = k.headers.get('content-location')!;
  for (;;) {
    const r = await fetch(status, { headers: { authorization: `Bearer ${bearer}` } });
    if (r.status === 200) {
      const seconds = (performance.now() - started) / 1000;
      const manifest = (await r.json()) as { output: { count: number }[] };
      const jobId = status.split('/').pop()!;
      const { rows } = await pool.query<{ b: string; s: number }>(
        `SELECT coalesce((SELECT sum(bytes) FROM export_file WHERE job_id = $1), 0) AS b,
                (SELECT extract(epoch FROM completed_at - created_at)::float8 FROM export_job WHERE id = $1) AS s`,
        [jobId],
      );
      // The job's own time (kick-off to last unit), without the client's polling interval.
      const jobSeconds = rows[0].s;
      await fetch(status, { method: 'DELETE', headers: { authorization: `Bearer ${bearer}` } });
      return { seconds, jobSeconds, resources: manifest.output.reduce((n, o) => n + o.count, 0), bytes: Number(rows[0].b) };
    }
    if (r.status !== 202) throw new Error(`status ${r.status}: ${await r.text()}`);
    await sleep(Math.min(1000, Number(r.headers.get('retry-after') ?? 1) * 1000));
  }
}

async function main(): Promise<void> {
  const db = await openDatabase(loadConfig(), (m) => process.stderr.write(`${m}\n`));
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-bench-export-'));
  const figures: Figure[] = [];
  const rows: string[][] = [['run', 'resources', 'seconds', 'res/s', 'MB/s', 'peak RSS MB']];
  const row = (name: string, n: number, s: number, bytes: number, rss?: number) =>
    rows.push([name, String(n), s.toFixed(1), Math.round(n / s).toString(), (bytes / MB / s).toFixed(1), rss ? (rss / MB).toFixed(0) : '']);
  try {
    const small = await ensureSeeded(db.pool, Math.max(1, Math.round(MEMBERS / 4)));
    const large = await ensureSeeded(db.pool, MEMBERS);
    const rss: Record<string, number> = {};
    let system1x: { seconds: number; jobSeconds: number; resources: number; bytes: number } | undefined;
    for (const [label, data] of [['1×', small], ['4×', large]] as const) {
      const limit = await copyLimit(db.pool, data.tenant, storage);
      row(`COPY limit ${label}`, data.resources, limit.seconds, limit.bytes);
      const serve = await startServe(storage, 2);
      const bearer = await token(db.pool, serve.origin, data.tenant);
      const base = `${serve.origin}/payer/system-access/v2/${data.tenant}`;
      const run = await timeExport(db.pool, `${base}/$export`, bearer);
      if (run.resources !== data.resources) throw new Error(`export wrote ${run.resources} resources, the tenant holds ${data.resources}`);
      rss[label] = peakRss(serve.child.pid!);
      row(`system export ${label} (serve, 2 workers)`, run.resources, run.seconds, run.bytes, rss[label]);
      if (label === '4×') {
        figures.push(figure('system export resources/s vs COPY (goal ≥ 0.5)', run.resources / run.seconds, 'res/s', data.resources / limit.seconds));
        figures.push(figure('system export MB/s vs COPY', run.bytes / MB / run.seconds, 'MB/s', limit.bytes / MB / limit.seconds));
        figures.push(figure('system export resources/s vs goal 30,000', run.resources / run.seconds, 'res/s', 30_000));
        system1x = run;
        // Group export of 10% of the members (the first tenth by id), against the system export.
        const { rows: ids } = await db.pool.query<{ id: string }>(`SELECT id FROM resource WHERE tenant = $1 AND type = 'Patient' AND NOT deleted ORDER BY id`, [data.tenant]);
        const members = ids.slice(0, Math.ceil(ids.length / 10)).map((r) => ({ entity: { reference: `Patient/${r.id}` } }));
        const put = await fetch(`${base}/Group/bench-tenth`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${await token(db.pool, serve.origin, data.tenant, 'system/Group.cu')}`, 'content-type': 'application/fhir+json' },
          body: JSON.stringify({ resourceType: 'Group', id: 'bench-tenth', type: 'person', actual: true, member: members }),
        });
        if (put.status >= 300) throw new Error(`Group PUT ${put.status}: ${await put.text()}`);
        const group = await timeExport(db.pool, `${base}/Group/bench-tenth/$export`, bearer);
        row('Group export, 10% of members', group.resources, group.seconds, group.bytes);
        figures.push(figure('Group (10% of members) job time / system job time (goal ≈ 0.1)', group.jobSeconds, 's', run.jobSeconds));
      }
      await stop(serve.child);
    }
    figures.push(figure('server peak RSS 4× vs 1× data (goal ≈ 1, flat)', rss['4×'] / MB, 'MB', rss['1×'] / MB));

    // Worker processes: the API process runs none; 1 then 2 `payer-fhir worker` processes.
    const times: number[] = [];
    for (const n of [1, 2]) {
      const serve = await startServe(storage, 0);
      const port = Number(new URL(serve.origin).port);
      const workers = Array.from({ length: n }, () => startWorker(storage, port));
      await sleep(1500);
      const bearer = await token(db.pool, serve.origin, large.tenant);
      const run = await timeExport(db.pool, `${serve.origin}/payer/system-access/v2/${large.tenant}/$export`, bearer);
      row(`system export 4×, ${n} worker process${n > 1 ? 'es' : ''}`, run.resources, run.seconds, run.bytes, Math.max(...workers.map((w) => peakRss(w.pid!))));
      times.push(run.seconds);
      await Promise.all(workers.map(stop));
      await stop(serve.child);
    }
    figures.push(figure('2 worker processes vs 1 (speed-up)', times[0] / times[1], '×', 1));
    if (!system1x) throw new Error('no system export measured');
    process.stdout.write(`${table(rows)}\n\n${table([['figure', 'value', 'unit', 'limit', 'ratio'], ...figures.map((f) => [f.name, String(f.value), f.unit, String(f.limit), String(f.ratio)])])}\n`);
    printFigures('export', figures);
    if (process.env.BENCH_EXPORT_DROP === '1') {
      await dropTenant(db.pool, small.tenant);
      await dropTenant(db.pool, large.tenant);
    }
  } finally {
    await Promise.all(children.map(stop));
    fs.rmSync(storage, { recursive: true, force: true });
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
