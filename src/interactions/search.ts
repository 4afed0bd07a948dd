/**
 * `search-type`, `search-system` and Patient-compartment search (REST-03…REST-08): the plan
 * from src/search/parse.ts, run by src/search/query.ts, answered as a `searchset` Bundle
 * with match, include and outcome entries and signed keyset paging links.
 *
 * Scopes: search needs `s` on each searched type; granular filters become part of the
 * query, so the database applies them. Included resources need `r` on their type (and
 * must pass its granular filters); the others are left out silently.
 */
import crypto from 'node:crypto';
import { FhirError, ForbiddenError, InvalidError, NotFoundError, TooCostlyError, type Issue } from '../errors.js';
import { bundleJson, type BundleEntry, type BundleLink } from '../fhir/bundle.js';
import { resourceTypes } from '../fhir/schema.js';
import { matchesAnyFilter } from '../fhir/scope-filter.js';
import { subsetJson } from '../fhir/subset.js';
import { isValidId, type Resource } from '../fhir/validation.js';
import { operationOutcome } from '../http/outcome.js';
import { patientCompartmentParams, REFERENCED_TYPES } from '../fhir/compartment.js';
import { findIncludes } from '../search/includes.js';
import { partnerJson, withoutFinancialsJson } from '../policy/basis.js';
import type { PolicyRule } from '../policy/conditions.js';
import { visibleKeys } from '../policy/visibility.js';
import { guardFilter, policyFilter, searchedPatient } from '../search/policy-filter.js';
import { scopeFilter } from '../search/scope.js';
import { parseFilter, parseSearch, type Filter, type SearchPlan } from '../search/parse.js';
import { searchCount, searchEstimate, searchPage, type Cursor, type Row } from '../search/query.js';
import type { FhirResponse, TenantContext } from './context.js';
import { assertType } from './read.js';


export interface SearchRequest {
  /** The searched type; undefined for a system search (`_type`). */
  type?: string;
  /** Query (and form body) parameters in order, repeated names kept. */
  pairs: [string, string][];
  /** `Prefer: handling=strict`. */
  strict: boolean;
  /** `Patient/[id]/[type]`. */
  compartment?: { type: string; id: string };
  /** `Patient/[id]/$everything`: a system search over `_type`, in this patient's compartment (src/interactions/everything.ts). */
  everything?: { patient: string };
}

