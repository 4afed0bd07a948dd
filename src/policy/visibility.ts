/**
 * Asks PostgreSQL which of some resources a partner policy lets the caller see — for the
 * interactions that fetch resources by key rather than by a search statement (read, vread,
 * instance history, included resources). Same condition as every search and export unit.
 */
import type pg from 'pg';
import { Binds } from '../store/binds.js';
import { policyConditionForTypes, type PolicyRule } from './conditions.js';

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
