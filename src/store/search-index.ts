/**
 * Writes the typed search-index rows of a batch (src/fhir/extract.ts decides what they are).
 * One statement removes the rows of every superseded or deleted resource from all index
 * tables, one statement inserts the new rows into all of them — two round trips per batch
 * whatever its size.
 */
import type pg from 'pg';
import { extractIndex, type IndexRows } from '../fhir/extract.js';
import type { Resource } from '../fhir/validation.js';

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
}

/**
 * Inside the caller's transaction: drops the index rows of `removed` (resources whose
 * previous version is superseded or deleted), then indexes `added`.
 */
export async function writeSearchIndex(client: pg.PoolClient, tenant: string, removed: { type: string; id: string }[], added: IndexedResource[]): Promise<void> {
  if (removed.length) {
    const ctes = TABLES.map(
      (t, i) => `d${i} AS (DELETE FROM ${t.table} WHERE tenant = $1 AND (type, id) IN (SELECT * FROM unnest($2::text[], $3::text[])))`,
    );
    await client.query(`WITH ${ctes.join(', ')} SELECT 1`, [tenant, removed.map((r) => r.type), removed.map((r) => r.id)]);
  }
  if (!added.length) return;
  // Column arrays per table: type, id, param, then the value columns.
  const arrays = TABLES.map((t) => ({ type: [] as string[], id: [] as string[], param: [] as string[], values: t.columns.map(() => [] as unknown[]) }));
  for (const a of added) {
    const rows = extractIndex(a.resource);
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
  const params: unknown[] = [tenant];
  const ctes: string[] = [];
  TABLES.forEach((t, i) => {
    const a = arrays[i];
    if (!a.id.length) return;
    const first = params.length + 1;
    params.push(a.type, a.id, a.param, ...a.values);
    const casts = ['text', 'text', 'text', ...t.columns.map(([, pgType]) => pgType)].map((pgType, j) => `$${first + j}::${pgType}[]`);
    ctes.push(
      `i${i} AS (INSERT INTO ${t.table} (tenant, type, id, param, ${t.columns.map(([c]) => c).join(', ')}) SELECT $1, * FROM unnest(${casts.join(', ')}))`,
    );
  });
  if (ctes.length) await client.query(`WITH ${ctes.join(', ')} SELECT 1`, params);
}
