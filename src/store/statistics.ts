/**
 * Planner statistics after a bulk load. Search plans choose between index paths by row
 * estimates; a freshly loaded table without statistics (autovacuum off, or not yet run)
 * gets guesses that can turn a 1 ms lookup into a second. Seeding and importing therefore
 * ANALYZE the tables they filled once a load is large enough to matter — and also during a
 * large load (LoadStatistics): PostgreSQL estimates a tenant its last ANALYZE did not see at
 * about one row, so while a new tenant fills a table that already holds others, the write
 * path's key lookups are planned as scans of "the tenant's one row" over an index that leads
 * with the tenant — each batch slower than the last (a 10,000-member seed beside an existing
 * plan went from 6 minutes to over 20).
 */
import type pg from 'pg';

/** Loads smaller than this leave statistics to autovacuum. */
export const ANALYZE_AFTER_RESOURCES = 1_000;

const TABLES = ['resource', 'resource_history', 'resource_compartment', 'search_token', 'search_string', 'search_date', 'search_reference', 'search_quantity', 'search_uri'];

export async function refreshStatistics(pool: pg.Pool): Promise<void> {
  await pool.query(`ANALYZE ${TABLES.join(', ')}`);
}

/** Written rows of one load after which its tables are analyzed while it runs (once each). */
const DURING_LOAD = [20_000, 200_000];

/** Counts a load's committed rows and refreshes statistics when it crosses DURING_LOAD. */
export class LoadStatistics {
  private written = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly thresholds: readonly number[] = DURING_LOAD,
    private readonly analyze: (pool: pg.Pool) => Promise<void> = refreshStatistics,
  ) {}

  /** After a committed batch of `n` rows. Never two ANALYZEs at once; a crossing during one is skipped. */
  async wrote(n: number): Promise<void> {
    const before = this.written;
    this.written += n;
    if (this.running || !this.thresholds.some((t) => before < t && this.written >= t)) return;
    this.running = this.analyze(this.pool).finally(() => (this.running = undefined));
    await this.running;
  }
}
