/**
 * Chain verification (`payer-fhir audit verify`): walks a tenant's records in order, in
 * pages, recomputing each hash. A changed field, a removed or inserted record, or a chain
 * head that does not match the last record is reported with the first sequence number
 * where the chain breaks.
 */
import type pg from 'pg';
import { chainHash, fromRow } from './record.js';

export interface VerifyResult {
  ok: boolean;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** Where and why the chain breaks, when it does. */
  broken?: { seq: number; reason: string };
}

const PAGE = 5_000;

export async function verifyChain(pool: pg.Pool, tenant: string): Promise<VerifyResult> {
  const head = (await pool.query<{ seq: string; hash: Buffer; anchor_seq: string; anchor_hash: Buffer }>('SELECT * FROM audit_chain WHERE tenant = $1', [tenant])).rows[0];
  if (!head) return { ok: true, records: 0, firstSeq: null, lastSeq: null };
  let expectedSeq = Number(head.anchor_seq) + 1;
  let prev: Buffer = head.anchor_hash;
  // Records appended while this runs are past the head read above and are not checked.
  const headSeq = Number(head.seq);
  let records = 0;
  let firstSeq: number | null = null;
  const fail = (seq: number, reason: string): VerifyResult => ({ ok: false, records, firstSeq, lastSeq: seq - 1, broken: { seq, reason } });
  for (;;) {
    const { rows } = await pool.query('SELECT * FROM audit_event WHERE tenant = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4', [tenant, expectedSeq, headSeq, PAGE]);
    for (const row of rows) {
      const r = fromRow(row);
      if (r.seq !== expectedSeq) return fail(expectedSeq, `record ${expectedSeq} is missing`);
      if (!r.prevHash.equals(prev)) return fail(r.seq, 'the record does not link to the previous record');
      if (!chainHash(prev, r.seq, r).equals(r.hash)) return fail(r.seq, 'the record was changed after it was written');
      firstSeq ??= r.seq;
      prev = r.hash;
      expectedSeq++;
      records++;
    }
    if (rows.length < PAGE) break;
  }
  if (expectedSeq - 1 !== headSeq) return fail(expectedSeq, `records ${expectedSeq}…${headSeq} are missing`);
  if (headSeq > Number(head.anchor_seq) && !prev.equals(head.hash)) return fail(headSeq, 'the chain head does not match the last record');
  return { ok: true, records, firstSeq, lastSeq: headSeq };
}
