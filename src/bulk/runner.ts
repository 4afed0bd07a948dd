/**
 * Runs one claimed work unit: rows stream from PostgreSQL's `COPY (…) TO STDOUT` straight
 * into NDJSON part files — the stored JSON is never parsed unless `_elements` trims it —
 * so memory stays flat whatever the export size. File names carry the attempt number, so
 * a worker that lost its lease can never overwrite the files of the attempt that replaced it.
 */
import type pg from 'pg';
import type { ExportConfig } from '../config.js';
import { subsetJson } from '../fhir/subset.js';
import { operationOutcome } from '../http/outcome.js';
import { absoluteAttachmentLines } from './attachment-lines.js';
import type { ClaimedUnit, UnitOutput } from './jobs.js';
import { writeAuditUnit } from './audit-unit.js';
import { copyLines } from './copy-lines.js';
import { NdjsonParts } from './ndjson-writer.js';
import { exportTypes, organizedTypes, planUnits } from './planner.js';
import type { ExportStorage } from './storage.js';
import { FINANCIAL_TYPES, hasUnrendered, partnerJson } from '../policy/basis.js';
import { runViewUnit } from '../views/export-unit.js';
import { deletedStatement, hasMembers, jobRule, organizedStatement, unitStatement, withheldStatement, type JobSpec } from './unit-query.js';

export interface RunContext {
  pool: pg.Pool;
  storage: ExportStorage;
  config: ExportConfig;
  /** The tenant's absolute FHIR base URL (for reference search values). */
  base: (tenant: string) => string;
}

export function jobSpec(unit: ClaimedUnit, base: string): JobSpec {
  const j = unit.job;
  return { id: j.id, tenant: j.tenant, base, params: j.params, scope: j.scope, clientId: j.client_id, transactionTime: j.transaction_time, policy: j.policy ?? undefined };
}

export function jobPrefix(tenant: string, jobId: string): string {
  return `${tenant}/${jobId}`;
}

/** `_elements` for a type: its own plus those given without a type. */
function elementsFor(job: JobSpec, type: string): string[] | undefined {
  const e = job.params.elements;
  if (!e) return undefined;
  const list = [...(e['*'] ?? []), ...(e[type] ?? [])];
  return list.length ? list : undefined;
}

/**
 * One exported line as the client receives it: under a partner policy the statement selected
 * the stored Basis rendition (unit-query.ts), and only a row written before those were stored
 * is rendered here; then `_elements`.
 */
function served(job: JobSpec, type: string, json: string): string {
  const out = job.policy ? partnerJson(type, json) : json;
  const elements = elementsFor(job, type);
  return elements ? subsetJson(out, { elements }) : out;
}

/** The unit's lines as served; untouched (no parse) when nothing applies to the type. */
function servedLines(job: JobSpec, type: string, lines: Buffer): Buffer {
  if (!elementsFor(job, type) && !(job.policy && FINANCIAL_TYPES.has(type) && hasUnrendered(lines))) return lines;
  const out: string[] = [];
  for (const line of lines.toString('utf8').split('\n')) if (line) out.push(served(job, type, line));
  return Buffer.from(`${out.join('\n')}\n`);
}

export async function runUnit(ctx: RunContext, unit: ClaimedUnit, signal: AbortSignal): Promise<UnitOutput> {
  const job = jobSpec(unit, ctx.base(unit.job.tenant));
  const prefix = jobPrefix(job.tenant, job.id);
  // `$viewdefinition-export`: the same jobs, leases and storage; its own units (src/views/export-unit.ts).
  if (unit.job.level === 'view') return runViewUnit(ctx, unit, job, prefix, signal);
  if (unit.kind === 'plan') {
    const units = await planUnits(ctx.pool, job, ctx.config);
    const files: UnitOutput['files'] = [];
    const notes = job.params.notes ?? [];
    if (job.params.ignored.length || notes.length) {
      // One OperationOutcome per parameter ignored under handling=lenient (KO-30, ST-08), and
      // one per parameter honoured only in part.
      const parts = new NdjsonParts(ctx.storage, prefix, `errors-${unit.attempt}`, ctx.config.fileMaxBytes);
      const lines = [
        ...job.params.ignored.map((d) =>
          JSON.stringify(operationOutcome([{ severity: 'warning', code: 'not-supported', diagnostics: `Ignored ${d} (Prefer: handling=lenient)` }])),
        ),
        ...notes.map((d) => JSON.stringify(operationOutcome([{ severity: 'information', code: 'informational', diagnostics: d }]))),
      ];
      for (const f of await parts.fill(() => parts.write(Buffer.from(`${lines.join('\n')}\n`)))) files.push({ ...f, kind: 'error', type: 'OperationOutcome' });
    }
    return { files, resources: 0, units };
  }

  if (unit.kind === 'organized') return runOrganized(ctx, unit, job, prefix, signal);
  if (unit.kind === 'audit') return runAudit(ctx, unit, job, prefix, signal);

  const type = unit.type!;
  const deleted = unit.kind === 'deleted';
  const st = deleted ? deletedStatement(job, unit) : unitStatement(job, unit);
  const parts = new NdjsonParts(ctx.storage, prefix, `${deleted ? 'deleted-' : ''}${type}-${unit.seq}-${unit.attempt}`, ctx.config.fileMaxBytes);
  // Attachment urls become absolute in the output only; REST reads keep what is stored (DL-12).
  const output = (lines: Buffer) => servedLines(job, type, absoluteAttachmentLines(lines, job.base));
  const files = await parts.fill(() => copyLines(ctx.pool, st, signal, (lines) => parts.write(deleted ? lines : output(lines))));
  const out: UnitOutput['files'] = files.map((f) => ({ ...f, kind: deleted ? ('deleted' as const) : ('output' as const), type: deleted ? 'Bundle' : type }));
  if (unit.kind === 'members' && type === 'Patient') out.push(...(await withheldMembersFile(ctx, job, unit, prefix)));
  return { files: out, resources: deleted ? 0 : files.reduce((n, f) => n + f.count, 0) };
}

