/**
 * Export jobs in PostgreSQL: creation at kick-off, the work units workers claim with
 * `FOR UPDATE SKIP LOCKED` under a lease kept alive by heartbeats, completion, cancellation
 * and expiry. Every state change is one statement or one transaction, so any number of
 * `serve` and `worker` processes can share the jobs and a killed process loses nothing: its
 * leases expire and another worker redoes its units.
 */
import type pg from 'pg';
import type { RestrictingPolicy } from '../policy/partner-policy.js';
import { recordTransmission } from './davinci.js';
import type { ExportParams } from './parameters.js';
import type { WrittenFile } from './ndjson-writer.js';
import type { Unit, UnitKind } from './unit-query.js';

export interface JobRow {
  id: string;
  tenant: string;
  client_id: string;
  level: string;
  request_url: string;
  params: ExportParams;
  scope: string;
  transaction_time: Date;
  state: 'active' | 'completed' | 'failed' | 'cancelled';
  error: string | null;
  created_at: Date;
  completed_at: Date | null;
  expires_at: Date | null;
  units_total: number | null;
  units_done: number;
  resources_done: string;
  /** The partner access policy the job runs under; null for `internal`. */
  policy: RestrictingPolicy | null;
}

export interface FileRow {
  name: string;
  unit_seq: number;
  kind: 'output' | 'error' | 'deleted';
  type: string | null;
  count: string;
  bytes: string;
}

export interface NewJob {
  id: string;
  tenant: string;
  clientId: string;
  requestUrl: string;
  params: ExportParams;
  scope: string;
  /** EXPORT_STORAGE of the server that took the kick-off: only workers writing there run the job. */
  storage: string;
  members?: string[];
  /** Per member, what changed after this instant only ($davinci-data-export provider-delta). */
  memberSince?: Map<string, string>;
  policy?: RestrictingPolicy;
  /** The export_job.level column when it is not the Bulk level: `view` for `$viewdefinition-export`. */
  level?: string;
}

/**
 * Creates a job with its planning unit. transactionTime is read first, then the write
 * transactions of this database still in flight: a write stamped before transactionTime
 * took its transaction id even earlier (src/store/resources.ts), so it is either committed
 * already or in that list, and the job waits for it (KO-44). Only those transactions are
 * waited for — a long transaction that starts later, or runs in another database, never
 * holds an export back.
 */
export async function createJob(client: pg.PoolClient, job: NewJob): Promise<{ transactionTime: Date }> {
  const { rows: t } = await client.query<{ tt: Date }>('SELECT clock_timestamp() AS tt');
  await client.query(
    `INSERT INTO export_job (id, tenant, client_id, level, request_url, params, scope, transaction_time, storage, policy, waits_for)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ARRAY(
       -- backend_xid is a 32-bit xid; widen it to an xid8 with the current epoch.
       -- (the 32-bit distance from the snapshot's xmax, taken as signed, places it in its epoch)
       SELECT (c.v + (a.x - (c.v & 4294967295) + 6442450944) % 4294967296 - 2147483648)::text::xid8
         FROM (SELECT backend_xid::text::bigint AS x FROM pg_stat_activity
                WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()) a,
              (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS v) c))`,
    [job.id, job.tenant, job.clientId, job.level ?? job.params.level, job.requestUrl, JSON.stringify(job.params), job.scope, t[0].tt, job.storage, job.policy ? JSON.stringify(job.policy) : null],
  );
  if (job.members?.length) {
    await client.query('INSERT INTO export_member (job_id, patient_id, since) SELECT $1, * FROM unnest($2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING', [
      job.id,
      job.members,
      job.members.map((m) => job.memberSince?.get(m) ?? null),
    ]);
  }
  await client.query(`INSERT INTO export_unit (job_id, seq, kind) VALUES ($1, 0, 'plan')`, [job.id]);
  return { transactionTime: t[0].tt };
}

/** Running jobs of a client (KO-42: completed, failed and deleted jobs do not count). */
export async function runningJobs(db: pg.Pool | pg.PoolClient, tenant: string, clientId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_job WHERE tenant = $1 AND client_id = $2 AND state = 'active'`, [tenant, clientId]);
  return rows[0].n;
}

/** Running jobs of all clients of a tenant (EXPORT_MAX_JOBS_PER_TENANT). */
export async function runningTenantJobs(db: pg.Pool | pg.PoolClient, tenant: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_job WHERE tenant = $1 AND state = 'active'`, [tenant]);
  return rows[0].n;
}

