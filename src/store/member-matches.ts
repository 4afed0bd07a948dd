/**
 * Member matches (migration 9's `member_match`: which client matched which member, with the
 * consent that came with it — what the payer-to-payer policy reads) and the failed-match
 * counts per client per hour (migration 13) behind the `$member-match` throttle.
 */
import type pg from 'pg';
import type { CteStatement } from './cte-statement.js';

type Queryable = pg.Pool | pg.PoolClient;

export interface MatchRow {
  patientId: string;
  consentId: string | null;
  /** CoverageToLink as sent (JSON text), or null. */
  coverageToLink: string | null;
}

const HOUR_MS = 3_600_000;

/** The UTC hour `at` falls in. */
export function hourOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/**
 * Records matches of one client, in the caller's transaction. Matching a member again
 * replaces the consent and linked coverage on record (the latest request speaks for the
 * member); the earlier Consent resource stays as written.
 */
export async function recordMatches(client: pg.PoolClient, tenant: string, clientId: string, rows: MatchRow[]): Promise<void> {
  if (!rows.length) return;
  await client.query(
    `INSERT INTO member_match (tenant, client_id, patient_id, consent_id, coverage_to_link)
     SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])
     ON CONFLICT (tenant, client_id, patient_id) DO UPDATE SET
       consent_id = excluded.consent_id, coverage_to_link = excluded.coverage_to_link, matched_at = now()`,
    [tenant, clientId, rows.map((r) => r.patientId), rows.map((r) => r.consentId), rows.map((r) => r.coverageToLink)],
  );
}

/** Whose failed matches to count alongside a lookup: a client, in the hour of `at`. */
export interface FailureCount {
  clientId: string;
  at: Date;
}

/**
 * The member matcher's candidates in one round trip: the current Coverages carrying one of
 * `memberIds` as an identifier value, any system (what `Coverage?identifier=a,b` finds through
 * the search index), in id order, at most `limit`; each with the current Patient its
 * `beneficiary` names locally (null when there is none, or it is deleted). With `count`, the
 * same statement reads that client's failed matches this hour (failuresThisHour), so that
 * `$member-match`'s throttle costs no round trip of its own.
 */
export async function coveragesWithBeneficiaries(
  db: Queryable,
  tenant: string,
  memberIds: string[],
  limit: number,
  count?: FailureCount,
): Promise<{ rows: { coverage: string; patient: string | null }[]; failures?: number }> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error('coveragesWithBeneficiaries: limit must be a positive integer');
  // Planned once per connection: one member id (nearly every request) is bound as a scalar and
  // the limit written as a constant, so that PostgreSQL's generic plan costs what a plan for the
  // values would and it keeps that plan; with an array or a bound limit it planned each call
  // anew, and planning cost as much as running.
  const one = memberIds.length === 1;
  const idCondition = one ? 'x.code = $2' : 'x.code = ANY($2::text[])';
  const candidates = `SELECT c.content AS coverage, p.content AS patient, c.id
             FROM (SELECT r.id, r.content FROM resource r
                    WHERE r.tenant = $1 AND r.type = 'Coverage' AND NOT r.deleted
                      AND EXISTS (SELECT 1 FROM search_token x
                                   WHERE x.tenant = $1 AND x.type = 'Coverage' AND x.id = r.id AND x.param = 'identifier' AND ${idCondition})
                    ORDER BY r.id LIMIT ${limit}) c
             LEFT JOIN resource p ON p.tenant = $1 AND p.type = 'Patient' AND NOT p.deleted
              AND p.id = substring((c.content::jsonb) #>> '{beneficiary,reference}' FROM '^Patient/([A-Za-z0-9.-]{1,64})$')`;
  const name = `member-match-coverages${one ? '-1' : ''}-${limit}`;
  const idValue = one ? memberIds[0] : memberIds;
  if (!count) {
    const { rows } = await db.query<{ coverage: string; patient: string | null }>({ name, text: `${candidates} ORDER BY c.id`, values: [tenant, idValue] });
    return { rows };
  }
  // One row at least (the count), then one per candidate: a LEFT JOIN from the count's row.
  const { rows } = await db.query<{ failures: number; coverage: string | null; patient: string | null }>({
    name: `${name}-counted`,
    text: `SELECT f.failures, m.coverage, m.patient
             FROM (SELECT coalesce((SELECT failures FROM member_match_failure WHERE tenant = $1 AND client_id = $3 AND hour = $4), 0) AS failures) f
             LEFT JOIN (${candidates}) m ON TRUE
            ORDER BY m.id`,
    values: [tenant, idValue, count.clientId, hourOf(count.at)],
  });
  return { rows: rows.filter((r): r is { failures: number; coverage: string; patient: string | null } => r.coverage !== null), failures: rows[0].failures };
}

/** recordMatches as part of a statement being built (store/cte-statement.ts): the same rows, no round trip of its own. */
export function addMatchRows(stmt: CteStatement, clientId: string, rows: MatchRow[]): void {
  if (!rows.length) return;
  const b = stmt.binds;
  stmt.add(
    'mm',
    `INSERT INTO member_match (tenant, client_id, patient_id, consent_id, coverage_to_link)
     SELECT $1, ${b.add(clientId, 'text')}, * FROM unnest(${b.add(rows.map((r) => r.patientId), 'text[]')}, ${b.add(rows.map((r) => r.consentId), 'text[]')}, ${b.add(rows.map((r) => r.coverageToLink), 'text[]')})
     ON CONFLICT (tenant, client_id, patient_id) DO UPDATE SET
       consent_id = excluded.consent_id, coverage_to_link = excluded.coverage_to_link, matched_at = now()`,
  );
}

/** The client's failed matches within the hour of `at`. */
export async function failuresThisHour(db: Queryable, tenant: string, clientId: string, at: Date): Promise<number> {
  const { rows } = await db.query<{ failures: number }>('SELECT failures FROM member_match_failure WHERE tenant = $1 AND client_id = $2 AND hour = $3', [tenant, clientId, hourOf(at)]);
  return rows[0]?.failures ?? 0;
}

/** Counts one failed match; returns the hour's count including it. */
export async function addFailure(db: Queryable, tenant: string, clientId: string, at: Date): Promise<number> {
  const { rows } = await db.query<{ failures: number }>(
    `INSERT INTO member_match_failure (tenant, client_id, hour, failures) VALUES ($1, $2, $3, 1)
     ON CONFLICT (tenant, client_id, hour) DO UPDATE SET failures = member_match_failure.failures + 1
     RETURNING failures`,
    [tenant, clientId, hourOf(at)],
  );
  return rows[0].failures;
}

/** Clients whose failures within the current hour reached `threshold` (the alert rule). */
export async function clientsOverFailureThreshold(db: Queryable, threshold: number, at: Date): Promise<{ tenant: string; clientId: string; failures: number }[]> {
  const { rows } = await db.query('SELECT tenant, client_id, failures FROM member_match_failure WHERE hour = $1 AND failures >= $2', [hourOf(at), threshold]);
  return rows.map((r) => ({ tenant: r.tenant, clientId: r.client_id, failures: r.failures }));
}

/** Drops the counts of hours that ended more than a day before `at` (nothing reads them). */
export async function trimFailureCounts(db: Queryable, at: Date): Promise<void> {
  await db.query('DELETE FROM member_match_failure WHERE hour < $1', [new Date(hourOf(at).getTime() - 24 * HOUR_MS)]);
}
