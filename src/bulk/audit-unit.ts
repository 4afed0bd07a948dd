/**
 * AuditEvent in a system-level export (`_type=AuditEvent`, under an explicit AuditEvent
 * scope): the tenant's audit records up to transactionTime (and within `_since`/`_until`),
 * split into units by sequence number and written as AuditEvent NDJSON. Records are read in
 * keyset pages, so memory stays flat however long the trail is.
 */
import type pg from 'pg';
import { toAuditEvent } from '../audit/audit-event.js';
import { fromRow } from '../audit/record.js';
import { ownRecordsCondition } from '../audit/search.js';
import type { JobSpec, PlannedUnit } from './unit-query.js';

const PAGE = 2_000;

function bounds(job: JobSpec, values: unknown[]): string {
  const parts = [`recorded <= $${values.push(job.transactionTime)}`, ownRecordsCondition(!!job.policy, job.clientId, (v) => `$${values.push(v)}`)];
  if (job.params.since) parts.push(`recorded > $${values.push(job.params.since)}`);
  if (job.params.until) parts.push(`recorded < $${values.push(job.params.until)}`);
  return parts.join(' AND ');
}

/** Units of about `size` records each, as [lo, hi) sequence-number ranges. */
export async function planAuditUnits(db: pg.Pool, job: JobSpec, size: number): Promise<PlannedUnit[]> {
  const values: unknown[] = [job.tenant];
  const { rows } = await db.query<{ lo: string | null; hi: string | null }>(
    `SELECT min(seq) AS lo, max(seq) AS hi FROM audit_event WHERE tenant = $1 AND ${bounds(job, values)}`,
    values,
  );
  if (rows[0].lo === null) return [];
  const units: PlannedUnit[] = [];
  for (let lo = Number(rows[0].lo); lo <= Number(rows[0].hi!); lo += size) {
    units.push({ kind: 'audit', type: 'AuditEvent', lo: String(lo), hi: String(lo + size) });
  }
  return units;
}

/** Streams one unit's AuditEvents to `write`, a page at a time; returns how many were written. */
export async function writeAuditUnit(db: pg.Pool, job: JobSpec, lo: string, hi: string, write: (lines: Buffer) => Promise<void>, signal: AbortSignal): Promise<number> {
  let after = Number(lo) - 1;
  let n = 0;
  for (;;) {
    signal.throwIfAborted();
    const values: unknown[] = [job.tenant, after, Number(hi)];
    const { rows } = await db.query(
      `SELECT * FROM audit_event WHERE tenant = $1 AND seq > $2 AND seq < $3 AND ${bounds(job, values)} ORDER BY seq LIMIT ${PAGE}`,
      values,
    );
    if (!rows.length) return n;
    const lines = rows.map((r) => JSON.stringify(toAuditEvent(fromRow(r))));
    await write(Buffer.from(`${lines.join('\n')}\n`));
    n += rows.length;
    after = Number(rows[rows.length - 1].seq);
    if (rows.length < PAGE) return n;
  }
}