export const JOB_STATES = ['active', 'completed', 'failed', 'cancelled'] as const;
export const QUEUED_UNIT_STATES = ['pending', 'running'] as const;

/**
 * Jobs by state (every tenant, until the retention sweep removes them) and the work queue:
 * units of active jobs waiting for a worker or being worked on. One statement, for metrics.
 */
export async function exportQueueCounts(db: pg.Pool): Promise<{ jobs: Map<string, number>; units: Map<string, number> }> {
  const { rows } = await db.query<{ kind: 'job' | 'unit'; state: string; n: number }>(
    `SELECT 'job' AS kind, state, count(*)::int AS n FROM export_job GROUP BY state
     UNION ALL
     SELECT 'unit', u.state, count(*)::int FROM export_unit u JOIN export_job j ON j.id = u.job_id
      WHERE j.state = 'active' AND u.state IN ('pending', 'running') GROUP BY u.state`,
  );
  const jobs = new Map<string, number>(JOB_STATES.map((s) => [s, 0]));
  const units = new Map<string, number>(QUEUED_UNIT_STATES.map((s) => [s, 0]));
  for (const r of rows) (r.kind === 'job' ? jobs : units).set(r.state, r.n);
  return { jobs, units };
}

/** A job visible to its tenant (cancelled and expired jobs are gone, ST-11). */
export async function findJob(db: pg.Pool, tenant: string, id: string): Promise<JobRow | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return undefined;
  const { rows } = await db.query<JobRow>(
    `SELECT * FROM export_job WHERE id = $1 AND tenant = $2 AND state <> 'cancelled' AND (expires_at IS NULL OR expires_at > now())`,
    [id, tenant],
  );
  return rows[0];
}

/** A tenant's jobs, newest first (the console's exports page), cancelled ones included until cleanup deletes them. */
export async function listJobs(db: pg.Pool, tenant: string, limit: number, before?: Date): Promise<JobRow[]> {
  const { rows } = await db.query<JobRow>(
    'SELECT * FROM export_job WHERE tenant = $1 AND ($2::timestamptz IS NULL OR created_at < $2) ORDER BY created_at DESC, id LIMIT $3',
    [tenant, before ?? null, limit],
  );
  return rows;
}

/** A tenant's job whatever its state (the console; findJob is the client's view). */
export async function getJob(db: pg.Pool, tenant: string, id: string): Promise<JobRow | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return undefined;
  const { rows } = await db.query<JobRow>('SELECT * FROM export_job WHERE id = $1 AND tenant = $2', [id, tenant]);
  return rows[0];
}

export async function jobFiles(db: pg.Pool, jobId: string): Promise<FileRow[]> {
  const { rows } = await db.query<FileRow>(
    `SELECT f.name, f.unit_seq, f.kind, f.type, f.count, f.bytes FROM export_file f
       JOIN export_unit u ON u.job_id = f.job_id AND u.seq = f.unit_seq AND u.state = 'done'
      WHERE f.job_id = $1 ORDER BY f.kind, f.type NULLS FIRST, f.unit_seq, f.name`,
    [jobId],
  );
  return rows;
}

export async function findFile(db: pg.Pool, jobId: string, name: string): Promise<FileRow | undefined> {
  const { rows } = await db.query<FileRow>(
    `SELECT f.name, f.unit_seq, f.kind, f.type, f.count, f.bytes FROM export_file f
       JOIN export_unit u ON u.job_id = f.job_id AND u.seq = f.unit_seq AND u.state = 'done'
      WHERE f.job_id = $1 AND f.name = $2`,
    [jobId, name],
  );
  return rows[0];
}

/**
 * Counts a status poll; returns how many polls fell in the current Retry-After window, so
 * only a client polling far faster than asked is throttled (ST-02, ST-03).
 */
export async function countPoll(db: pg.Pool, jobId: string, windowSeconds: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `UPDATE export_job SET
        poll_count = CASE WHEN poll_window_start IS NULL OR clock_timestamp() - poll_window_start >= make_interval(secs => $2) THEN 1 ELSE poll_count + 1 END,
        poll_window_start = CASE WHEN poll_window_start IS NULL OR clock_timestamp() - poll_window_start >= make_interval(secs => $2) THEN clock_timestamp() ELSE poll_window_start END
      WHERE id = $1 RETURNING poll_count AS n`,
    [jobId, windowSeconds],
  );
  return rows[0]?.n ?? 0;
}

