/**
 * Writes the typed search-index rows of a batch (src/fhir/extract.ts decides what they are).
 * One statement removes the rows of every superseded or deleted resource from all index
 * tables, one statement inserts the new rows into all of them — two round trips per batch
 * whatever its size, and none of their own when the resource store adds them to its own
 * statements (store/resources.ts). Patient-compartment membership (resource_compartment) is written from the
 * same reference rows; it is replaced when a resource is rewritten but kept when it is
 * deleted, so exports can attribute tombstones.
 */
import type pg from 'pg';
import { patientsOf } from '../fhir/compartment.js';
import { extractIndex, type IndexRows } from '../fhir/extract.js';
import { serviceDateOf } from '../fhir/service-dates.js';
import type { Resource } from '../fhir/validation.js';
import { CteStatement } from './cte-statement.js';
import { addPartnerAdditions, addPartnerRemovals } from './partner-index.js';

/** The index tables and their value columns (with PostgreSQL array types for unnest). */
const TABLES: { table: string; rows: keyof IndexRows; columns: [string, string, string][] }[] = [
  { table: 'search_token', rows: 'token', columns: [['system', 'text', 'system'], ['code', 'text', 'code'], ['text', 'text', 'text']] },
  { table: 'search_string', rows: 'string', columns: [['value', 'text', 'value'], ['norm', 'text', 'norm']] },
  { table: 'search_date', rows: 'date', columns: [['low', 'timestamptz', 'low'], ['high', 'timestamptz', 'high']] },
  { table: 'search_reference', rows: 'reference', columns: [['target_type', 'text', 'targetType'], ['target_id', 'text', 'targetId'], ['url', 'text', 'url']] },
  { table: 'search_quantity', rows: 'quantity', columns: [['value', 'numeric', 'value'], ['system', 'text', 'system'], ['code', 'text', 'code']] },
  { table: 'search_uri', rows: 'uri', columns: [['value', 'text', 'value']] },
];

export const INDEX_TABLES = TABLES.map((t) => t.table);

export interface IndexedResource {
  type: string;
  id: string;
  resource: Resource;
  /** Its index rows, when the caller has extracted them already. */
  rows?: IndexRows;
}

/**
 * Inside the caller's transaction: drops the index rows of `removed` (resources whose
 * previous version is superseded or deleted), then indexes `added` — two statements.
 */
export async function writeSearchIndex(client: pg.PoolClient, tenant: string, removed: { type: string; id: string }[], added: IndexedResource[]): Promise<void> {
  const removal = new CteStatement(tenant);
  addIndexRemovals(removal, removed, added);
  if (!removal.empty) await client.query(removal.text(), removal.binds.values);
  const addition = new CteStatement(tenant);
  addIndexAdditions(addition, added);
  if (!addition.empty) await client.query(addition.text(), addition.binds.values);
}

/**
 * Adds to `stmt` the removal of the index rows (search, compartment, partner access) of
 * `removed`; `added` tells which of them are rewritten rather than deleted.
 */
export function addIndexRemovals(stmt: CteStatement, removed: { type: string; id: string }[], added: IndexedResource[]): void {
  addPartnerRemovals(stmt, removed);
  if (!removed.length) return;
  const types = stmt.binds.add(removed.map((r) => r.type), 'text[]');
  const ids = stmt.binds.add(removed.map((r) => r.id), 'text[]');
  TABLES.forEach((t, i) => stmt.add(`d${i}`, `DELETE FROM ${t.table} WHERE tenant = $1 AND (type, id) IN (SELECT * FROM unnest(${types}, ${ids}))`));
  // Memberships go only when a new version replaces them (deletions keep theirs).
  const addedKeys = new Set(added.map((a) => `${a.type}/${a.id}`));
  const rewritten = removed.filter((r) => addedKeys.has(`${r.type}/${r.id}`));
  if (rewritten.length) {
    const rt = stmt.binds.add(rewritten.map((r) => r.type), 'text[]');
    const ri = stmt.binds.add(rewritten.map((r) => r.id), 'text[]');
    stmt.add('dc', `DELETE FROM resource_compartment WHERE tenant = $1 AND (type, id) IN (SELECT * FROM unnest(${rt}, ${ri}))`);
  }
}

