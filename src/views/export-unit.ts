/**
 * The work units of `$viewdefinition-export` on the Bulk export machinery. The planning unit
 * splits every view into units over key ranges of its resource type (EXPORT_UNIT_SIZE ids) or,
 * with `patient` / `group`, over ranges of the job's members (EXPORT_UNIT_PATIENTS); a unit's
 * `type` is the view's index in the job. A view unit streams the stored JSON of its range as of
 * the job's transactionTime (`COPY … TO STDOUT`, a few chunks in memory), restricted in SQL by
 * viewReadFilters for the job's recorded client, scopes and partner policy; each resource is
 * seen as that reader sees it (money removed under a partner policy), turned into rows by the
 * compiled view and encoded — on a view thread (./encoder-pool.ts) — into the unit's own files. Runs are repeatable: a unit redone after a
 * lost lease reads the same snapshot and writes files under its new attempt number.
 *
 * A resource the view cannot turn into rows (an error of the view, not of the server) ends the
 * unit with an OperationOutcome error file instead of its output files; the manifest then lists
 * none of that view's files (./export-manifest.ts). Server errors propagate, and the unit is
 * retried like any export unit.
 */
import type pg from 'pg';
import { copyLines } from '../bulk/copy-lines.js';
import type { ClaimedUnit, UnitOutput } from '../bulk/jobs.js';
import { NdjsonParts } from '../bulk/ndjson-writer.js';
import { idRanges, patientRanges, type PlannedUnit } from '../bulk/planner.js';
import type { ExportStorage } from '../bulk/storage.js';
import { hasMembers, viewUnitStatement, type JobSpec } from '../bulk/unit-query.js';
import type { ExportConfig } from '../config.js';
import { FhirError } from '../errors.js';
import { operationOutcome } from '../http/outcome.js';
import { viewReadFilters, type Reader } from './access.js';
import { ViewChunkError, type EncodedChunk } from './chunk-encoder.js';
import { unitEncoder } from './encoder-pool.js';
import { ViewFiles } from './export-files.js';
import { OUTPUT_FORMATS } from './formats.js';

/** About how much stored JSON one hand-over to the encoder carries (EOBs: about a hundred). */
const CHUNK_BYTES = 512 * 1024;

export interface ViewUnitContext {
  pool: pg.Pool;
  storage: ExportStorage;
  config: ExportConfig;
}

/** Every view's units; views over the same type share its key ranges. */
async function planViewUnits(db: pg.Pool, job: JobSpec, cfg: ExportConfig): Promise<PlannedUnit[]> {
  const views = job.params.views!.views;
  const units: PlannedUnit[] = [];
  if (hasMembers(job)) {
    await db.query('ANALYZE export_member');
    const ranges = await patientRanges(db, job, cfg.unitPatients);
    views.forEach((_, i) => ranges.forEach(([lo, hi]) => units.push({ kind: 'view', type: String(i), lo, hi })));
    return units;
  }
  const byType = new Map<string, [string | null, string | null][]>();
  for (const [i, v] of views.entries()) {
    const type = String(v.definition.resource);
    if (!byType.has(type)) byType.set(type, await idRanges(db, job.tenant, type, cfg.unitSize));
    for (const [lo, hi] of byType.get(type)!) units.push({ kind: 'view', type: String(i), lo, hi });
  }
  return units;
}

/** The job's reader: the client and scopes recorded at kick-off, and its partner policy. */
function readerOf(job: JobSpec): Reader {
  return { clientId: job.clientId, scope: job.scope, policy: job.policy };
}

export async function runViewUnit(ctx: ViewUnitContext, unit: ClaimedUnit, job: JobSpec, prefix: string, signal: AbortSignal): Promise<UnitOutput> {
  if (unit.kind === 'plan') return { files: [], resources: 0, units: await planViewUnits(ctx.pool, job, ctx.config) };
  const request = job.params.views!;
  const index = Number(unit.type);
  const spec = request.views[index];
  const type = String(spec.definition.resource);
  const st = viewUnitStatement(job, unit, type, viewReadFilters(readerOf(job), type));
  const format = request.format;
  // The statement selected what the job's reader receives (money removed under a partner policy).
  const encoder = await unitEncoder({ definition: spec.definition, format, header: request.header !== false, policied: job.policy !== undefined }, ctx.config.viewThreads);
  const files = new ViewFiles(ctx.storage, prefix, `view${index}-${spec.name}-${unit.seq}-${unit.attempt}`, OUTPUT_FORMATS[format].extension, (empty) => encoder.end(empty), ctx.config.fileMaxBytes);
  let resources = 0;
  // Chunks handed to the encoder and not yet written: up to two, so a view thread always has
  // the next chunk while this thread writes the last one's bytes, and memory stays bounded
  // (three chunks and the one being gathered).
  const inFlight: Promise<EncodedChunk>[] = [];
  const writeOldest = async () => {
    const chunk = await inFlight.shift()!;
    resources += chunk.resources;
    await files.write(chunk);
  };
  // COPY's lines arrive a socket read at a time (a few resources); they are handed over in
  // chunks of about CHUNK_BYTES, so that the cost of each hand-over to a view thread (a message
  // each way, and waking the other thread) is shared by a hundred resources or so. A gathered
  // chunk is the encoder's from then on (a view thread takes its memory instead of a copy).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const handOver = async () => {
    const gathered = pending.length > 1;
    const encoded = encoder.lines(gathered ? Buffer.concat(pending, pendingBytes) : pending[0], gathered);
    pending = [];
    pendingBytes = 0;
    encoded.catch(() => undefined); // awaited in order below; an early failure must not go unhandled meanwhile
    inFlight.push(encoded);
    while (inFlight.length > 2) await writeOldest();
  };
  try {
    await copyLines(ctx.pool, st, signal, async (lines) => {
      pending.push(lines);
      pendingBytes += lines.length;
      if (pendingBytes >= CHUNK_BYTES) await handOver();
    });
    if (pendingBytes) await handOver();
    while (inFlight.length) await writeOldest();
    // The first unit of a view always writes a file, so every view has at least one (header or schema only when empty).
    const written = await files.finish(unit.lo === null);
    return { files: written.map((f) => ({ ...f, kind: 'output' as const, type })), resources };
  } catch (err) {
    await files.abort();
    if (!(err instanceof FhirError) || signal.aborted) throw err;
    const issue = err.issues[0];
    const at = err instanceof ViewChunkError && err.at ? `at ${err.at}: ` : '';
    const outcome = operationOutcome([
      { severity: 'error', code: issue.code, diagnostics: `View '${spec.name}' could not be exported: ${at}${issue.diagnostics}`, expression: issue.expression },
    ]);
    const parts = new NdjsonParts(ctx.storage, prefix, `errors-view${index}-${unit.seq}-${unit.attempt}`, ctx.config.fileMaxBytes);
    const written = await parts.fill(() => parts.write(Buffer.from(`${JSON.stringify(outcome)}\n`)));
    return { files: written.map((f) => ({ ...f, kind: 'error' as const, type: 'OperationOutcome' })), resources };
  } finally {
    encoder.release();
  }
}