/**
 * DELETE of the status URL (ST-20, ST-21): the job is gone for the very next request, its
 * running slot is free at once, and its files are removed by cleanup once any unit still in
 * flight has had time to notice.
 */
export async function cancelJob(db: pg.Pool, tenant: string, id: string, graceSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE export_job SET state = 'cancelled', expires_at = clock_timestamp() + make_interval(secs => $3)
      WHERE id = $1 AND tenant = $2 AND state <> 'cancelled' AND (expires_at IS NULL OR expires_at > now())`,
    [id, tenant, graceSeconds],
  );
  return (rowCount ?? 0) > 0;
}

export interface ClaimedUnit extends Unit {
  attempt: number;
  job: JobRow;
}

/**
 * Claims the next runnable unit: of an active job written to this worker's storage (the API
 * serving its files reads the same one), none of whose kick-off transactions is still in
 * flight; pending, or running with an expired lease; oldest job first.
 */
export async function claimUnit(db: pg.Pool, owner: string, leaseSeconds: number, storage: string): Promise<ClaimedUnit | undefined> {
  const { rows } = await db.query<{ job_id: string; seq: number; kind: UnitKind; type: string | null; lo: string | null; hi: string | null; attempts: number }>(
    `UPDATE export_unit u SET state = 'running', lease_owner = $1, lease_expires = clock_timestamp() + make_interval(secs => $2), attempts = u.attempts + 1
      WHERE (u.job_id, u.seq) = (
        SELECT c.job_id, c.seq FROM export_unit c JOIN export_job j ON j.id = c.job_id
         WHERE j.state = 'active' AND j.storage = $3
           AND NOT EXISTS (SELECT 1 FROM unnest(j.waits_for) w(x) WHERE NOT pg_visible_in_snapshot(w.x, pg_current_snapshot()))
           AND (c.state = 'pending' OR (c.state = 'running' AND c.lease_expires < clock_timestamp()))
         ORDER BY j.created_at, c.seq
         LIMIT 1 FOR UPDATE OF c SKIP LOCKED)
      RETURNING u.job_id, u.seq, u.kind, u.type, u.lo, u.hi, u.attempts`,
    [owner, leaseSeconds, storage],
  );
  const u = rows[0];
  if (!u) return undefined;
  const { rows: jobs } = await db.query<JobRow>('SELECT * FROM export_job WHERE id = $1', [u.job_id]);
  return { jobId: u.job_id, seq: u.seq, kind: u.kind, type: u.type, lo: u.lo, hi: u.hi, attempt: u.attempts, job: jobs[0] };
}

/** Extends the lease; false when the unit was lost (lease taken over, job cancelled or gone). */
export async function heartbeat(db: pg.Pool, unit: ClaimedUnit, owner: string, leaseSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE export_unit u SET lease_expires = clock_timestamp() + make_interval(secs => $4)
       FROM export_job j
      WHERE u.job_id = $1 AND u.seq = $2 AND u.lease_owner = $3 AND u.state = 'running' AND j.id = u.job_id AND j.state = 'active'`,
    [unit.jobId, unit.seq, owner, leaseSeconds],
  );
  return (rowCount ?? 0) > 0;
}

export interface UnitOutput {
  files: (WrittenFile & { kind: FileRow['kind']; type: string | null })[];
  resources: number;
  /** Units a planning unit adds. */
  units?: { kind: UnitKind; type: string | null; lo: string | null; hi: string | null }[];
}

/**
 * Records a finished unit and its files in one transaction, if this worker still holds it;
 * completes the job with its last unit. Returns false when the work was lost and must be discarded.
 */