/** AuditEvent records (see audit-unit.ts), through the same part files as every other type. */
async function runAudit(ctx: RunContext, unit: ClaimedUnit, job: JobSpec, prefix: string, signal: AbortSignal): Promise<UnitOutput> {
  const parts = new NdjsonParts(ctx.storage, prefix, `AuditEvent-${unit.seq}-${unit.attempt}`, ctx.config.fileMaxBytes);
  const files = await parts.fill(() => writeAuditUnit(ctx.pool, job, unit.lo!, unit.hi!, (lines) => parts.write(servedLines(job, 'AuditEvent', lines)), signal));
  return { files: files.map((f) => ({ ...f, kind: 'output' as const, type: 'AuditEvent' })), resources: files.reduce((n, f) => n + f.count, 0) };
}

/**
 * organizeOutputBy=Patient (KO-28): a block per patient — a header Parameters naming the
 * patient, then the patient's resources — and a file rolls over only between blocks.
 */
async function runOrganized(ctx: RunContext, unit: ClaimedUnit, job: JobSpec, prefix: string, signal: AbortSignal): Promise<UnitOutput> {
  const types = organizedTypes(await exportTypes(ctx.pool, job));
  // Parts roll over only between blocks (below), never inside one.
  const parts = new NdjsonParts(ctx.storage, prefix, `Patient-blocks-${unit.seq}-${unit.attempt}`, Number.MAX_SAFE_INTEGER);
  let current: string | undefined;
  let resources = 0;
  const files = await parts.fill(async () => {
    if (types.length) {
      const st = organizedStatement(job, unit, types);
      await copyLines(ctx.pool, st, signal, async (lines) => {
        const out: string[] = [];
        const text = absoluteAttachmentLines(lines, job.base).toString('utf8');
        for (const line of text.split('\n')) {
          if (!line) continue;
          const sep = line.indexOf('\x02');
          const patient = line.slice(0, sep);
          let json = line.slice(sep + 1);
          if (patient !== current) {
            if (out.length) await parts.write(Buffer.from(`${out.splice(0).join('\n')}\n`));
            await parts.breakIfOver(ctx.config.fileMaxBytes);
            current = patient;
            out.push(JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'header', valueReference: { reference: `Patient/${patient}` } }] }));
          }
          const type = /"resourceType":"([A-Za-z]+)"/.exec(json)?.[1] ?? '';
          json = served(job, type, json);
          out.push(json);
          resources++;
        }
        if (out.length) await parts.write(Buffer.from(`${out.join('\n')}\n`));
      });
    }
  });
  const withheld = await withheldMembersFile(ctx, job, unit, prefix);
  return { files: [...files.map((f) => ({ ...f, kind: 'output' as const, type: null })), ...withheld], resources };
}

/**
 * Under a partner policy, the unit's members whose data the policy no longer allows when the
 * unit runs (an opt-out recorded, a consent revoked, an attribution ended since kick-off):
 * nothing more of theirs is written, and the error file says so, one OperationOutcome each.
 */
async function withheldMembersFile(ctx: RunContext, job: JobSpec, unit: ClaimedUnit, prefix: string): Promise<UnitOutput['files']> {
  const rule = jobRule(job);
  if (!rule || !hasMembers(job)) return [];
  const st = withheldStatement(job, rule, unit);
  const withheld = (await ctx.pool.query<{ patient_id: string }>(st.sql, st.values)).rows.map((r) => r.patient_id);
  if (!withheld.length) return [];
  const why = rule.policy.kind === 'provider-access' ? 'not attributed to this provider, or opted out of Provider Access' : 'not matched by this payer, or without an opt-in consent in force';
  const lines = withheld.map((p) =>
    JSON.stringify(operationOutcome([{ severity: 'warning', code: 'suppressed', diagnostics: `Patient/${p}: data withheld under the ${rule.policy.kind} policy at ${rule.now.toISOString()} (${why})` }])),
  );
  const parts = new NdjsonParts(ctx.storage, prefix, `errors-withheld-${unit.seq}-${unit.attempt}`, ctx.config.fileMaxBytes);
  const files = await parts.fill(() => parts.write(Buffer.from(`${lines.join('\n')}\n`)));
  return files.map((f) => ({ ...f, kind: 'error' as const, type: 'OperationOutcome' }));
}
