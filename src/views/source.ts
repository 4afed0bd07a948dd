/**
 * Where a view's resources come from: the caller's inline resources, or this server's rows of
 * the view's type, read in keyset pages through the search engine (src/search/query.ts) with
 * the filters of viewReadFilters — so scopes and policies apply in SQL — plus the Patient
 * compartment for `patient` / `group` and `_lastUpdated` for `_since`. One page is in memory
 * at a time, whatever the number of resources.
 */
import { groupMembers } from '../bulk/kickoff.js';
import { NotFoundError } from '../errors.js';
import type { TenantContext } from '../interactions/context.js';
import { parseSearch, type Filter } from '../search/parse.js';
import { searchPage, type Cursor } from '../search/query.js';
import { readsAsPartner, viewReadFilters, viewSees } from './access.js';

/** Resources per page: big enough to amortise the statement, small enough to keep memory flat. */
export const PAGE_SIZE = 500;

export interface SourceScope {
  /** Patient ids whose compartments bound the rows (from `patient` and `group`). */
  patients?: string[];
  /** Only resources changed after this instant. */
  since?: Date;
}

/** Pages of stored resources of `type` matching `filters` (plus the reader's own), as parsed JSON. */
export async function* storedPages(ctx: TenantContext, type: string, pairs: [string, string][], extra: Filter[], pageSize = PAGE_SIZE): AsyncGenerator<Record<string, unknown>[]> {
  const filters = [...viewReadFilters(ctx, type), ...extra];
  const plan = parseSearch([type], false, pairs, { defaultCount: pageSize, maxCount: pageSize, strict: true });
  // A partner's rows come as stored Basis renditions, as its searches and exports do.
  const partner = readsAsPartner(ctx);
  let cursor: Cursor | undefined;
  for (;;) {
    const page = await searchPage(ctx.pool, ctx.tenant, plan, ctx.base, filters, cursor, partner);
    if (page.rows.length) yield page.rows.map((r) => viewSees(ctx, r.type, r.content));
    if (!page.more) return;
    cursor = { q: '', k: page.last!, dir: 'next' };
  }
}

/** The view's input from the server: resources of `type` in the scope asked for. */
export function serverResources(ctx: TenantContext, type: string, scope: SourceScope): AsyncGenerator<Record<string, unknown>[]> {
  const pairs: [string, string][] = scope.since ? [['_lastUpdated', `gt${scope.since.toISOString()}`]] : [];
  const extra: Filter[] = scope.patients ? [{ kind: 'compartment', patients: scope.patients }] : [];
  return storedPages(ctx, type, pairs, extra);
}

/**
 * The patients of `patient` and `group` (members of each Group, nested Groups expanded), or
 * undefined when neither is given. Each Group must itself be readable by the caller.
 */
export async function patientScope(ctx: TenantContext, patients: string[] | undefined, groups: string[] | undefined): Promise<string[] | undefined> {
  if (!patients && !groups) return undefined;
  const out = new Set(patients ?? []);
  for (const id of groups ?? []) {
    let found = false;
    for await (const page of storedPages(ctx, 'Group', [['_id', id]], [], 1)) found ||= page.length > 0;
    if (!found) throw new NotFoundError(`Group/${id} is not known`);
    for (const p of await groupMembers(ctx, id, new Date())) out.add(p);
  }
  return [...out].sort();
}

/** Inline resources as one page, those of other types left out by the view itself. */
export async function* inlineResources(resources: Record<string, unknown>[]): AsyncGenerator<Record<string, unknown>[]> {
  if (resources.length) yield resources;
}
