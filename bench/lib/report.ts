/** What every benchmark shares: figures, peak-memory sampling, the table, and cleaning up its tenant. */
import type pg from 'pg';
import { inTransaction } from '../../src/store/database.js';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  limit: number;
  ratio: number;
}

export function figure(name: string, value: number, unit: string, limit: number): Figure {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { name, value: round(value), unit, limit: round(limit), ratio: round(value / limit) };
}

/** Samples resident memory while `fn` runs; the timer fires between batches even when busy. */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakRss: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 25);
  try {
    const result = await fn();
    return { result, peakRss: Math.max(peak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(timer);
  }
}

/** Removes the benchmark tenant's rows from every table that has a tenant column, then the tenant. */
export async function dropTenant(pool: pg.Pool, tenant: string): Promise<void> {
  const { rows } = await pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND column_name = 'tenant' AND table_name <> 'tenant'`,
  );
  await inTransaction(pool, async (client) => {
    // A benchmark tenant's audit records go with it (the append-only trigger allows retention deletes only).
    await client.query("SET LOCAL payer_fhir.audit_retention = 'on'");
    for (const { table_name } of rows) await client.query(`DELETE FROM "${table_name}" WHERE tenant = $1`, [tenant]);
    await client.query('DELETE FROM tenant WHERE id = $1', [tenant]);
  });
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ')).join('\n');
}

/** The last line of every benchmark: its figures as one JSON object. */
export function printFigures(bench: string, figures: Figure[]): void {
  process.stdout.write(`${JSON.stringify({ bench, figures })}\n`);
}
