/**
 * The compliance usage report (`payer-fhir audit report`): per client, since a date —
 * requests, resources returned, exports started, bytes sent, failed authentications, and
 * client (4xx) and server (5xx) errors. One aggregate query over the tenant's records.
 */
import type pg from 'pg';
import { AUTH_FAILURE_SQL } from './record.js';

export interface UsageRow {
  clientId: string;
  requests: number;
  resources: number;
  exports: number;
  bytes: number;
  authFailures: number;
  clientErrors: number;
  serverErrors: number;
  first: Date;
  last: Date;
}

export async function usageReport(pool: pg.Pool, tenant: string, since: Date, until = new Date()): Promise<UsageRow[]> {
  const { rows } = await pool.query(
    `SELECT coalesce(client_id, '(unauthenticated)') AS client_id,
            count(*) AS requests,
            coalesce(sum(resources), 0) AS resources,
            count(*) FILTER (WHERE interaction = 'export-kickoff' AND status = 202) AS exports,
            coalesce(sum(bytes), 0) AS bytes,
            count(*) FILTER (WHERE ${AUTH_FAILURE_SQL}) AS auth_failures,
            count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS client_errors,
            count(*) FILTER (WHERE status >= 500) AS server_errors,
            min(recorded) AS first, max(recorded) AS last
       FROM audit_event
      WHERE tenant = $1 AND recorded >= $2 AND recorded < $3
      GROUP BY 1 ORDER BY count(*) DESC, 1`,
    [tenant, since, until],
  );
  return rows.map((r) => ({
    clientId: r.client_id,
    requests: Number(r.requests),
    resources: Number(r.resources),
    exports: Number(r.exports),
    bytes: Number(r.bytes),
    authFailures: Number(r.auth_failures),
    clientErrors: Number(r.client_errors),
    serverErrors: Number(r.server_errors),
    first: r.first,
    last: r.last,
  }));
}
