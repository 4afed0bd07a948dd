/**
 * Asks PostgreSQL which of some resources a partner policy lets the caller see — for the
 * interactions that fetch resources by key rather than by a search statement (read, vread,
 * instance history, included resources). Same condition as every search and export unit.
 */
import type pg from 'pg';
import { Binds } from '../store/binds.js';
import { toVersion, type StoredVersion } from '../store/resources.js';
import { FINANCIAL_TYPES, partnerContentSql, partnerJson } from './basis.js';
import { shapedQuery } from '../store/statement-names.js';
import { policyConditionForTypes, type PolicyRule } from './conditions.js';
import type { RestrictingPolicy } from './partner-policy.js';
import type { RestrictedReads } from '../store/current-reads.js';

export interface ResourceKey {
  type: string;
  id: string;
}

/** The keys (`Type/id`) among `keys` that the policy shows. */
export async function visibleKeys(db: pg.Pool | pg.PoolClient, tenant: string, rule: PolicyRule, keys: readonly ResourceKey[]): Promise<Set<string>> {
  if (!keys.length) return new Set();
  const types = [...new Set(keys.map((k) => k.type))].sort();
  const b = new Binds(tenant);
  const ts = b.add(keys.map((k) => k.type), 'text[]');
  const ids = b.add(keys.map((k) => k.id), 'text[]');
  const cond = policyConditionForTypes(b, rule, types, { type: 'k.type', id: 'k.id' });
  if (cond === 'FALSE') return new Set();
  // `$1` (the tenant) is typed even when every type is open (no condition mentions it).
  const { rows } = await db.query<ResourceKey>(`SELECT k.type, k.id FROM unnest(${ts}, ${ids}) AS k(type, id) WHERE $1::text IS NOT NULL AND ${cond}`, b.values);
  return new Set(rows.map((r) => `${r.type}/${r.id}`));
}

/** Whether the policy shows one resource. */
export async function isVisible(db: pg.Pool | pg.PoolClient, tenant: string, rule: PolicyRule, key: ResourceKey): Promise<boolean> {
  return (await visibleKeys(db, tenant, rule, [key])).has(`${key.type}/${key.id}`);
}

/**
 * Current versions of resources of one type that the policy shows, keyed by id, as partners
 * receive them (financial types as their Basis rendition, basis.ts) — the read and the
 * policy's condition in one statement (named per policy kind and type, so each connection
 * plans it once). What the policy hides is absent, as if never written.
 */
export async function readCurrentVisible(db: pg.Pool | pg.PoolClient, tenant: string, rule: PolicyRule, type: string, ids: readonly string[]): Promise<Map<string, StoredVersion>> {
  const b = new Binds(tenant);
  const t = b.add(type);
  // One id is bound as a scalar: the generic plan's estimate then matches the custom one, so
  // PostgreSQL keeps the generic plan after five runs instead of re-planning this statement
  // (about half a millisecond) on every read; an array of unknown length never gets there.
  const idCondition = ids.length === 1 ? `r.id = ${b.add(ids[0])}` : `r.id = ANY(${b.add(ids, 'text[]')})`;
  const cond = policyConditionForTypes(b, rule, [type], { type: 'r.type', id: 'r.id', serviceDate: 'r.service_date' });
  if (cond === 'FALSE') return new Map();
  const content = partnerContentSql('r', FINANCIAL_TYPES.has(type));
  const { rows } = await db.query(
    shapedQuery(`SELECT r.type, r.id, r.version, r.last_updated, r.deleted, ${content} AS content FROM resource r
      WHERE r.tenant = $1 AND r.type = ${t} AND ${idCondition} AND ${cond}`, b.values),
  );
  return new Map(rows.map((r) => [r.id as string, toVersion({ ...r, content: r.content === null ? null : partnerJson(type, r.content) })]));
}

/** Reads under a partner policy for the read coalescer (store/current-reads.ts): one statement per tenant, policy and type, the rule as of that statement. */
export const policyReads: RestrictedReads<RestrictingPolicy> = {
  key: (tenant, type, p) => JSON.stringify([tenant, type, p.kind, p.clientId, p.organization.system, p.organization.value]),
  read: (pool, tenant, policy, type, ids) => readCurrentVisible(pool, tenant, { policy, now: new Date() }, type, ids),
};
