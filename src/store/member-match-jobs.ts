/**
 * `$bulk-member-match` jobs (migration 14): queued with their validated input, claimed by
 * one process at a time under a lease (`FOR UPDATE SKIP LOCKED`), advanced batch by batch
 * (each batch's member outcomes, Consents and matches commit together with the new `done`),
 * completed with the result Parameters, and removed once past retention.
 */
import type pg from 'pg';

type Queryable = pg.Pool | pg.PoolClient;

export type MatchJobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export type MemberOutcome = 'matched' | 'no-match' | 'consent';

export interface NewMatchJob {
  id: string;
  tenant: string;
  clientId: string;
  organization: { system: string; value: string } | null;
  policy: string;
  requestUrl: string;
  input: unknown[];
}

export interface MatchJob {
  id: string;
  tenant: string;
  clientId: string;
  organization: { system: string; value: string } | null;
  policy: string;
  status: MatchJobStatus;
  requestUrl: string;
  total: number;
  done: number;
  attempts: number;
  result: string | null;
  error: string | null;
}

export interface JobItem {
  seq: number;
  outcome: MemberOutcome;
  patientId: string | null;
  consentId: string | null;
}

const COLUMNS = 'id, tenant, client_id, organization_system, organization_value, policy, status, request_url, total, done, attempts, result, error';

function fromRow(r: Record<string, any>): MatchJob {
  return {
    id: r.id,
    tenant: r.tenant,
    clientId: r.client_id,
    organization: r.organization_system ? { system: r.organization_system, value: r.organization_value } : null,
    policy: r.policy,
    status: r.status,
    requestUrl: r.request_url,
    total: r.total,
    done: r.done,
    attempts: r.attempts,
    result: r.result,
    error: r.error,
  };
}

export async function createMatchJob(db: Queryable, j: NewMatchJob): Promise<void> {
  await db.query(
    `INSERT INTO member_match_job (id, tenant, client_id, organization_system, organization_value, policy, status, request_url, input, total)
     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9)`,
    [j.id, j.tenant, j.clientId, j.organization?.system ?? null, j.organization?.value ?? null, j.policy, j.requestUrl, JSON.stringify(j.input), j.input.length],
  );
}

/** A job of one client (others' jobs do not exist for it). */
export async function getMatchJob(db: Queryable, tenant: string, clientId: string, id: string): Promise<MatchJob | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM member_match_job WHERE id = $1 AND tenant = $2 AND client_id = $3 AND (expires_at IS NULL OR expires_at > now())`, [id, tenant, clientId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** Cancels a job (a running one stops at its next batch); false when there is none to cancel. */
export async function cancelMatchJob(db: Queryable, tenant: string, clientId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE member_match_job SET status = 'cancelled', expires_at = now(), input = '[]', result = NULL
      WHERE id = $1 AND tenant = $2 AND client_id = $3 AND status <> 'cancelled'`,
    [id, tenant, clientId],
  );
  return rowCount === 1;
}

/** Claims the oldest runnable job whose lease is free or lapsed; returns it with its input. */
export async function claimMatchJob(db: Queryable, owner: string, leaseSeconds: number): Promise<(MatchJob & { input: unknown[] }) | undefined> {
  const { rows } = await db.query(
    `UPDATE member_match_job SET status = 'running', lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1
      WHERE id = (SELECT id FROM member_match_job WHERE status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
                   ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING ${COLUMNS}, input`,
    [owner, leaseSeconds],
  );
  return rows[0] ? { ...fromRow(rows[0]), input: rows[0].input as unknown[] } : undefined;
}

/** Extends the lease; false when the job is no longer this owner's running job. */
export async function renewMatchLease(db: Queryable, id: string, owner: string, leaseSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE member_match_job SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [id, owner, leaseSeconds],
  );
  return rowCount === 1;
}

/** Locks the job row in the caller's transaction; true when it is still this owner's running job. */
export async function holdMatchJob(client: pg.PoolClient, id: string, owner: string): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM member_match_job WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE`, [id, owner]);
  return rows.length === 1;
}

/** Records a batch's outcomes and the job's progress, in the caller's transaction (after holdMatchJob). */
export async function recordBatch(client: pg.PoolClient, id: string, items: JobItem[], done: number, leaseSeconds: number): Promise<void> {
  await client.query(
    `INSERT INTO member_match_job_item (job_id, seq, outcome, patient_id, consent_id)
     SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
    [id, items.map((i) => i.seq), items.map((i) => i.outcome), items.map((i) => i.patientId), items.map((i) => i.consentId)],
  );
  await client.query('UPDATE member_match_job SET done = $2, lease_until = now() + make_interval(secs => $3) WHERE id = $1', [id, done, leaseSeconds]);
}

export async function jobItems(db: Queryable, id: string): Promise<JobItem[]> {
  const { rows } = await db.query('SELECT seq, outcome, patient_id, consent_id FROM member_match_job_item WHERE job_id = $1 ORDER BY seq', [id]);
  return rows.map((r) => ({ seq: r.seq, outcome: r.outcome, patientId: r.patient_id, consentId: r.consent_id }));
}

/** Completes the job with its result (the input is no longer needed), kept for `retentionSeconds`. */
export async function completeMatchJob(client: pg.PoolClient, id: string, result: string, retentionSeconds: number): Promise<void> {
  await client.query(
    `UPDATE member_match_job SET status = 'completed', result = $2, input = '[]', lease_owner = NULL, lease_until = NULL,
       completed_at = now(), expires_at = now() + make_interval(secs => $3) WHERE id = $1`,
    [id, result, retentionSeconds],
  );
}

export async function failMatchJob(db: Queryable, id: string, reason: string, retentionSeconds: number): Promise<void> {
  await db.query(
    `UPDATE member_match_job SET status = 'failed', error = $2, input = '[]', lease_owner = NULL, lease_until = NULL,
       completed_at = now(), expires_at = now() + make_interval(secs => $3) WHERE id = $1 AND status IN ('queued', 'running')`,
    [id, reason, retentionSeconds],
  );
}

/** Hands a job back (shutdown): another process may claim it at once. */
export async function releaseMatchJob(db: Queryable, id: string, owner: string): Promise<void> {
  await db.query(`UPDATE member_match_job SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND status = 'running'`, [id, owner]);
}

/** Removes jobs past retention (their items go with them); returns how many. */
export async function removeExpiredMatchJobs(db: Queryable): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM member_match_job WHERE expires_at < now()');
  return rowCount ?? 0;
}
