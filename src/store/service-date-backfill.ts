/**
 * The backfill of migration 18 (migration-service-date.ts): current rows of dated types
 * written before dates of service were stored get theirs, computed from their indexed dates
 * (search_date) as the write path computes them from the same rows (store/resources.ts,
 * fhir/service-dates.ts `serviceDateOf`; test/service-dates checks that they agree). A server
 * runs it in the background after the migration, in committed batches along the primary key;
 * until a row is reached, the policies look its dates up per request, so answers are the
 * same either way. Once done, later starts skip it (background-backfill.ts).
 */
import type pg from 'pg';
import { SERVICE_DATE_PARAMS } from '../fhir/service-dates.js';
import { backfillOnce } from './background-backfill.js';

const DONE = 'service_date_backfill_done';
const BATCH = 2000;
const LOCK_KEY = 7_384_201_618; // arbitrary, fixed: "payer-fhir service date backfill"

/**
 * Sets service_date of the current rows of dated types that `scope` (SQL over the alias `c`,
 * a resource row) selects and whose value is not known, from their indexed dates: the latest
 * end among the type's date-of-service parameters, '-infinity' when there is none. A row
 * rewritten meanwhile (its writer stored its value) is left alone.
 */
export function serviceDatesSql(scope: string): string {
  const pairs = Object.entries(SERVICE_DATE_PARAMS).flatMap(([t, ps]) => ps.map((p) => `('${t}', '${p}')`));
  const types = Object.keys(SERVICE_DATE_PARAMS).map((t) => `'${t}'`);
  return `UPDATE resource r SET service_date = coalesce(d.high, '-infinity')
    FROM (SELECT c.tenant, c.type, c.id, max(s.high) AS high
            FROM resource c
            LEFT JOIN (SELECT s.tenant, s.type, s.id, s.high FROM search_date s JOIN (VALUES ${pairs.join(', ')}) AS p(type, param)
                         ON p.type = s.type AND p.param = s.param) s
              ON s.tenant = c.tenant AND s.type = c.type AND s.id = c.id
           WHERE NOT c.deleted AND c.service_date IS NULL AND c.type IN (${types.join(', ')}) AND ${scope}
           GROUP BY c.tenant, c.type, c.id) d
   WHERE r.tenant = d.tenant AND r.type = d.type AND r.id = d.id AND r.service_date IS NULL`;
}

async function fill(client: pg.PoolClient, log: (m: string) => void, signal?: AbortSignal): Promise<boolean> {
  const types = Object.keys(SERVICE_DATE_PARAMS);
  let after = ['', '', ''];
  let filled = 0;
  for (;;) {
    if (signal?.aborted) return false;
    // One batch of keys along the primary key, then their dates in one statement.
    const { rows } = await client.query<{ tenant: string; type: string; id: string }>(
      `SELECT tenant, type, id FROM resource
        WHERE (tenant, type, id) > ($2, $3, $4) AND type = ANY($1::text[]) AND service_date IS NULL AND NOT deleted
        ORDER BY tenant, type, id LIMIT ${BATCH}`,
      [types, ...after],
    );
    if (!rows.length) break;
    await client.query(serviceDatesSql('(c.tenant, c.type, c.id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))'), [
      rows.map((r) => r.tenant),
      rows.map((r) => r.type),
      rows.map((r) => r.id),
    ]);
    filled += rows.length;
    const last = rows[rows.length - 1];
    after = [last.tenant, last.type, last.id];
  }
  if (filled) log(`stored the date of service of ${filled} resources`);
  return true;
}

/** Fills the dates of service missing since migration 18, unless done before or running in another process; stops between batches when `signal` aborts. */
export async function backfillServiceDates(pool: pg.Pool, log: (m: string) => void, signal?: AbortSignal): Promise<void> {
  await backfillOnce(pool, DONE, LOCK_KEY, (client) => fill(client, log, signal));
}
