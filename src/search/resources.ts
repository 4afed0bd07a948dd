/**
 * A search run on the server's own behalf (member matching, the consent CLI): parameters in,
 * parsed resources out, strictly (a parameter the server cannot evaluate is an error), first
 * page only — callers bound what they need with `count`.
 */
import type pg from 'pg';
import { parseSearch } from './parse.js';
import { searchPage } from './query.js';

export async function searchResources(db: pg.Pool, tenant: string, type: string, pairs: [string, string][], count: number): Promise<Record<string, any>[]> {
  const plan = parseSearch([type], false, pairs, { defaultCount: count, maxCount: count, strict: true });
  plan.count = count;
  const page = await searchPage(db, tenant, plan, '', []);
  return page.rows.map((r) => JSON.parse(r.content) as Record<string, any>);
}

/** A search value with FHIR's reserved characters (`\ , $ |`) escaped. */
export function escapeSearchValue(v: string): string {
  return v.replace(/[\\,$|]/g, (c) => `\\${c}`);
}
