/**
 * The backfill of migration 17 (migration-basis.ts): financial rows written before Basis
 * renditions were stored get theirs, rendered by the same Node function that renders every
 * new write (src/policy/basis.ts), which SQL alone could not reproduce byte for byte. A
 * server runs it in the background after the migration (it never delays a start), in
 * committed batches along the primary key; a process stopped midway leaves the rest to the
 * next start (until then those rows are rendered per request, so answers are the same
 * either way). Once done, later starts skip it (background-backfill.ts).
 */
import type pg from 'pg';
import { FINANCIAL_TYPES, withoutFinancialsJson } from '../policy/basis.js';
import { backfillOnce } from './background-backfill.js';

const DONE = 'basis_backfill_done';
const BATCH = 500;
const LOCK_KEY = 7_384_201_617; // arbitrary, fixed: "payer-fhir Basis backfill"

interface Row {
  tenant: string;
  type: string;
  id: string;
  version: number;
  content: string;
}

async function fill(client: pg.PoolClient, table: 'resource' | 'resource_history', log: (m: string) => void, signal?: AbortSignal): Promise<boolean> {
  const types = [...FINANCIAL_TYPES];
  // Keyset over the primary key (resource: tenant, type, id; history: and version): one pass, whatever the table's size.
  const key = table === 'resource' ? 'tenant, type, id' : 'tenant, type, id, version';
  let after: unknown[] = table === 'resource' ? ['', '', ''] : ['', '', '', 0];
  let filled = 0;
  for (;;) {
    if (signal?.aborted) return false;
    const marks = after.map((_, i) => `$${i + 2}`).join(', ');
    const { rows } = await client.query<Row>(
      `SELECT tenant, type, id, version, content FROM ${table}
        WHERE (${key}) > (${marks}) AND type = ANY($1::text[]) AND basis IS NULL AND content IS NOT NULL
        ORDER BY ${key} LIMIT ${BATCH}`,
      [types, ...after],
    );
    if (!rows.length) break;
    // The version guard leaves alone a row rewritten meanwhile (its writer stored its rendition).
    await client.query(
      `UPDATE ${table} t SET basis = u.basis
         FROM ROWS FROM (unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::int[]), json_array_elements_text($5::json)) AS u(tenant, type, id, version, basis)
        WHERE t.tenant = u.tenant AND t.type = u.type AND t.id = u.id AND t.version = u.version AND t.basis IS NULL`,
      [rows.map((r) => r.tenant), rows.map((r) => r.type), rows.map((r) => r.id), rows.map((r) => r.version), JSON.stringify(rows.map((r) => withoutFinancialsJson(r.type, r.content)))],
    );
    filled += rows.length;
    const last = rows[rows.length - 1];
    after = table === 'resource' ? [last.tenant, last.type, last.id] : [last.tenant, last.type, last.id, last.version];
  }
  if (filled) log(`stored the Basis rendition of ${filled} financial resource versions (${table})`);
  return true;
}

/** Fills the renditions missing since migration 17, unless done before or running in another process; stops between batches when `signal` aborts. */
export async function backfillBasis(pool: pg.Pool, log: (m: string) => void, signal?: AbortSignal): Promise<void> {
  await backfillOnce(pool, DONE, LOCK_KEY, async (client) => (await fill(client, 'resource', log, signal)) && (await fill(client, 'resource_history', log, signal)));
}
