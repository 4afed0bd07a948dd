/**
 * Import benchmark: how fast `importFiles` loads a large NDJSON file (validation, indexing,
 * history, one transaction per batch), against the floor PostgreSQL itself sets on this
 * machine — a bare COPY of the same lines into an unindexed one-column temp table.
 *
 *   npm run bench -- import          (BENCH_IMPORT_RESOURCES=200000 by default)
 *
 * Prints a table, then one JSON line: {"bench":"import","figures":[…]}.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadConfig } from '../src/config.js';
import { setInvariantChecking, warmUpValidation } from '../src/fhir/validation.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, importFiles } from '../src/import/import.js';
import { openDatabase } from '../src/store/database.js';
import { dropTenant, figure, table, withPeakRss, type Figure } from './lib/report.js';
import { addTenant } from '../src/store/tenants.js';
import { loadTemplate, writeDataset } from './lib/fixture-dataset.js';

const RESOURCES = Number(process.env.BENCH_IMPORT_RESOURCES ?? 200_000);
/** The goal on a 2-core machine. */
const GOAL_PER_S = 5000;
const MB = 1024 * 1024;

/** The floor: PostgreSQL storing the same bytes with no parsing, indexing, WAL or round trips. */
async function bareCopy(pool: pg.Pool, file: string): Promise<{ rows: number; ms: number }> {
  const client = await pool.connect();
  try {
    await client.query('CREATE TEMP TABLE bench_import_copy (line text)');
    // CSV with quote and delimiter bytes that never occur in JSON text: each line lands
    // unchanged, with none of text format's backslash unescaping.
    const sql = `COPY bench_import_copy (line) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')`;
    const started = performance.now();
    const sink = client.query(copyFrom(sql));
    await pipeline(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), sink);
    const ms = performance.now() - started;
    return { rows: Number(sink.rowCount), ms };
  } finally {
    await client.query('DROP TABLE IF EXISTS bench_import_copy').catch(() => undefined);
    client.release();
  }
}

async function main(): Promise<void> {
  const db = await openDatabase(loadConfig(), (m) => process.stderr.write(`${m}\n`));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-bench-import-'));
  const tenant = `bench-import-${crypto.randomBytes(4).toString('hex')}`;
  const plainTenant = `${tenant}-plain`;
  try {
    const file = path.join(dir, 'fixture-copies.ndjson');
    const template = loadTemplate();
    for (const s of template.skipped) process.stderr.write(`left out (invalid R4): ${s}\n`);
    const lines = await writeDataset(template, file, RESOURCES);
    const bytes = fs.statSync(file).size;
    process.stderr.write(`data set: ${lines} resources, ${(bytes / MB).toFixed(0)} MB NDJSON\n`);
    await addTenant(db.pool, tenant);
    await addTenant(db.pool, plainTenant);
    warmUpValidation();

    // The same import without the R4 invariants first (into its own tenant): what they cost.
    setInvariantChecking(false);
    const plainCpuBefore = process.cpuUsage();
    const plain = await importFiles(db.pool, plainTenant, [file]);
    const plainCpu = process.cpuUsage(plainCpuBefore);
    setInvariantChecking(true);
    if (!plain.ok || plain.written !== lines) throw new Error(`import without invariants wrote ${plain.written} of ${lines} resources`);
    await dropTenant(db.pool, plainTenant);

    const cpuBefore = process.cpuUsage();
    const { result, peakRss } = await withPeakRss(() => importFiles(db.pool, tenant, [file]));
    const cpu = process.cpuUsage(cpuBefore);
    if (!result.ok || result.written !== lines) {
      throw new Error(`import wrote ${result.written} of ${lines} resources; first issues: ${JSON.stringify(result.issues.slice(0, 3))}`);
    }
    const importMs = result.elapsedMs;
    const copy = await bareCopy(db.pool, file);
    if (copy.rows !== lines) throw new Error(`COPY loaded ${copy.rows} rows, expected ${lines}`);

    const importRate = lines / (importMs / 1000);
    const plainRate = lines / (plain.elapsedMs / 1000);
    /** The share of import throughput the invariants cost (issue #16's goal: at most 15%). */
    const invariantCost = Math.max(0, 1 - importRate / plainRate) * 100;
    const copyRate = copy.rows / (copy.ms / 1000);
    const peakMb = peakRss / MB;
    process.stdout.write(
      table([
        ['', 'rows', 'seconds', 'rows/s', 'peak RSS MB'],
        ['import (validate, index, write)', String(lines), (importMs / 1000).toFixed(2), importRate.toFixed(0), peakMb.toFixed(0)],
        ['import without R4 invariants', String(lines), (plain.elapsedMs / 1000).toFixed(2), plainRate.toFixed(0), '-'],
        ['bare COPY into temp table', String(copy.rows), (copy.ms / 1000).toFixed(2), copyRate.toFixed(0), '-'],
      ]) +
        `\n\nR4 invariant checking costs ${invariantCost.toFixed(1)}% of import throughput (goal: at most 15%);` +
        ` the importing process used ${Math.round((plainCpu.user + plainCpu.system) / lines)} µs CPU per resource without them` +
        `\n\ndata: ${(bytes / MB).toFixed(0)} MB NDJSON; batches of ${DEFAULT_BATCH_SIZE}, ${DEFAULT_CONCURRENCY} at once; goal ${GOAL_PER_S} resources/s` +
        `\nimport at ${((importRate / copyRate) * 100).toFixed(1)}% of COPY speed; the importing process used ${Math.round((cpu.user + cpu.system) / lines)} µs CPU` +
        ` per resource (${(((cpu.user + cpu.system) / 1000 / importMs) * 100).toFixed(0)}% of one core), PostgreSQL's work comes on top\n`,
    );
    const figures = [
      figure('import_rate_vs_copy', importRate, 'resources/s', copyRate),
      figure('import_rate_vs_goal', importRate, 'resources/s', GOAL_PER_S),
      figure('import_wall_time', importMs / 1000, 's', copy.ms / 1000),
      figure('import_invariant_cost', invariantCost, '%', 15),
      // Flat memory: the data set is hundreds of MB, the import should stay far below it.
      figure('import_peak_rss', peakMb, 'MB', bytes / MB),
    ];
    process.stdout.write(`${JSON.stringify({ bench: 'import', figures })}\n`);
  } finally {
    await dropTenant(db.pool, tenant).catch((err) => process.stderr.write(`cleanup failed: ${(err as Error).message}\n`));
    await dropTenant(db.pool, plainTenant).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`bench import: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
