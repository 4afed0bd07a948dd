/**
 * Seeded plans kept between benchmark runs (a million resources take minutes to seed):
 * tenant `<name>-<members>` seeded with seed `<name>`. The export, views and policy benchmarks
 * only read theirs (`bench-export`); the member-match benchmark writes Consents and matches into
 * its own (`bench-match`), so each of its runs adds to that plan. BENCH_EXPORT_RESEED=1
 * rebuilds whichever plan a run uses.
 */
import type pg from 'pg';
import { seedTenant } from '../../src/seed/load.js';
import { addTenant } from '../../src/store/tenants.js';
import { dropTenant } from './report.js';

export async function ensureSeeded(pool: pg.Pool, members: number, name = 'bench-export'): Promise<{ tenant: string; resources: number }> {
  const tenant = `${name}-${members}`;
  const count = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant = $1 AND NOT deleted', [tenant])).rows[0].n);
  if (process.env.BENCH_EXPORT_RESEED === '1') await dropTenant(pool, tenant);
  const exists = (await pool.query('SELECT 1 FROM tenant WHERE id = $1', [tenant])).rowCount;
  if (exists && (await count()) > 0) return { tenant, resources: await count() };
  if (!exists) await addTenant(pool, tenant);
  process.stderr.write(`seeding ${members} members into ${tenant} (kept for later runs)…\n`);
  await seedTenant(pool, tenant, { seed: name, members });
  await pool.query('ANALYZE');
  return { tenant, resources: await count() };
}
