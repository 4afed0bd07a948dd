/**
 * Security monitoring: rules over the audit trail, run every ALERT_INTERVAL_SECONDS by one
 * process at a time (an advisory lock), so every process's traffic counts and no alert is
 * raised twice. Each alert is stored (`payer-fhir alerts`), logged as a structured warning,
 * counted, chained into the tenant's audit trail, and POSTed to ALERT_WEBHOOK_URL if set.
 *
 * Rules (thresholds in AlertsConfig):
 * - auth-failures: failed authentications (401s, refused client credentials) per client or
 *   per source address within the window;
 * - scope-denials: 403s for lack of scope per client within the window;
 * - volume: a client's requests or bytes within the window far above its own average window
 *   over the baseline days, read from the hourly counts in audit_usage (clients with less than
 *   a day of history have no baseline yet);
 * - new-address: a successful request from an address the client has never used before
 *   (a client's first address is not an anomaly);
 * - member-match-failures: a client's failed `$member-match` requests within the current hour
 *   reached MEMBER_MATCH_FAILURES_PER_HOUR (it is being throttled: someone may be probing for
 *   members), read from the per-hour counts the throttle keeps; raised once per client per hour.
 * A counting rule does not fire again for the same subject within one window. The volume and
 * new-address rules read per-minute counts (audit_minute, so their window is counted in whole
 * minutes), the failure rules only failed requests: no rule scans the trail's busy traffic.
 */
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import type { AlertsConfig } from '../config.js';
import type { AuditLog } from './log.js';
import { AUTH_FAILURE_SQL, SYSTEM_TENANT } from './record.js';
import { trimMinuteCounts } from './usage.js';
import { clientsOverFailureThreshold, trimFailureCounts } from '../store/member-matches.js';

export type AlertRule = 'auth-failures' | 'scope-denials' | 'volume' | 'new-address' | 'member-match-failures';

export interface Alert {
  tenant: string;
  rule: AlertRule;
  clientId: string | null;
  sourceIp: string | null;
  summary: string;
  details: Record<string, unknown>;
}

const LOCK_KEY = 7_384_201_552; // "payer-fhir alert rules"

const SCOPE_DENIAL = `(status = 403 AND detail LIKE '%does not allow%')`;