/** Adds to `stmt` the index rows (search, compartment, partner access) of `added`. */
export function addIndexAdditions(stmt: CteStatement, added: IndexedResource[]): void {
  if (!added.length) return;
  addPartnerAdditions(stmt, added);
  const compartment = { patient: [] as string[], type: [] as string[], id: [] as string[] };
  // Column arrays per table: type, id, param, then the value columns.
  const arrays = TABLES.map((t) => ({ type: [] as string[], id: [] as string[], param: [] as string[], values: t.columns.map(() => [] as unknown[]) }));
  for (const a of added) {
    const rows = a.rows ?? extractIndex(a.resource);
    for (const patient of patientsOf(a.type, a.id, rows.reference)) {
      compartment.patient.push(patient);
      compartment.type.push(a.type);
      compartment.id.push(a.id);
    }
    TABLES.forEach((t, i) => {
      const target = arrays[i];
      for (const row of rows[t.rows] as unknown as Record<string, unknown>[]) {
        target.type.push(a.type);
        target.id.push(a.id);
        target.param.push(row.param as string);
        t.columns.forEach(([, , key], j) => target.values[j].push(row[key] ?? null));
      }
    });
  }
  TABLES.forEach((t, i) => {
    const a = arrays[i];
    if (!a.id.length) return;
    const casts = [
      stmt.binds.add(a.type, 'text[]'),
      stmt.binds.add(a.id, 'text[]'),
      stmt.binds.add(a.param, 'text[]'),
      ...t.columns.map(([, pgType], j) => stmt.binds.add(a.values[j], `${pgType}[]`)),
    ];
    stmt.add(`i${i}`, `INSERT INTO ${t.table} (tenant, type, id, param, ${t.columns.map(([c]) => c).join(', ')}) SELECT $1, * FROM unnest(${casts.join(', ')})`);
  });
  if (compartment.id.length) {
    const cols = [compartment.patient, compartment.type, compartment.id].map((v) => stmt.binds.add(v, 'text[]'));
    stmt.add('ic', `INSERT INTO resource_compartment (tenant, patient_id, type, id) SELECT $1, * FROM unnest(${cols.join(', ')}) ON CONFLICT DO NOTHING`);
  }
}

/**
 * Rebuilds the index rows (and the stored date of service) of every current resource of a
 * tenant (optionally one type), in key order, one transaction per batch; returns how many resources were reindexed.
 */
export async function reindex(pool: pg.Pool, tenant: string, opts: { type?: string; batchSize?: number; onBatch?: (done: number) => void } = {}): Promise<number> {
  const batchSize = opts.batchSize ?? 500;
  let after: [string, string] = ['', ''];
  let done = 0;
  for (;;) {
    const { rows } = await pool.query<{ type: string; id: string; content: string }>(
      `SELECT type, id, content FROM resource
        WHERE tenant = $1 AND NOT deleted AND ($2::text IS NULL OR type = $2) AND (type, id) > ($3, $4)
        ORDER BY type, id LIMIT $5`,
      [tenant, opts.type ?? null, after[0], after[1], batchSize],
    );
    if (!rows.length) return done;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const indexed = rows.map((r) => {
        const resource = JSON.parse(r.content) as Resource;
        return { type: r.type, id: r.id, resource, rows: extractIndex(resource) };
      });
      await writeSearchIndex(client, tenant, rows, indexed);
      // The stored date of service comes from the same index rows (migration-service-date.ts).
      await client.query(
        `UPDATE resource r SET service_date = u.s FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS u(t, i, s) WHERE r.tenant = $1 AND r.type = u.t AND r.id = u.i`,
        [tenant, indexed.map((x) => x.type), indexed.map((x) => x.id), indexed.map((x) => serviceDateOf(x.type, x.rows.date))],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    done += rows.length;
    opts.onBatch?.(done);
    const last = rows[rows.length - 1];
    after = [last.type, last.id];
  }
}
