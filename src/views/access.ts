/**
 * What a view may read: the one place that turns the caller's grants into the search filters
 * "rows of type T this caller may read". Every read of server data by a view — `$run` pages,
 * `$viewdefinition-export` units, the Group behind `group=` — goes through viewReadFilters, so
 * whatever restricts reading (resource-type scopes, granular scope filters, and partner access
 * policies as they are added) restricts views the same way, in SQL.
 */
import { Access } from '../auth/access.js';
import type { TenantContext } from '../interactions/context.js';
import type { Filter } from '../search/parse.js';
import { partnerJson } from '../policy/basis.js';
import type { PolicyRule } from '../policy/conditions.js';
import type { RestrictingPolicy } from '../policy/partner-policy.js';
import { guardFilter, policyFilter } from '../search/policy-filter.js';
import { scopeFilter } from '../search/scope.js';

/**
 * Who reads: a request's grants, or an export job's recorded client, scopes and the partner
 * policy it was started under (re-applied as each unit runs, so an opt-out recorded since
 * kick-off holds).
 */
export type Reader = Pick<TenantContext, 'access'> | { clientId: string; scope: string; policy?: RestrictingPolicy };

function ruleOf(reader: Reader, access: Access): PolicyRule | undefined {
  if (!('scope' in reader)) return access.policyRule();
  return reader.policy ? { policy: reader.policy, now: new Date() } : undefined;
}

function accessOf(reader: Reader): Access | undefined {
  return 'scope' in reader ? new Access(reader.clientId, reader.scope) : reader.access;
}

/**
 * The search filters (AND-ed) that rows of `type` must satisfy for this reader. Throws 403
 * (insufficient_scope) when the reader may not read `type` at all. Trusted in-process
 * callers without grants (the CLI, the demo loader) read everything.
 */
export function viewReadFilters(reader: Reader, type: string): Filter[] {
  const access = accessOf(reader);
  if (!access) return [];
  const granular = access.require(type, 'r');
  const filters = granular ? [scopeFilter(type, granular)] : [];
  // The partner access policy (provider-access, payer-to-payer), as for every search.
  const rule = ruleOf(reader, access);
  return rule ? [...filters.map((f) => guardFilter(f, rule)), policyFilter(rule, [type])] : filters;
}

/** Whether the reader is a partner: it reads what partners receive (partnerContentSql), money removed. */
export function readsAsPartner(reader: Reader): boolean {
  return 'scope' in reader ? reader.policy !== undefined : reader.access?.policyRule() !== undefined;
}

/** A row a partner's statement selected (stored Basis rendition, or JSON still to render), as the partner sees it. */
export function viewSees(reader: Reader, type: string, json: string): Record<string, unknown> {
  return JSON.parse(readsAsPartner(reader) ? partnerJson(type, json) : json) as Record<string, unknown>;
}
