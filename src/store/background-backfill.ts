/**
 * What the background backfills of stored columns (basis-backfill.ts, service-date-backfill.ts)
 * share: each runs once per database — a row in server_setting records that it is done, so
 * later starts skip it with one lookup — and in one process at a time (an advisory lock; the
 * others go on without it). `work` returns false when stopped midway; the next start resumes.
 */
import type pg from 'pg';

export async function backfillOnce(pool: pg.Pool, done: string, lockKey: number, work: (client: pg.PoolClient) => Promise<boolean>): Promise<void> {
  const finished = await pool.query('SELECT 1 FROM server_setting WHERE name = $1', [done]);
  if (finished.rows.length) return;
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [lockKey]);
    if (!rows[0].ok) return; // another process is at it
    try {
      if (!(await work(client))) return;
      await client.query('INSERT INTO server_setting (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [done, new Date().toISOString()]);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [lockKey]);
    }
  } finally {
    client.release();
  }
}
