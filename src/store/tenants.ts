/** Tenant registry. Every other table carries the tenant id and every query filters on it. */
import type pg from 'pg';
import { InvalidError } from '../errors.js';

const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export function assertTenantId(id: string): void {
  if (!TENANT_ID.test(id)) {
    throw new InvalidError('A tenant id is 1–63 characters of letters, digits, "-" and "_", starting with a letter or digit');
  }
}

/** Creates the tenant; returns false when it already existed. */
export async function addTenant(pool: pg.Pool, id: string): Promise<boolean> {
  assertTenantId(id);
  const res = await pool.query('INSERT INTO tenant (id) VALUES ($1) ON CONFLICT DO NOTHING', [id]);
  return res.rowCount === 1;
}

export async function tenantExists(pool: pg.Pool, id: string): Promise<boolean> {
  const res = await pool.query('SELECT 1 FROM tenant WHERE id = $1', [id]);
  return res.rowCount === 1;
}

export async function listTenants(pool: pg.Pool): Promise<{ id: string; created_at: Date }[]> {
  return (await pool.query('SELECT id, created_at FROM tenant ORDER BY id')).rows;
}