export class AlertMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Alert[]> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly config: AlertsConfig,
    private readonly log: FastifyBaseLogger,
    private readonly audit: AuditLog | undefined,
    private readonly onAlert: (a: Alert) => void = () => undefined,
  ) {}

  start(): void {
    if (this.config.intervalSeconds <= 0) return;
    this.timer = setInterval(() => void this.evaluate().catch((err) => this.log.warn({ err }, 'security alert rules failed')), this.config.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Runs every rule once (unless another process is running them); returns the alerts raised. */
  async evaluate(): Promise<Alert[]> {
    this.running ??= this.evaluateOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async evaluateOnce(): Promise<Alert[]> {
    await this.audit?.flush();
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
      if (!rows[0].ok) return [];
      // Each rule reads a few rows through an index; parallel workers would cost more to start.
      await client.query('SET max_parallel_workers_per_gather = 0');
      try {
        const found = [
          ...(await this.authFailures(client)), ...(await this.scopeDenials(client)), ...(await this.volume(client)), ...(await this.newAddresses(client)),
          ...(await this.memberMatchFailures(client)),
        ];
        await trimMinuteCounts(client);
        await trimFailureCounts(client, new Date());
        const raised: Alert[] = [];
        for (const a of found) if (await this.store(client, a)) raised.push(a);
        for (const a of raised) await this.announce(a);
        return raised;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
        await client.query('RESET max_parallel_workers_per_gather');
      }
    } finally {
      client.release();
    }
  }

  /**
   * The window over the trail, with its start bound as `$2`; only the failure rules read it,
   * through the index of failed requests (migration 8). A bound start rather than
   * clock_timestamp() lets the planner see how few rows the window holds (and not start
   * parallel workers for them).
   */
  private window(): string {
    return 'status >= 400 AND recorded > $2';
  }

  private windowStart(): Date {
    return new Date(Date.now() - this.config.windowSeconds * 1000);
  }

  /** The window over the per-minute counts: every minute it touches, so up to a minute more than the window. */
  private minutes(): string {
    return `minute > clock_timestamp() - make_interval(secs => ${Number(this.config.windowSeconds) + 60})`;
  }

  private async authFailures(db: pg.PoolClient): Promise<Alert[]> {
    const n = this.config.authFailures;
    const { rows } = await db.query(
      `SELECT tenant, client_id, NULL AS source_ip, count(*) AS n FROM audit_event
        WHERE ${this.window()} AND ${AUTH_FAILURE_SQL} AND client_id IS NOT NULL GROUP BY tenant, client_id HAVING count(*) >= $1
       UNION ALL
       SELECT tenant, NULL, source_ip, count(*) FROM audit_event
        WHERE ${this.window()} AND ${AUTH_FAILURE_SQL} AND source_ip IS NOT NULL GROUP BY tenant, source_ip HAVING count(*) >= $1`,
      [n, this.windowStart()],
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      rule: 'auth-failures' as const,
      clientId: r.client_id,
      sourceIp: r.source_ip,
      summary: `${r.n} failed authentications ${r.client_id ? `for client ${r.client_id}` : `from ${r.source_ip}`} within ${this.config.windowSeconds} s (threshold ${n})`,
      details: { failures: Number(r.n), windowSeconds: this.config.windowSeconds, threshold: n },
    }));
  }

  private async scopeDenials(db: pg.PoolClient): Promise<Alert[]> {
    const n = this.config.scopeDenials;
    const { rows } = await db.query(
      `SELECT tenant, client_id, count(*) AS n, array_agg(DISTINCT resource_type) AS types FROM audit_event
        WHERE ${this.window()} AND ${SCOPE_DENIAL} AND client_id IS NOT NULL GROUP BY tenant, client_id HAVING count(*) >= $1`,
      [n, this.windowStart()],
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      rule: 'scope-denials' as const,
      clientId: r.client_id,
      sourceIp: null,
      summary: `${r.n} requests of client ${r.client_id} refused for lack of scope within ${this.config.windowSeconds} s (threshold ${n})`,
      details: { denials: Number(r.n), types: (r.types as (string | null)[]).filter(Boolean), windowSeconds: this.config.windowSeconds },
    }));
  }

  private async volume(db: pg.PoolClient): Promise<Alert[]> {
    const { windowSeconds, baselineDays, volumeFactor, volumeMinRequests } = this.config;
    const { rows } = await db.query(
      `WITH now_w AS (
         SELECT tenant, client_id, sum(requests) AS requests, sum(bytes) AS bytes FROM audit_minute
          WHERE ${this.minutes()} GROUP BY tenant, client_id HAVING sum(requests) >= $1),
       -- The baseline from the hourly counts (audit_usage), hours that ended before the window.
       base AS (
         SELECT u.tenant, u.client_id, sum(u.requests) AS requests, sum(u.bytes) AS bytes, min(u.hour) AS since, max(u.hour) + interval '1 hour' AS until
           FROM audit_usage u JOIN now_w USING (tenant, client_id)
          WHERE u.hour > clock_timestamp() - make_interval(days => $2) AND u.hour + interval '1 hour' <= clock_timestamp() - make_interval(secs => $3)
          GROUP BY u.tenant, u.client_id)
       SELECT n.tenant, n.client_id, n.requests, n.bytes,
              b.requests::float8 / greatest(1, extract(epoch FROM b.until - b.since) / $3) AS avg_requests,
              b.bytes::float8 / greatest(1, extract(epoch FROM b.until - b.since) / $3) AS avg_bytes
         FROM now_w n JOIN base b USING (tenant, client_id)
        WHERE b.since < clock_timestamp() - interval '1 day'`,
      [volumeMinRequests, baselineDays, windowSeconds],
    );
    const out: Alert[] = [];
    for (const r of rows) {
      const reqRatio = Number(r.requests) / Math.max(1, Number(r.avg_requests));
      const byteRatio = Number(r.bytes) / Math.max(1, Number(r.avg_bytes));
      if (reqRatio < volumeFactor && byteRatio < volumeFactor) continue;
      out.push({
        tenant: r.tenant,
        rule: 'volume',
        clientId: r.client_id,
        sourceIp: null,
        summary: `client ${r.client_id}: ${r.requests} requests / ${r.bytes} bytes in ${windowSeconds} s, ${Math.round(Math.max(reqRatio, byteRatio))}× its ${baselineDays}-day average`,
        details: { requests: Number(r.requests), bytes: Number(r.bytes), averageRequests: Number(r.avg_requests), averageBytes: Number(r.avg_bytes), factor: volumeFactor },
      });
    }
    return out;
  }

  private async newAddresses(db: pg.PoolClient): Promise<Alert[]> {
    // Addresses used successfully within the window that the client was not known to use. A
    // client with no known address yet learns the one it used first without an alert.
    const { rows } = await db.query(
      `WITH seen AS (
         SELECT tenant, client_id, source_ip, min(first_ok_seq) AS first_seq FROM audit_minute
          WHERE ${this.minutes()} AND ok_requests > 0 AND source_ip <> '' AND tenant <> $1
          GROUP BY tenant, client_id, source_ip),
       known AS (SELECT DISTINCT tenant, client_id FROM client_address),
       firsts AS (SELECT DISTINCT ON (tenant, client_id) tenant, client_id, source_ip FROM seen ORDER BY tenant, client_id, first_seq),
       added AS (
         INSERT INTO client_address (tenant, client_id, address) SELECT tenant, client_id, source_ip FROM seen
         ON CONFLICT DO NOTHING RETURNING tenant, client_id, address)
       SELECT a.tenant, a.client_id, a.address FROM added a
        WHERE EXISTS (SELECT 1 FROM known k WHERE k.tenant = a.tenant AND k.client_id = a.client_id)
           OR NOT EXISTS (SELECT 1 FROM firsts f WHERE f.tenant = a.tenant AND f.client_id = a.client_id AND f.source_ip = a.address)`,
      [SYSTEM_TENANT],
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      rule: 'new-address' as const,
      clientId: r.client_id,
      sourceIp: r.address,
      summary: `client ${r.client_id} connected from ${r.address}, an address it has never used before`,
      details: {},
    }));
  }

  private async memberMatchFailures(db: pg.PoolClient): Promise<Alert[]> {
    const n = this.config.memberMatchFailures;
    return (await clientsOverFailureThreshold(db, n, new Date())).map((r) => ({
      tenant: r.tenant,
      rule: 'member-match-failures' as const,
      clientId: r.clientId,
      sourceIp: null,
      summary: `${r.failures} failed member matches by client ${r.clientId} within the hour (threshold ${n}); further matches are refused until the hour ends`,
      details: { failures: r.failures, threshold: n },
    }));
  }

  /** Stores an alert unless the same rule fired for the same subject within the window (an hour for member-match failures, counted per hour). */
  private async store(db: pg.PoolClient, a: Alert): Promise<boolean> {
    const { rowCount } = await db.query(
      `INSERT INTO security_alert (tenant, rule, client_id, source_ip, summary, details)
       SELECT $1, $2, $3, $4, $5, $6
        WHERE $2 = 'new-address' OR NOT EXISTS (
          SELECT 1 FROM security_alert WHERE tenant = $1 AND rule = $2 AND client_id IS NOT DISTINCT FROM $3 AND source_ip IS NOT DISTINCT FROM $4
             AND raised_at > now() - make_interval(secs => $7))`,
      [a.tenant, a.rule, a.clientId, a.sourceIp, a.summary, JSON.stringify(a.details), a.rule === 'member-match-failures' ? Math.max(3600, this.config.windowSeconds) : this.config.windowSeconds],
    );
    return rowCount === 1;
  }

  private async announce(a: Alert): Promise<void> {
    this.log.warn({ alert: a.rule, tenant: a.tenant, clientId: a.clientId, sourceIp: a.sourceIp, details: a.details }, `security alert: ${a.summary}`);
    this.onAlert(a);
    const now = new Date();
    this.audit?.record({
      tenant: a.tenant,
      recorded: now,
      durationUs: 0,
      clientId: a.clientId,
      sourceIp: a.sourceIp,
      interaction: 'security-alert',
      method: 'ALERT',
      path: a.rule,
      query: null,
      resourceType: null,
      resourceId: null,
      jobId: null,
      status: 200,
      resources: null,
      bytes: null,
      detail: a.summary,
      requestId: null,
    });
    if (this.config.webhookUrl) {
      try {
        const res = await fetch(this.config.webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...a, raisedAt: now.toISOString() }),
          signal: AbortSignal.timeout(5_000),
        });
        if (!res.ok) this.log.warn({ status: res.status }, 'alert webhook refused the alert');
      } catch (err) {
        this.log.warn({ err }, 'alert webhook unreachable');
      }
    }
  }
}

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

