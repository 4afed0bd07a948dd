/**
 * `importFiles`: loads NDJSON files, Bundles and single-resource JSON files into a tenant
 * through the API's own validation (`validateResource`) and write pipeline (`performWrites`).
 *
 * onError 'skip' (default): bad lines and resources are reported and skipped, the rest is
 * written in batches, each its own transaction. onError 'abort': each file is one
 * transaction; the first error rolls back everything from that file and stops the import.
 * Either way a database failure stops the import: it is never mistaken for a bad resource.
 */
import { ANALYZE_AFTER_RESOURCES, refreshStatistics } from '../store/statistics.js';
import type pg from 'pg';
import { isResourceType } from '../fhir/schema.js';
import { validateResource } from '../fhir/validation.js';
import { tenantExists } from '../store/tenants.js';
import { Batcher, ImportStopped } from './batcher.js';
import { entriesBundleType, importBundle, type Reject } from './bundles.js';
import { collectFiles, type ImportFile } from './files.js';
import { claimedType, claimedTypeOfText, lineItem, resourceRequest, type ImportItem } from './items.js';
import { ImportFileError, ndjsonLines, readJsonFile } from './readers.js';
import { Progress, type ImportProgress } from './progress.js';
import { ImportTally, reasonOf, type ImportIssue, type ImportResult } from './report.js';
import { beginStatement, flushCommits, savepointPerBatch, transactionPerBatch } from './sinks.js';
import { mayHoldUrnReference, UrnReferences, type OnUnresolved } from './urn-references.js';

export interface ImportOptions {
  onError?: 'skip' | 'abort';
  /**
   * An NDJSON `urn:uuid:` reference that matches no resource of the run or the tenant, or
   * several: 'reject' (default) rejects its line, 'keep' stores it as written with a warning.
   */
  onUnresolved?: OnUnresolved;
  /** Resources per write (and per database transaction in skip mode). */
  batchSize?: number;
  /** Batches written at once in skip mode, each on its own connection (abort mode writes one at a time). */
  concurrency?: number;
  /** Largest JSON (non-NDJSON) file accepted, bytes after decompression. */
  maxJsonBytes?: number;
  /** Every rejected line, resource or file, as it happens. */
  onIssue?: (issue: ImportIssue) => void;
  /** Called a few times a second and once at the end. */
  onProgress?: (progress: ImportProgress) => void;
}

export type { ImportProgress } from './progress.js';
export { formatIssue, type ImportIssue, type ImportResult, type TypeCounts } from './report.js';

export class UnknownTenantError extends Error {
  constructor(tenant: string) {
    super(`unknown tenant '${tenant}'; create it first with: payer-fhir tenants add ${tenant}`);
  }
}

export const DEFAULT_BATCH_SIZE = 500;
export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_MAX_JSON_BYTES = 512 * 1024 * 1024;

/** What reading one file needs; the queue is per import (skip) or per file transaction (abort). */
interface FileRun {
  file: ImportFile;
  queue: Batcher;
  reject: Reject;
  progress: Progress;
  maxJsonBytes: number;
  /** Resolution of NDJSON `urn:uuid:` references; undefined when the run has none. */
  urns?: UrnReferences;
  keepUnresolved: boolean;
  warn: (issue: ImportIssue) => void;
}

function knownType(type: string | undefined): string | undefined {
  return type && isResourceType(type) ? type : undefined;
}

function isBlank(text: string): boolean {
  return text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '');
}

/** Lines parsed between two turns of the event loop (see readNdjson). */
const YIELD_EVERY = 32;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function readNdjson(run: FileRun): Promise<void> {
  const path = run.file.path;
  let sinceTurn = 0;
  for await (const { line, text } of ndjsonLines(run.file, (n) => run.progress.bytes(n))) {
    // Buffered lines arrive without the event loop turning, and the batch being written
    // needs several round trips, each answered only when it turns: parsing must let it.
    if (++sinceTurn === YIELD_EVERY) {
      sinceTurn = 0;
      await turn();
    }
    if (isBlank(text)) continue;
    run.progress.resources();
    let item: ImportItem;
    try {
      item = lineItem(path, line, text);
    } catch (err) {
      run.reject({ file: path, line, type: knownType(claimedTypeOfText(text)), message: reasonOf(err) });
      continue;
    }
    if (run.urns && mayHoldUrnReference(text) && !resolveUrns(run, item)) continue;
    const wait = run.queue.add(item);
    if (wait) await wait;
  }
}

/** Rewrites the item's `urn:uuid:` references; false when the line is rejected for one left unresolved. */
function resolveUrns(run: FileRun, item: ImportItem): boolean {
  const left = run.urns!.resolve(item.request.resource);
  if (!left.length) return true;
  const type = item.request.type;
  const label = item.request.label ?? type;
  if (!run.keepUnresolved) {
    run.reject({ file: item.file, line: item.line, type, message: left.map((u) => `${label}: ${u.reason}`).join('; ') });
    return false;
  }
  for (const u of left) run.warn({ file: item.file, line: item.line, type, message: `${label}: ${u.reason}; stored as written` });
  item.request.keepUrnReferences = true;
  return true;
}

