/**
 * SQL on FHIR views benchmark, in one run:
 * - `$viewdefinition-export` of the shipped claim-lines view against the system `$export` of the
 *   same ExplanationOfBenefit resources (`_type=ExplanationOfBenefit`), on a 1× and a 4× plan,
 *   each in a fresh `serve` process with 2 workers: rows/s and source resources/s from the jobs'
 *   own times (kick-off to last unit), the ratio of resources/s (goal ≥ 0.5), and the server's
 *   peak RSS after the view export at 1× and 4× (goal: flat);
 * - where a view unit's time goes, in this process on the 1× plan: the same EOB JSON streamed
 *   by COPY alone, then parsed, then turned into rows by the compiled view (FHIRPath in the
 *   worker) — what compiling views to PostgreSQL JSON SQL could at most save;
 * - `$run` of the member-months view for one member at 16 connections (goal p99 < 50 ms).
 *
 *   npm run bench -- views   (BENCH_VIEWS_MEMBERS=10000 is the 4× plan, 1× is a quarter of it;
 *                             BENCH_VIEWS_SECONDS=10 for the $run load)
 *
 * The plans are the export benchmark's (`bench-export-<members>`, kept between runs).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type pg from 'pg';
import { copyLines } from '../src/bulk/copy-lines.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/store/database.js';
import { loadShippedViews, shippedViews } from '../src/views/library.js';
import { compileView } from '../src/views/runner.js';
import { figure, printFigures, table, type Figure } from './lib/report.js';
import { peakRss } from './lib/process.js';
import { secretClientToken, startServeProcess } from './lib/server.js';
import { ensureSeeded } from './lib/seeded.js';

const MEMBERS = Number(process.env.BENCH_VIEWS_MEMBERS ?? 10_000);
const SECONDS = Number(process.env.BENCH_VIEWS_SECONDS ?? 10);
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const servers: { stop: () => Promise<void> }[] = [];



/** A fresh `serve` with 2 workers on the bench's storage; units of 5,000 resources, so both plans keep both workers busy (memory is per running unit). */
function startServe(storage: string): ReturnType<typeof startServeProcess> {
  return startServeProcess({ EXPORT_STORAGE: `file:${storage}`, RATE_LIMIT_CLIENT: '0', EXPORT_RETRY_AFTER: '1', EXPORT_UNIT_SIZE: '5000' }, 2);
}

interface JobFigures {
  jobSeconds: number;
  resources: number;
  rows: number;
  bytes: number;
}

/** Kick-off to finished job; the job's own time and counts from its rows (the status answer differs between the two operations). */
async function timeJob(pool: pg.Pool, kick: () => Promise<Response>, auth: string): Promise<JobFigures> {
  const k = await kick();
  if (k.status !== 202) throw new Error(`kick-off ${k.status}: ${await k.text()}`);
  const status = k.headers.get('content-location')!;
  for (;;) {
    const r = await fetch(status, { headers: { authorization: auth } });
    if (r.status === 200) break;
    if (r.status !== 202) throw new Error(`status ${r.status}: ${await r.text()}`);
    await sleep(1000);
  }
  const jobId = status.split('/').pop()!;
  const { rows } = await pool.query<{ s: number; resources: string; n: string; b: string }>(
    `SELECT extract(epoch FROM completed_at - created_at)::float8 AS s, resources_done AS resources,
            coalesce((SELECT sum(count) FROM export_file WHERE job_id = $1 AND kind = 'output'), 0) AS n,
            coalesce((SELECT sum(bytes) FROM export_file WHERE job_id = $1 AND kind = 'output'), 0) AS b
       FROM export_job WHERE id = $1`,
    [jobId],
  );
  await fetch(status, { method: 'DELETE', headers: { authorization: auth } });
  return { jobSeconds: rows[0].s, resources: Number(rows[0].resources), rows: Number(rows[0].n), bytes: Number(rows[0].b) };
}

/** COPY alone, COPY + JSON.parse, COPY + parse + view rows: resources/s of each over the tenant's EOBs. */
async function unitCost(pool: pg.Pool, tenant: string, claimLines: Record<string, unknown>): Promise<{ copy: number; parse: number; view: number; n: number }> {
  const view = compileView(claimLines);
  const st = { sql: `SELECT content FROM resource WHERE tenant = $1 AND type = 'ExplanationOfBenefit' AND NOT deleted`, values: [tenant] };
  const signal = new AbortController().signal;
  const pass = async (work: (line: string) => void): Promise<{ n: number; seconds: number }> => {
    let n = 0;
    const started = performance.now();
    await copyLines(pool, st, signal, async (lines) => {
      for (const line of lines.toString('utf8').split('\n')) {
        if (!line) continue;
        work(line);
        n++;
      }
    });
    return { n, seconds: (performance.now() - started) / 1000 };
  };
  const copy = await pass(() => undefined);
  const parse = await pass((l) => JSON.parse(l));
  const rows = await pass((l) => view.rows(JSON.parse(l) as Record<string, unknown>));
  return { copy: copy.n / copy.seconds, parse: parse.n / parse.seconds, view: rows.n / rows.seconds, n: rows.n };
}