export interface StoredAlert extends Alert {
  id: number;
  raisedAt: Date;
  status: AlertStatus;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  note: string | null;
}

function alertFromRow(r: Record<string, any>): StoredAlert {
  return {
    id: Number(r.id), tenant: r.tenant, rule: r.rule, clientId: r.client_id, sourceIp: r.source_ip, summary: r.summary, details: r.details, raisedAt: r.raised_at,
    status: r.status, acknowledgedAt: r.acknowledged_at, acknowledgedBy: r.acknowledged_by, resolvedAt: r.resolved_at, resolvedBy: r.resolved_by, note: r.note,
  };
}

export async function listAlerts(pool: pg.Pool, tenant: string, since?: Date): Promise<StoredAlert[]> {
  const { rows } = await pool.query(
    'SELECT * FROM security_alert WHERE tenant = $1 AND raised_at >= $2 ORDER BY raised_at, id',
    [tenant, since ?? new Date(0)],
  );
  return rows.map(alertFromRow);
}

/** A page of a tenant's alerts, newest first, optionally of one status; `beforeId` continues a page. */
export async function alertPage(pool: pg.Pool, tenant: string, o: { status?: AlertStatus; beforeId?: number; limit: number }): Promise<StoredAlert[]> {
  const { rows } = await pool.query(
    `SELECT * FROM security_alert WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4`,
    [tenant, o.status ?? null, o.beforeId ?? null, o.limit],
  );
  return rows.map(alertFromRow);
}

