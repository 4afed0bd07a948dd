/**
 * Which resources a tenant holds under given ids, whatever their type. The primary key leads
 * with (tenant, type), so an id alone has no index of its own; instead the tenant's few
 * distinct types are found with a skip scan, and each (type, id) pair is one key probe.
 */
import type pg from 'pg';

/** The distinct resource types stored for a tenant (a skip scan over the primary key). */
export async function storedTypes(db: pg.Pool, tenant: string): Promise<string[]> {
  const { rows } = await db.query<{ type: string }>(
    `WITH RECURSIVE t AS (
       (SELECT type FROM resource WHERE tenant = $1 ORDER BY type LIMIT 1)
       UNION ALL
       SELECT (SELECT r.type FROM resource r WHERE r.tenant = $1 AND r.type > t.type ORDER BY r.type LIMIT 1) FROM t WHERE t.type IS NOT NULL)
     SELECT type FROM t WHERE type IS NOT NULL`,
    [tenant],
  );
  return rows.map((r) => r.type);
}

/** Ids per statement: large enough for few round trips, small enough for a modest parameter. */
const CHUNK = 5000;

/** For each id that the tenant stores under some type, the types it is stored under. */
export async function storedTypesOfIds(db: pg.Pool, tenant: string, ids: Iterable<string>): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const all = [...ids];
  if (!all.length) return found;
  const types = await storedTypes(db, tenant);
  if (!types.length) return found;
  for (let i = 0; i < all.length; i += CHUNK) {
    const { rows } = await db.query<{ type: string; id: string }>(
      `SELECT r.type, r.id FROM unnest($2::text[]) AS t(type) CROSS JOIN unnest($3::text[]) AS i(id)
         JOIN resource r ON r.tenant = $1 AND r.type = t.type AND r.id = i.id`,
      [tenant, types, all.slice(i, i + CHUNK)],
    );
    for (const { type, id } of rows) found.set(id, [...(found.get(id) ?? []), type]);
  }
  return found;
}