async function readJson(run: FileRun): Promise<void> {
  const path = run.file.path;
  const value = await readJsonFile(run.file, run.maxJsonBytes);
  run.progress.bytes(run.file.size);
  const bundleType = entriesBundleType(value);
  if (bundleType) {
    const entries = await importBundle(value, bundleType, path, run.queue, run.reject);
    run.progress.resources(entries);
    return;
  }
  run.progress.resources();
  let item: ImportItem;
  try {
    item = { file: path, line: 1, request: resourceRequest(validateResource(value)) };
  } catch (err) {
    run.reject({ file: path, line: 1, type: knownType(claimedType(value)), message: reasonOf(err) });
    return;
  }
  await run.queue.add(item);
}

async function readFile(run: FileRun): Promise<void> {
  run.progress.file(run.file.path);
  try {
    await (run.file.format === 'ndjson' ? readNdjson(run) : readJson(run));
  } catch (err) {
    if (!(err instanceof ImportFileError)) throw err;
    run.reject({ file: run.file.path, line: err.line, message: err.message });
  }
}

/**
 * Imports files and folders (recursively) into `tenant`. Throws before writing anything when
 * the tenant is unknown or a path is unusable; everything else is reported in the result.
 */
export async function importFiles(pool: pg.Pool, tenant: string, paths: string[], options: ImportOptions = {}): Promise<ImportResult> {
  const started = performance.now();
  if (!(await tenantExists(pool, tenant))) throw new UnknownTenantError(tenant);
  const files = await collectFiles(paths);
  const begin = await beginStatement(pool);
  const abort = options.onError === 'abort';
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const maxJsonBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
  const tally = new ImportTally(options.onIssue);
  const urns = await UrnReferences.prepare(pool, tenant, files);
  const keepUnresolved = options.onUnresolved === 'keep';
  const warn = (issue: ImportIssue) => tally.warn(issue);
  const progress = new Progress(
    files.reduce((n, f) => n + f.size, 0),
    tally,
    options.onProgress,
  );
  let stopped = false;
  const reject: Reject = (issue) => {
    // After an abort, a rejection found by a write still in flight is not news.
    if (stopped) return;
    tally.reject(issue);
    if (abort) {
      stopped = true;
      throw new ImportStopped(`${issue.file}:${issue.line}: ${issue.message}`);
    }
  };
  const rejectItem = (item: ImportItem, err: unknown) =>
    reject({ file: item.file, line: item.line, type: knownType(item.request.type), message: reasonOf(err) });

  let stoppedAt: string | undefined;
  let current: ImportFile | undefined;
  try {
    if (!abort) {
      // Batches run across file boundaries: a folder of small files loads as fast as one big file.
      const queue = new Batcher(transactionPerBatch(pool, tenant, begin), batchSize, concurrency, tally, rejectItem);
      try {
        for (const file of files) {
          current = file;
          await readFile({ file, queue, reject, progress, maxJsonBytes, urns, keepUnresolved, warn });
        }
        await queue.drain();
      } finally {
        await queue.settle();
      }
    } else {
      for (const file of files) {
        current = file;
        await importFileInTransaction(pool, tenant, begin, { file, reject, progress, maxJsonBytes, urns, keepUnresolved, warn }, batchSize, tally, rejectItem);
      }
    }
  } catch (err) {
    if (!(err instanceof ImportStopped)) throw err;
    stopped = true;
    if (err.issue) tally.reject(err.issue);
    stoppedAt = err.issue?.file ?? current?.path;
  }
  await flushCommits(pool);
  progress.emit(true);
  const result = tally.result(files.length, stoppedAt === undefined, performance.now() - started);
  if (result.written >= ANALYZE_AFTER_RESOURCES) await refreshStatistics(pool);
  return { ...result, ...(stoppedAt ? { stoppedAt } : {}) };
}

/** abort mode: the file's writes commit together or not at all; counts join the total only on commit. */
async function importFileInTransaction(
  pool: pg.Pool,
  tenant: string,
  begin: string,
  run: Omit<FileRun, 'queue'>,
  batchSize: number,
  tally: ImportTally,
  rejectItem: (item: ImportItem, err: unknown) => void,
): Promise<void> {
  const client: pg.PoolClient = await pool.connect();
  const pending = new ImportTally();
  const queue = new Batcher(savepointPerBatch(client, tenant), batchSize, 1, pending, rejectItem);
  let clean = true;
  try {
    await client.query(begin);
    await readFile({ ...run, queue });
    await queue.drain();
    await client.query('COMMIT');
    tally.absorbWrites(pending);
  } catch (err) {
    // The write in flight must finish first: a ROLLBACK queued between two of its statements
    // would end the transaction and let the rest of them autocommit.
    await queue.settle();
    clean = await client.query('ROLLBACK').then(
      () => true,
      () => false,
    );
    throw err;
  } finally {
    // A connection whose rollback did not happen must not go back to the pool.
    client.release(clean ? undefined : true);
  }
}