export async function completeUnit(pool: pg.Pool, unit: ClaimedUnit, owner: string, out: UnitOutput, retentionSeconds: number): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const held = await client.query(
      `SELECT 1 FROM export_unit u JOIN export_job j ON j.id = u.job_id
        WHERE u.job_id = $1 AND u.seq = $2 AND u.lease_owner = $3 AND u.state = 'running' AND j.state = 'active'
        FOR UPDATE OF u, j`,
      [unit.jobId, unit.seq, owner],
    );
    if (!held.rowCount) {
      await client.query('ROLLBACK');
      return false;
    }
    await client.query('DELETE FROM export_file WHERE job_id = $1 AND unit_seq = $2', [unit.jobId, unit.seq]);
    if (out.files.length) {
      await client.query(
        `INSERT INTO export_file (job_id, unit_seq, name, kind, type, count, bytes)
         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])`,
        [unit.jobId, unit.seq, out.files.map((f) => f.name), out.files.map((f) => f.kind), out.files.map((f) => f.type), out.files.map((f) => f.count), out.files.map((f) => f.bytes)],
      );
    }
    if (out.units) {
      const units = out.units;
      await client.query(
        `INSERT INTO export_unit (job_id, seq, kind, type, lo, hi)
         SELECT $1, s, k, t, l, h FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(s, k, t, l, h)`,
        [unit.jobId, units.map((_, i) => i + 1), units.map((u) => u.kind), units.map((u) => u.type), units.map((u) => u.lo), units.map((u) => u.hi)],
      );
      await client.query('UPDATE export_job SET units_total = $2 WHERE id = $1', [unit.jobId, units.length + 1]);
    }
    // lease_owner stays as the unit's author (operators and tests can see who did what).
    await client.query(`UPDATE export_unit SET state = 'done', lease_expires = NULL, resources = $3 WHERE job_id = $1 AND seq = $2`, [
      unit.jobId,
      unit.seq,
      out.resources,
    ]);
    await client.query(
      `UPDATE export_job SET units_done = units_done + 1, resources_done = resources_done + $2,
          state = CASE WHEN EXISTS (SELECT 1 FROM export_unit WHERE job_id = $1 AND state <> 'done') THEN state ELSE 'completed' END,
          completed_at = CASE WHEN EXISTS (SELECT 1 FROM export_unit WHERE job_id = $1 AND state <> 'done') THEN NULL ELSE clock_timestamp() END,
          expires_at = CASE WHEN EXISTS (SELECT 1 FROM export_unit WHERE job_id = $1 AND state <> 'done') THEN NULL
                            ELSE clock_timestamp() + make_interval(secs => $3) END
        WHERE id = $1`,
      [unit.jobId, out.resources, retentionSeconds],
    );
    // A $davinci-data-export that just completed stamps its members' lastTransmitted, atomically with completion.
    const { rows: done } = await client.query<JobRow>(`SELECT * FROM export_job WHERE id = $1 AND state = 'completed'`, [unit.jobId]);
    if (done[0]?.params.davinci) await recordTransmission(client, done[0]);
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A unit failed: it goes back to pending for another attempt, or — out of attempts — the
 * job fails with a reason the client may read (ST-10).
 */
export async function failUnit(pool: pg.Pool, unit: ClaimedUnit, owner: string, reason: string, maxAttempts: number, retentionSeconds: number): Promise<void> {
  await pool.query(
    `WITH u AS (
       UPDATE export_unit SET state = 'pending', lease_owner = NULL, lease_expires = NULL, last_error = $4
        WHERE job_id = $1 AND seq = $2 AND lease_owner = $3 RETURNING attempts)
     UPDATE export_job SET state = 'failed', error = $4, completed_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => $6)
      WHERE id = $1 AND state = 'active' AND (SELECT attempts FROM u) >= $5`,
    [unit.jobId, unit.seq, owner, reason, maxAttempts, retentionSeconds],
  );
}

/** Gives a unit back untouched (a worker shutting down): it is claimable at once and the attempt does not count. */
export async function releaseUnit(db: pg.Pool, unit: ClaimedUnit, owner: string): Promise<void> {
  await db.query(
    `UPDATE export_unit SET state = 'pending', lease_owner = NULL, lease_expires = NULL, attempts = greatest(attempts - 1, 0)
      WHERE job_id = $1 AND seq = $2 AND lease_owner = $3 AND state = 'running'`,
    [unit.jobId, unit.seq, owner],
  );
}

/**
 * Jobs past their expiry (cancelled ones once their grace time is over), oldest first — only
 * those whose files live in `storage`: a process writing elsewhere cannot delete their files,
 * and deleting the row alone would orphan them.
 */
export async function expiredJobs(db: pg.Pool, storage: string, limit = 100): Promise<{ id: string; tenant: string }[]> {
  const { rows } = await db.query<{ id: string; tenant: string }>(
    'SELECT id, tenant FROM export_job WHERE expires_at < clock_timestamp() AND storage = $1 ORDER BY expires_at LIMIT $2',
    [storage, limit],
  );
  return rows;
}

export async function deleteJob(db: pg.Pool, id: string): Promise<void> {
  await db.query('DELETE FROM export_job WHERE id = $1', [id]);
}