async function main(): Promise<void> {
  const db = await openDatabase(loadConfig(), (m) => process.stderr.write(`${m}\n`));
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-bench-views-'));
  const figures: Figure[] = [];
  const rows: string[][] = [['run', 'source resources', 'rows', 'job s', 'res/s', 'rows/s', 'peak RSS MB']];
  const claimLines = (await shippedViews()).find((v) => v.id === 'claim-lines')! as unknown as Record<string, unknown>;
  try {
    const small = await ensureSeeded(db.pool, Math.max(1, Math.round(MEMBERS / 4)));
    const large = await ensureSeeded(db.pool, MEMBERS);
    const rss: Record<string, number> = {};
    for (const [label, data] of [['1×', small], ['4×', large]] as const) {
      await loadShippedViews(db.pool, data.tenant);
      const serve = await startServe(storage);
      servers.push(serve);
      const auth = await secretClientToken(db.pool, serve.origin, data.tenant, { name: 'bench views' });
      const base = `${serve.origin}/payer/system-access/v2/${data.tenant}`;
      const headers = { authorization: auth, accept: 'application/fhir+json', prefer: 'respond-async', 'content-type': 'application/fhir+json' };
      const body = JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'view', part: [{ name: 'viewReference', valueReference: { reference: 'ViewDefinition/claim-lines' } }] }, { name: '_format', valueCode: 'parquet' }] });
      const view = await timeJob(db.pool, () => fetch(`${base}/$viewdefinition-export`, { method: 'POST', headers, body }), auth);
      rss[label] = peakRss(serve.child.pid!);
      const bulk = await timeJob(db.pool, () => fetch(`${base}/$export?_type=ExplanationOfBenefit`, { headers }), auth);
      if (bulk.resources !== view.resources) throw new Error(`the view export read ${view.resources} EOBs, $export wrote ${bulk.resources}`);
      rows.push([`$viewdefinition-export claim_lines (parquet) ${label}`, String(view.resources), String(view.rows), view.jobSeconds.toFixed(1), Math.round(view.resources / view.jobSeconds).toString(), Math.round(view.rows / view.jobSeconds).toString(), (rss[label] / MB).toFixed(0)]);
      rows.push([`$export _type=ExplanationOfBenefit ${label}`, String(bulk.resources), '', bulk.jobSeconds.toFixed(1), Math.round(bulk.resources / bulk.jobSeconds).toString(), '', '']);
      if (label === '4×') {
        figures.push(figure('view export source resources/s vs $export of the same EOBs (goal ≥ 0.5)', view.resources / view.jobSeconds, 'res/s', bulk.resources / bulk.jobSeconds));
        figures.push(figure('view export rows/s (claim lines)', view.rows / view.jobSeconds, 'rows/s', view.rows / view.jobSeconds));
        // $run of member months for one member (one with coverage), 16 connections.
        const { rows: member } = await db.pool.query<{ patient_id: string }>(
          `SELECT patient_id FROM resource_compartment WHERE tenant = $1 AND type = 'Coverage' ORDER BY patient_id LIMIT 1`,
          [data.tenant],
        );
        const url = `${base}/ViewDefinition/member-months/$run?patient=${member[0].patient_id}&_format=json`;
        const check = await fetch(url, { headers: { authorization: auth } });
        if (check.status !== 200) throw new Error(`$run ${check.status}: ${await check.text()}`);
        // The same member's Coverages by search, same load: what this host answers at 16 connections anyway.
        const search = `${base}/Coverage?patient=${member[0].patient_id}`;
        for (const [name, target] of [['search Coverage?patient (baseline)', search], ['$run member_months', url]] as const) {
          const load = await autocannon({ url: target, connections: 16, duration: SECONDS, headers: { authorization: auth } });
          if (load.non2xx || load.errors) throw new Error(`${name} under load: ${load.non2xx} non-2xx, ${load.errors} errors`);
          rows.push([`${name}, one member, 16 connections: p50 ${load.latency.p50} ms, p99 ${load.latency.p99} ms, ${Math.round(load.requests.average)} req/s`, '', '', '', '', '', '']);
          if (name.startsWith('$run')) figures.push(figure('$run member_months one member p99 at 16 connections (goal < 50 ms)', load.latency.p99, 'ms', 50));
          else figures.push(figure('Coverage?patient search of the same member, p99 at 16 connections (this host)', load.latency.p99, 'ms', 50));
        }
      }
      await serve.stop();
    }
    figures.push(figure('server peak RSS after the view export, 4× vs 1× data (goal ≈ 1, flat)', rss['4×'] / MB, 'MB', rss['1×'] / MB));
    const cost = await unitCost(db.pool, small.tenant, claimLines);
    rows.push([`unit cost 1×: COPY ${Math.round(cost.copy)} res/s, + JSON.parse ${Math.round(cost.parse)} res/s, + view rows ${Math.round(cost.view)} res/s`, String(cost.n), '', '', '', '', '']);
    figures.push(figure('view evaluation (FHIRPath in the worker) vs COPY + parse alone', cost.view, 'res/s', cost.parse));
    process.stdout.write(`${table(rows)}\n\nplans: 1× = ${small.tenant} (${small.resources} resources), 4× = ${large.tenant} (${large.resources} resources)\n\n`);
    process.stdout.write(`${table([['figure', 'value', 'unit', 'limit', 'ratio'], ...figures.map((f) => [f.name, String(f.value), f.unit, String(f.limit), String(f.ratio)])])}\n`);
    printFigures('views', figures);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    fs.rmSync(storage, { recursive: true, force: true });
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