function linkUrl(path: string, plan: SearchPlan, page?: string): string {
  const q = new URLSearchParams(plan.used);
  if (page) q.set('_page', page);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * What of the included resources the caller may see: `r` on their type, its granular filters,
 * and the partner policy (asked of PostgreSQL, like every other interaction under a policy).
 */
function visibleTo(ctx: TenantContext, rule: PolicyRule | undefined): (rows: Row[]) => Promise<Row[]> {
  const cache = new Map<string, string[] | undefined | false>();
  const scoped = (row: Row): boolean => {
    if (!ctx.access) return true;
    let filters = cache.get(row.type);
    if (filters === undefined && !cache.has(row.type)) {
      try {
        filters = ctx.access.require(row.type, 'r');
      } catch (err) {
        if (!(err instanceof FhirError)) throw err;
        filters = false;
      }
      cache.set(row.type, filters);
    }
    if (filters === false) return false;
    return !filters || matchesAnyFilter(JSON.parse(row.content) as Resource, filters);
  };
  return async (rows) => {
    const allowed = rows.filter(scoped);
    if (!rule || !allowed.length) return allowed;
    const visible = await visibleKeys(ctx.pool, ctx.tenant, rule, allowed);
    return allowed.filter((r) => visible.has(`${r.type}/${r.id}`));
  };
}

export async function search(ctx: TenantContext, req: SearchRequest): Promise<FhirResponse> {
  const system = req.type === undefined;
  let types: string[];
  if (system) {
    const listed = req.pairs.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(',')).map((t) => t.trim()).filter(Boolean);
    for (const t of listed) if (!resourceTypes.has(t)) throw new InvalidError(`_type: '${t}' is not a resource type`, ['_type']);
    types = listed.length ? [...new Set(listed)] : [...resourceTypes];
  } else {
    assertType(req.type!);
    types = [req.type!];
  }
  const extra: Filter[] = [];
  for (const t of system && types.length === resourceTypes.size ? ['*'] : types) {
    const filters = ctx.access?.require(t, 's');
    if (filters) {
      if (system) throw new ForbiddenError('System-level search is not available under granular (filtered) scopes; search each type');
      extra.push(scopeFilter(t, filters));
    }
  }
  if (req.compartment) {
    if (!isValidId(req.compartment.id)) throw new NotFoundError(`${req.compartment.type}/${req.compartment.id} is not a valid resource id`);
    const groups = patientCompartmentParams(types[0])
      .map((code) => parseFilter(types[0], code, `${req.compartment!.type}/${req.compartment!.id}`))
      .filter((f): f is Filter => f !== undefined)
      .map((f) => [f]);
    if (!groups.length) throw new NotFoundError(`${types[0]} is not in the ${req.compartment.type} compartment`);
    extra.push({ kind: 'any', groups });
  }

  const plan = parseSearch(types, system, req.pairs, { ...ctx.config.search, strict: req.strict });
  // The partner policy: on the searched resources, and inside every chain and _has.
  const rule = ctx.access?.policyRule();
  if (rule) {
    plan.filters = plan.filters.map((f) => guardFilter(f, rule));
    const member = searchedPatient(types.length === 1 ? types[0] : undefined, plan.filters, req.everything?.patient ?? (req.compartment?.type === 'Patient' ? req.compartment.id : undefined));
    extra.splice(0, extra.length, ...extra.map((f) => guardFilter(f, rule)), policyFilter(rule, types, member));
  }
  if (system && types.length !== resourceTypes.size) plan.used.unshift(['_type', types.join(',')]);
  if (req.everything) extra.push({ kind: 'compartment', patients: [req.everything.patient] });
  const path = req.everything
    ? `${ctx.base}/Patient/${req.everything.patient}/$everything`
    : req.compartment
      ? `${ctx.base}/${req.compartment.type}/${req.compartment.id}/${types[0]}`
      : system
        ? ctx.base
        : `${ctx.base}/${types[0]}`;
  const digest = crypto.createHash('sha256').update(JSON.stringify([path, plan.used])).digest('base64url').slice(0, 16);
  let cursor: Cursor | undefined;
  if (plan.page) {
    cursor = ctx.cursors.decode<Cursor>(plan.page);
    if (cursor?.q !== digest || (cursor.dir !== 'next' && cursor.dir !== 'prev')) throw new InvalidError('_page does not belong to this search', ['_page']);
  }

  const entries: BundleEntry[] = [];
  /** Limits that cut the answer short (reported in the outcome entry, or 400 under handling=strict). */
  const warnings: string[] = [];
  const link: BundleLink[] = [{ relation: 'self', url: linkUrl(path, plan, plan.page) }];
  let total: number | undefined;
  if (plan.total === 'estimate' && plan.summary !== 'count') {
    total = await searchEstimate(ctx.pool, ctx.tenant, plan, ctx.base, extra, ctx.config.search.exactTotalUpTo);
  } else if (plan.summary === 'count' || plan.total === 'accurate') {
    total = await searchCount(ctx.pool, ctx.tenant, plan, ctx.base, extra);
  }
  if (plan.summary !== 'count' && plan.count > 0) {
    const page = await searchPage(ctx.pool, ctx.tenant, plan, ctx.base, extra, cursor, rule !== undefined);
    const reverse = cursor?.dir === 'prev';
    const hasNext = reverse ? true : page.more;
    const hasPrev = reverse ? page.more : cursor !== undefined;
    if (page.rows.length && hasNext) link.push({ relation: 'next', url: linkUrl(path, plan, ctx.cursors.encode({ q: digest, k: page.last!, dir: 'next' } satisfies Cursor)) });
    if (page.rows.length && hasPrev) link.push({ relation: 'previous', url: linkUrl(path, plan, ctx.cursors.encode({ q: digest, k: page.first!, dir: 'prev' } satisfies Cursor)) });
    // Matches come as partners receive them (searchPage selected the Basis rendition); included
    // resources are rendered here.
    const served = (r: Row) => (rule ? withoutFinancialsJson(r.type, r.content) : r.content);
    const shape = (r: Row) => subsetJson(rule ? partnerJson(r.type, r.content) : r.content, { summary: plan.summary, elements: plan.elements });
    for (const r of page.rows) entries.push({ fullUrl: `${ctx.base}/${r.type}/${r.id}`, resourceJson: shape(r), search: { mode: 'match' } });
    // $everything includes only the directory its data references, never other members' records.
    const visible = visibleTo(ctx, rule);
    const gate = req.everything ? (rows: Row[]) => visible(rows.filter((r) => (REFERENCED_TYPES as readonly string[]).includes(r.type))) : visible;
    const included = await findIncludes(ctx.pool, ctx.tenant, plan.includes, plan.revincludes, page.rows, gate, ctx.config.search.maxIncludeDepth);
    for (const r of included.rows) entries.push({ fullUrl: `${ctx.base}/${r.type}/${r.id}`, resourceJson: served(r), search: { mode: 'include' } });
    if (included.limited) {
      const why = included.limited === 'depth'
        ? `_include/_revinclude stopped after ${ctx.config.search.maxIncludeDepth} level(s) (this server's limit); resources further out were left out`
        : 'Included resources were cut at this server\'s limit per page; use a smaller _count';
      if (req.strict) throw new TooCostlyError(why, ['_include']);
      warnings.push(why);
    }
  }
  const issues: Issue[] = [
    ...plan.ignored.map((d): Issue => ({ severity: 'warning', code: 'not-supported', diagnostics: `Ignored ${d}` })),
    ...warnings.map((d): Issue => ({ severity: 'warning', code: 'too-costly', diagnostics: d })),
  ];
  if (issues.length) entries.push({ resourceJson: JSON.stringify(operationOutcome(issues)), search: { mode: 'outcome' } });
  return { status: 200, body: bundleJson('searchset', entries, { link, total }), resources: entries.filter((e) => e.search?.mode !== 'outcome').length };
}
