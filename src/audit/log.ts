/**
 * The audit writer. Requests hand their record to `record()` and are answered at once; the
 * records are appended in batches every `flushMs` (group commit), each batch one transaction
 * that locks the chain heads of its tenants, so records from every process form one ordered
 * chain per tenant. The loss window is therefore one flush interval of records held in
 * memory if the process is killed (a clean stop flushes). While the database is away records
 * wait in memory; once `maxBuffered` are waiting, `overloaded` turns true and the server
 * refuses new requests (503) rather than serve them unaudited.
 */
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { copyIn, copyRow } from '../store/copy-in.js';
import { inTransaction } from '../store/database.js';
import { chainHash, type AuditRecord } from './record.js';
import { addUsage, removeUsageBefore, trimMinuteCounts } from './usage.js';

export interface AuditLogOptions {
  flushMs: number;
  maxBuffered: number;
  /** Records older than this many days are removed by the retention sweep (0 = keep forever). */
  retentionDays: number;
  log: FastifyBaseLogger;
  /** Called with each appended batch (alert rules watch the stream). */
  onAppended?: (records: AuditRecord[]) => void;
}

const BATCH_MAX = 2_000;

export class AuditLog {
  private buffer: AuditRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: AuditLogOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.timer.unref();
    // Hourly: records past retention (if any is set), and per-minute counts past their day —
    // also when no alert run trims them (ALERT_INTERVAL_SECONDS=0).
    const sweep = () => void this.applyRetention().catch((err) => this.opts.log.warn({ err }, 'audit retention sweep failed'));
    this.retentionTimer = setInterval(sweep, 3_600_000);
    this.retentionTimer.unref();
    sweep();
  }

  /** True when so many records wait for the database that new requests must be refused. */
  get overloaded(): boolean {
    return this.buffer.length >= this.opts.maxBuffered;
  }

  get pending(): number {
    return this.buffer.length;
  }

  record(r: AuditRecord): void {
    this.buffer.push(r);
    if (this.buffer.length >= BATCH_MAX) void this.flush();
  }

  /** Appends everything buffered so far (waiting for a flush already under way). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (!this.buffer.length) return;
    this.flushing = this.appendBuffered().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.retentionTimer);
    await this.flush();
  }

  private async appendBuffered(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.slice(0, BATCH_MAX);
      try {
        await appendRecords(this.pool, batch);
      } catch (err) {
        // Kept for the next flush; the chain is untouched because the transaction rolled back.
        if (!this.stopped) this.opts.log.warn({ err, waiting: this.buffer.length }, 'audit records could not be written yet');
        return;
      }
      this.buffer.splice(0, batch.length);
      this.opts.onAppended?.(batch);
    }
  }

  /**
   * Removes records past retention, oldest first, moving each tenant's anchor to the last
   * removed record; and per-minute counts past the day they are kept for.
   */
  async applyRetention(): Promise<number> {
    await trimMinuteCounts(this.pool);
    return removeExpired(this.pool, this.opts.retentionDays);
  }
}

/** Appends records to their tenants' chains in one transaction (the rows by COPY: a flush can hold thousands). */
export async function appendRecords(pool: pg.Pool, records: AuditRecord[]): Promise<void> {
  const tenants = [...new Set(records.map((r) => r.tenant))].sort();
  await inTransaction(pool, async (client) => {
    await client.query('INSERT INTO audit_chain (tenant) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [tenants]);
    // Locked in tenant order, so two processes flushing overlapping tenants never deadlock.
    const { rows } = await client.query<{ tenant: string; seq: string; hash: Buffer }>(
      'SELECT tenant, seq, hash FROM audit_chain WHERE tenant = ANY($1) ORDER BY tenant FOR UPDATE',
      [tenants],
    );
    const heads = new Map(rows.map((r) => [r.tenant, { seq: Number(r.seq), hash: r.hash }]));
    let text = '';
    const seqs: number[] = [];
    for (const r of records) {
      const head = heads.get(r.tenant)!;
      const seq = head.seq + 1;
      seqs.push(seq);
      const hash = chainHash(head.hash, seq, r);
      text += copyRow([
        r.tenant, seq, r.recorded, r.durationUs, r.clientId, r.sourceIp, r.interaction, r.method, r.path, r.query,
        r.resourceType, r.resourceId, r.jobId, r.status, r.resources, r.bytes, r.detail, r.requestId, head.hash, hash, r.policy ?? null,
      ]);
      heads.set(r.tenant, { seq, hash });
    }
    await copyIn(
      client,
      `audit_event (tenant, seq, recorded, duration_us, client_id, source_ip, interaction, method, path, query,
         resource_type, resource_id, job_id, status, resources, bytes, detail, request_id, prev_hash, hash, policy)`,
      text,
    );
    await addUsage(client, records, seqs);
    await client.query(
      'UPDATE audit_chain c SET seq = h.seq, hash = h.hash FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS h(tenant, seq, hash) WHERE c.tenant = h.tenant',
      [[...heads.keys()], [...heads.values()].map((h) => h.seq), [...heads.values()].map((h) => h.hash)],
    );
  });
}

/** Deletes records older than `days` in every tenant (the retention sweep). */
export async function removeExpired(pool: pg.Pool, days: number): Promise<number> {
  if (days <= 0) return 0;
  const cutoff = new Date(Date.now() - days * 86_400_000);
  let removed = 0;
  const { rows } = await pool.query<{ tenant: string }>('SELECT tenant FROM audit_chain');
  for (const { tenant } of rows) removed += await removeExpiredFor(pool, tenant, cutoff);
  await removeUsageBefore(pool, cutoff);
  return removed;
}

/**
 * Deletes a tenant's records older than `cutoff` and records the last removed one as the
 * chain's anchor, so `verify` can tell retention from tampering.
 */
export async function removeExpiredFor(pool: pg.Pool, tenant: string, cutoff: Date): Promise<number> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT 1 FROM audit_chain WHERE tenant = $1 FOR UPDATE', [tenant]);
    await client.query("SET LOCAL payer_fhir.audit_retention = 'on'");
    const { rows } = await client.query<{ seq: string; hash: Buffer; n: string }>(
      `WITH gone AS (
         DELETE FROM audit_event WHERE tenant = $1 AND seq <= (
           SELECT max(seq) FROM audit_event WHERE tenant = $1 AND recorded < $2)
         RETURNING seq, hash)
       SELECT seq, hash, count(*) OVER () AS n FROM gone ORDER BY seq DESC LIMIT 1`,
      [tenant, cutoff],
    );
    if (rows[0]) await client.query('UPDATE audit_chain SET anchor_seq = $2, anchor_hash = $3 WHERE tenant = $1', [tenant, rows[0].seq, rows[0].hash]);
    return rows[0] ? Number(rows[0].n) : 0;
  });
}
