/**
 * The compliance usage report (`payer-fhir audit report`, and the console's Reports page —
 * both call this): per client, or per client per UTC day, over a date range — requests,
 * resources returned, exports started, bytes sent, scope denials, failed authentications,
 * client (4xx) and server (5xx) errors, and the 95th-percentile duration. One aggregate query
 * over the tenant's records; the console's own requests (interaction admin*) are not a
 * partner's usage and are left out.
 */
import type pg from 'pg';
import { AUTH_FAILURE_SQL } from './record.js';

export interface UsageRow {
  clientId: string;
  /** The UTC day (YYYY-MM-DD) with `byDay`. */
  day?: string;
  requests: number;
  resources: number;
  exports: number;
  bytes: number;
  /** Requests refused 403 (scope, policy or allowlist). */
  denials: number;
  authFailures: number;
  clientErrors: number;
  serverErrors: number;
  /** 95th-percentile request duration, milliseconds. */
  p95Ms: number;
  first: Date;
  last: Date;
}

/** The report's columns, in order, with their headings (CLI table and CSV share them). */
export const REPORT_COLUMNS: [keyof UsageRow, string][] = [
  ['clientId', 'client'], ['day', 'day'], ['requests', 'requests'], ['resources', 'resources'], ['exports', 'exports'], ['bytes', 'bytes'],
  ['denials', 'denials'], ['authFailures', 'auth failures'], ['clientErrors', '4xx'], ['serverErrors', '5xx'], ['p95Ms', 'p95 ms'],
];

export interface ReportOptions {
  /** One row per client per UTC day instead of one per client. */
  byDay?: boolean;
}

export async function usageReport(pool: pg.Pool, tenant: string, since: Date, until = new Date(), opts: ReportOptions = {}): Promise<UsageRow[]> {
  const day = `to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
  const { rows } = await pool.query(
    `SELECT coalesce(client_id, '(unauthenticated)') AS client_id, ${opts.byDay ? day : 'NULL'} AS day,
            count(*) AS requests,
            coalesce(sum(resources), 0) AS resources,
            count(*) FILTER (WHERE interaction = 'export-kickoff' AND status = 202) AS exports,
            coalesce(sum(bytes), 0) AS bytes,
            count(*) FILTER (WHERE status = 403) AS denials,
            count(*) FILTER (WHERE ${AUTH_FAILURE_SQL}) AS auth_failures,
            count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS client_errors,
            count(*) FILTER (WHERE status >= 500) AS server_errors,
            percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_us) AS p95_us,
            min(recorded) AS first, max(recorded) AS last
       FROM audit_event
      WHERE tenant = $1 AND recorded >= $2 AND recorded < $3 AND interaction NOT IN ('admin', 'admin-signin')
      GROUP BY 1, 2 ORDER BY ${opts.byDay ? '2, count(*) DESC, 1' : 'count(*) DESC, 1'}`,
    [tenant, since, until],
  );
  return rows.map((r) => ({
    clientId: r.client_id,
    ...(opts.byDay ? { day: r.day } : {}),
    requests: Number(r.requests),
    resources: Number(r.resources),
    exports: Number(r.exports),
    bytes: Number(r.bytes),
    denials: Number(r.denials),
    authFailures: Number(r.auth_failures),
    clientErrors: Number(r.client_errors),
    serverErrors: Number(r.server_errors),
    p95Ms: Math.round(Number(r.p95_us) / 100) / 10,
    first: r.first,
    last: r.last,
  }));
}

/** The report as CSV (RFC 4180), the columns of REPORT_COLUMNS. */
export function reportCsv(rows: UsageRow[], byDay: boolean): string {
  const cols = REPORT_COLUMNS.filter(([k]) => byDay || k !== 'day');
  const lines = [cols.map(([, h]) => csvCell(h)).join(',')];
  for (const r of rows) lines.push(cols.map(([k]) => csvCell(r[k])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * One CSV cell: quoted when needed, and a leading =, +, - or @ defused with an apostrophe, so
 * a spreadsheet never runs a client name or query as a formula.
 */
export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
