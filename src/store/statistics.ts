/**
 * Planner statistics after a bulk load. Search plans choose between index paths by row
 * estimates; a freshly loaded table without statistics (autovacuum off, or not yet run)
 * gets guesses that can turn a 1 ms lookup into a second. Seeding and importing therefore
 * ANALYZE the tables they filled once a load is large enough to matter.
 */
import type pg from 'pg';

/** Loads smaller than this leave statistics to autovacuum. */
export const ANALYZE_AFTER_RESOURCES = 1_000;

const TABLES = ['resource', 'resource_history', 'resource_compartment', 'search_token', 'search_string', 'search_date', 'search_reference', 'search_quantity', 'search_uri'];

export async function refreshStatistics(pool: pg.Pool): Promise<void> {
  await pool.query(`ANALYZE ${TABLES.join(', ')}`);
}