export async function getAlert(pool: pg.Pool, tenant: string, id: number): Promise<StoredAlert | undefined> {
  const { rows } = await pool.query('SELECT * FROM security_alert WHERE tenant = $1 AND id = $2', [tenant, id]);
  return rows[0] ? alertFromRow(rows[0]) : undefined;
}

/** Alerts not yet resolved (the overview). */
export async function openAlertCount(pool: pg.Pool, tenant: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM security_alert WHERE tenant = $1 AND status <> 'resolved'`, [tenant]);
  return rows[0].n;
}

/**
 * Acknowledges (someone is on it) or resolves an alert, noting who and why. Acknowledging a
 * resolved alert changes nothing; resolving one not yet acknowledged acknowledges it too.
 * Returns the alert as it now is, or undefined when the tenant has no such alert.
 */
export async function handleAlert(pool: pg.Pool, tenant: string, id: number, to: 'acknowledged' | 'resolved', by: string, note: string | null): Promise<StoredAlert | undefined> {
  const { rows } = await pool.query(
    to === 'acknowledged'
      ? `UPDATE security_alert SET status = CASE WHEN status = 'open' THEN 'acknowledged' ELSE status END,
                acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = coalesce(acknowledged_by, $3), note = coalesce($4, note)
          WHERE tenant = $1 AND id = $2 RETURNING *`
      : `UPDATE security_alert SET status = 'resolved', acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = coalesce(acknowledged_by, $3),
                resolved_at = coalesce(resolved_at, now()), resolved_by = coalesce(resolved_by, $3), note = coalesce($4, note)
          WHERE tenant = $1 AND id = $2 RETURNING *`,
    [tenant, id, by, note],
  );
  return rows[0] ? alertFromRow(rows[0]) : undefined;
}
