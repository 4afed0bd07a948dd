/**
 * Reads of the usage rollups (audit/usage.ts keeps them): the console's overview, per-client
 * usage and last use. Each reads a bounded number of rollup rows through an index — a minute
 * row per client and address for the last hour, an hour row per client for days — and never
 * the trail itself, whose size grows with every request.
 */
import type pg from 'pg';
import { LATENCY_BOUNDS_MS } from './usage.js';

export interface SeriesPoint {
  at: string;
  requests: number;
  failed: number;
  bytes: number;
  /** Upper bound of the bucket holding the 95th percentile; null without samples. */
  p95Ms: number | null;
}

/** The p95 of a latency histogram (see LATENCY_BOUNDS_MS), or null when it is empty. */
export function p95FromHistogram(h: (number | string)[] | null): number | null {
  if (!h) return null;
  const counts = h.map(Number);
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= total * 0.95) return i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i] : LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] * 2;
  }
  return null;
}

export interface Series {
  points: SeriesPoint[];
  /** The whole period: sums, and the p95 of all its samples together. */
  total: { requests: number; failed: number; bytes: number; errorRate: number; p95Ms: number | null };
}

function series(rows: Record<string, any>[]): Series {
  const all: number[] = [];
  const points = rows.map((r): SeriesPoint => {
    (r.latency as string[] | null)?.forEach((n, i) => (all[i] = (all[i] ?? 0) + Number(n)));
    return { at: (r.at as Date).toISOString(), requests: Number(r.requests), failed: Number(r.failed), bytes: Number(r.bytes), p95Ms: p95FromHistogram(r.latency) };
  });
  const requests = points.reduce((a, p) => a + p.requests, 0);
  const failed = points.reduce((a, p) => a + p.failed, 0);
  return {
    points,
    total: { requests, failed, bytes: points.reduce((a, p) => a + p.bytes, 0), errorRate: requests ? failed / requests : 0, p95Ms: p95FromHistogram(all.map((n) => n ?? 0)) },
  };
}

/** Per minute since `since` (at most the day audit_minute keeps), all clients of the tenant together. */
export async function minuteSeries(pool: pg.Pool, tenant: string, since: Date): Promise<Series> {
  const { rows } = await pool.query(
    `SELECT minute AS at, sum(requests) AS requests, sum(requests - ok_requests) AS failed, sum(bytes) AS bytes, payer_fhir_histogram_sum(latency) AS latency
       FROM audit_minute WHERE tenant = $1 AND minute >= $2 GROUP BY minute ORDER BY minute`,
    [tenant, since],
  );
  return series(rows);
}

/** Per hour since `since`, all clients together, or one client's. */
export async function hourSeries(pool: pg.Pool, tenant: string, since: Date, clientId?: string): Promise<Series> {
  const { rows } = await pool.query(
    `SELECT hour AS at, sum(requests) AS requests, sum(failed) AS failed, sum(bytes) AS bytes, payer_fhir_histogram_sum(latency) AS latency
       FROM audit_usage WHERE tenant = $1 AND hour >= $2 AND ($3::text IS NULL OR client_id = $3) GROUP BY hour ORDER BY hour`,
    [tenant, since, clientId ?? null],
  );
  return series(rows);
}

/** Requests per client per UTC day since `since` (the registry's sparklines). */
export async function dailyRequestsByClient(pool: pg.Pool, tenant: string, since: Date): Promise<Map<string, { day: string; requests: number }[]>> {
  const { rows } = await pool.query<{ client_id: string; day: Date; requests: string }>(
    `SELECT client_id, date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, sum(requests) AS requests
       FROM audit_usage WHERE tenant = $1 AND hour >= $2 GROUP BY 1, 2 ORDER BY 1, 2`,
    [tenant, since],
  );
  const out = new Map<string, { day: string; requests: number }[]>();
  for (const r of rows) {
    let list = out.get(r.client_id);
    if (!list) out.set(r.client_id, (list = []));
    list.push({ day: r.day.toISOString().slice(0, 10), requests: Number(r.requests) });
  }
  return out;
}

/** The last time each client of the tenant was seen: the minute (within a day), else the hour. */
export async function lastUseByClient(pool: pg.Pool, tenant: string): Promise<Map<string, Date>> {
  const { rows } = await pool.query<{ client_id: string; last: Date | null }>(
    `SELECT c.client_id,
            coalesce((SELECT max(minute) + interval '1 minute' FROM audit_minute m WHERE m.tenant = c.tenant AND m.client_id = c.client_id),
                     (SELECT max(hour) + interval '1 hour' FROM audit_usage u WHERE u.tenant = c.tenant AND u.client_id = c.client_id)) AS last
       FROM client c WHERE c.tenant = $1`,
    [tenant],
  );
  const out = new Map<string, Date>();
  for (const r of rows) if (r.last) out.set(r.client_id, new Date(Math.min(r.last.getTime(), Date.now())));
  return out;
}
