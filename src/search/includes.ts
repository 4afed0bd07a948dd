/**
 * `_include` and `_revinclude` (with `:iterate`): resources the page's matches reference, or
 * that reference them, found through the reference index. `:iterate` repeats on what was
 * just included, up to MAX_INCLUDE_DEPTH levels. The caller decides what the client may see.
 */
import type pg from 'pg';
import { searchParams } from '../fhir/search-parameters.js';
import type { Include } from './parse.js';
import type { Row } from './query.js';

/** Included resources per page, across all levels. */
const MAX_INCLUDED = 2000;

function paramsOf(inc: Include): string[] {
  if (!inc.params.includes('*')) return inc.params;
  return searchParams(inc.source).filter((p) => p.type === 'reference').map((p) => p.code);
}

async function forward(db: pg.Pool, tenant: string, inc: Include, from: Row[]): Promise<Row[]> {
  const ids = from.filter((r) => r.type === inc.source).map((r) => r.id);
  if (!ids.length) return [];
  const { rows } = await db.query({
    name: 'search-include',
    text: `SELECT r.type, r.id, r.content, r.last_updated FROM resource r
      WHERE r.tenant = $1 AND NOT r.deleted AND (r.type, r.id) IN (
        SELECT x.target_type, x.target_id FROM search_reference x
         WHERE x.tenant = $1 AND x.type = $2 AND x.id = ANY($3::text[]) AND x.param = ANY($4::text[])
           AND x.target_id IS NOT NULL AND ($5::text IS NULL OR x.target_type = $5))
      LIMIT ${MAX_INCLUDED + 1}`,
    values: [tenant, inc.source, ids, paramsOf(inc), inc.target ?? null],
  });
  return rows.map((r) => ({ type: r.type, id: r.id, content: r.content, lastUpdated: r.last_updated }));
}

async function reverse(db: pg.Pool, tenant: string, inc: Include, to: Row[]): Promise<Row[]> {
  const targets = inc.target ? to.filter((r) => r.type === inc.target) : to;
  if (!targets.length) return [];
  const { rows } = await db.query({
    name: 'search-revinclude',
    text: `SELECT r.type, r.id, r.content, r.last_updated FROM resource r
      WHERE r.tenant = $1 AND r.type = $2 AND NOT r.deleted AND r.id IN (
        SELECT x.id FROM search_reference x
         WHERE x.tenant = $1 AND x.type = $2 AND x.param = ANY($3::text[])
           AND (x.target_type, x.target_id) IN (SELECT * FROM unnest($4::text[], $5::text[])))
      LIMIT ${MAX_INCLUDED + 1}`,
    values: [tenant, inc.source, paramsOf(inc), targets.map((r) => r.type), targets.map((r) => r.id)],
  });
  return rows.map((r) => ({ type: r.type, id: r.id, content: r.content, lastUpdated: r.last_updated }));
}

/** What was included, and whether a limit stopped the inclusion short (`depth`: MAX_INCLUDE_DEPTH; `count`: MAX_INCLUDED). */
export interface IncludeResult {
  rows: Row[];
  limited?: 'depth' | 'count';
}

/**
 * The included resources for `matches` (not repeating any match), filtered by `visible`
 * (the caller's read access: scopes and partner policy) before they can seed an iteration. At most `maxDepth` levels
 * are followed from the matches; when `:iterate` would have found more beyond them, one
 * more round is looked up (not returned) so the result can say it was cut short.
 */
export async function findIncludes(
  db: pg.Pool,
  tenant: string,
  includes: Include[],
  revincludes: Include[],
  matches: Row[],
  visible: (rows: Row[]) => Promise<Row[]>,
  maxDepth: number,
): Promise<IncludeResult> {
  if (!includes.length && !revincludes.length) return { rows: [] };
  const iterates = includes.some((i) => i.iterate) || revincludes.some((i) => i.iterate);
  const seen = new Set(matches.map((r) => `${r.type}/${r.id}`));
  let overflow = false;
  /** The resources one level further out than `frontier`, not seen before and visible. */
  const level = async (n: number, frontier: Row[]): Promise<Row[]> => {
    const found: Row[] = [];
    const active = (list: Include[]) => (n === 0 ? list : list.filter((i) => i.iterate));
    for (const inc of active(includes)) found.push(...(await forward(db, tenant, inc, frontier)));
    for (const inc of active(revincludes)) found.push(...(await reverse(db, tenant, inc, frontier)));
    if (found.length > MAX_INCLUDED) overflow = true;
    const fresh: Row[] = [];
    for (const r of found) {
      const key = `${r.type}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      fresh.push(r);
    }
    return visible(fresh);
  };
  const out: Row[] = [];
  let frontier = matches;
  for (let n = 0; frontier.length && out.length <= MAX_INCLUDED && (n === 0 || iterates); n++) {
    const fresh = await level(n, frontier);
    if (n >= maxDepth) return { rows: out.slice(0, MAX_INCLUDED), limited: fresh.length ? 'depth' : undefined };
    out.push(...fresh);
    frontier = fresh;
  }
  return { rows: out.slice(0, MAX_INCLUDED), limited: overflow || out.length > MAX_INCLUDED ? 'count' : undefined };
}
