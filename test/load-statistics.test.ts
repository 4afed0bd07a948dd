// Planner statistics during a large load (src/store/statistics.ts LoadStatistics): the tables
// are analyzed when the load's committed rows cross each threshold, once per threshold, and not
// before. Without it a new tenant loaded beside others is estimated at one row until the load
// ends, and the write path's key lookups scan the whole tenant (each batch slower than the last).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { LoadStatistics, refreshStatistics } from '../src/store/statistics.js';

describe('statistics during a load', () => {
  let pool: pg.Pool;
  before(() => {
    if (!process.env.DATABASE_URL) throw new Error('tests need DATABASE_URL; run them with `npm test`');
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  });
  after(() => pool.end());

  it('analyzes as the committed rows cross each threshold, once each', async () => {
    // Counted here: other test files analyze the same tables meanwhile. The database's own
    // count must have moved too (at least by ours).
    let runs = 0;
    const before = async () => Number((await pool.query<{ n: string }>(`SELECT analyze_count AS n FROM pg_stat_user_tables WHERE relname = 'resource_compartment'`)).rows[0].n);
    const dbStart = await before();
    const stats = new LoadStatistics(pool, [5, 12], async (p) => {
      runs++;
      await refreshStatistics(p);
    });
    const start = 0;
    const analyzed = async () => runs;
    await stats.wrote(4);
    assert.equal(await analyzed(), start, 'below the first threshold');
    await stats.wrote(3);
    assert.equal(await analyzed(), start + 1, 'crossed 5');
    await stats.wrote(4);
    assert.equal(await analyzed(), start + 1, 'still below 12');
    await stats.wrote(100);
    assert.equal(await analyzed(), start + 2, 'crossed 12 (and nothing more past the last threshold)');
    await stats.wrote(1000);
    assert.equal(await analyzed(), start + 2);
    assert.ok((await before()) >= dbStart + 2, 'PostgreSQL counted the ANALYZEs');
  });
});
