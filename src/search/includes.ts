/**
 * `_include` and `_revinclude` (with `:iterate`): resources the page's matches reference, or
 * that reference them, found through the reference index. `:iterate` repeats on what was
 * just included, a bounded number of rounds. The caller decides what the client may see.
 */
import type pg from 'pg';
import { searchParams } from '../fhir/search-parameters.js';
import type { Include } from './parse.js';
import type { Row } from './query.js';

const MAX_ROUNDS = 4;
const MAX_INCLUDED = 2000;

function paramsOf(inc: Include): string[] {
  if (!inc.params.includes('*')) return inc.params;
  return searchParams(inc.source).filter((p) => p.type === 'reference').map((p) => p.code);
}

async function forward(db: pg.Pool, tenant: string, inc: Include, from: Row[]): Promise<Row[]> {
  const ids = from.filter((r) => r.type === inc.source).map((r) => r.id);
  if (!ids.length) return [];
  const { rows } = await db.query(
    `SELECT r.type, r.id, r.content, r.last_updated FROM resource r
      WHERE r.tenant = $1 AND NOT r.deleted AND (r.type, r.id) IN (
        SELECT x.target_type, x.target_id FROM search_reference x
         WHERE x.tenant = $1 AND x.type = $2 AND x.id = ANY($3::text[]) AND x.param = ANY($4::text[])
           AND x.target_id IS NOT NULL AND ($5::text IS NULL OR x.target_type = $5))
      LIMIT ${MAX_INCLUDED}`,
    [tenant, inc.source, ids, paramsOf(inc), inc.target ?? null],
  );
  return rows.map((r) => ({ type: r.type, id: r.id, content: r.content, lastUpdated: r.last_updated }));
}

async function reverse(db: pg.Pool, tenant: string, inc: Include, to: Row[]): Promise<Row[]> {
  const targets = inc.target ? to.filter((r) => r.type === inc.target) : to;
  if (!targets.length) return [];
  const { rows } = await db.query(
    `SELECT r.type, r.id, r.content, r.last_updated FROM resource r
      WHERE r.tenant = $1 AND r.type = $2 AND NOT r.deleted AND r.id IN (
        SELECT x.id FROM search_reference x
         WHERE x.tenant = $1 AND x.type = $2 AND x.param = ANY($3::text[])
           AND (x.target_type, x.target_id) IN (SELECT * FROM unnest($4::text[], $5::text[])))
      LIMIT ${MAX_INCLUDED}`,
    [tenant, inc.source, paramsOf(inc), targets.map((r) => r.type), targets.map((r) => r.id)],
  );
  return rows.map((r) => ({ type: r.type, id: r.id, content: r.content, lastUpdated: r.last_updated }));
}

/**
 * The included resources for `matches` (not repeating any match), filtered by `visible`
 * (the caller's read access) before they can seed an iteration.
 */
export async function findIncludes(
  db: pg.Pool,
  tenant: string,
  includes: Include[],
  revincludes: Include[],
  matches: Row[],
  visible: (row: Row) => boolean,
): Promise<Row[]> {
  if (!includes.length && !revincludes.length) return [];
  const seen = new Set(matches.map((r) => `${r.type}/${r.id}`));
  const out: Row[] = [];
  let frontier = matches;
  for (let round = 0; round < MAX_ROUNDS && frontier.length && out.length < MAX_INCLUDED; round++) {
    const found: Row[] = [];
    const active = (list: Include[]) => (round === 0 ? list : list.filter((i) => i.iterate));
    for (const inc of active(includes)) found.push(...(await forward(db, tenant, inc, frontier)));
    for (const inc of active(revincludes)) found.push(...(await reverse(db, tenant, inc, frontier)));
    const fresh: Row[] = [];
    for (const r of found) {
      const key = `${r.type}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!visible(r)) continue;
      fresh.push(r);
    }
    out.push(...fresh);
    frontier = fresh;
    if (!includes.some((i) => i.iterate) && !revincludes.some((i) => i.iterate)) break;
  }
  return out.slice(0, MAX_INCLUDED);
}
