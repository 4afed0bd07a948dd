/**
 * Prometheus metrics of one server (or worker) process, in a registry of its own — never the
 * global default — so several servers in one process (tests) keep separate counts.
 *
 * - HTTP requests and their latency, labelled by interaction (the one classification of
 *   src/http/interaction.ts, so dashboards agree with audit records and limits) and status;
 *   token issuance is `interaction="token"` by status.
 * - Export jobs by state and the work-unit queue (pending, running), read from PostgreSQL at
 *   scrape time, so every process reports the shared truth.
 * - Resources and bytes this process's workers exported, by resource type.
 * - The database pool: connections, idle connections, requests waiting for one.
 * - Node's own process metrics (CPU, memory, event loop, GC).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type pg from 'pg';
import { exportQueueCounts } from '../bulk/jobs.js';
import type { UnitOutput } from '../bulk/jobs.js';
import type { Interaction } from '../http/interaction.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This server's metrics (served by /metrics and the METRICS_PORT listener). */
    metrics: ServerMetrics;
  }
}

const PREFIX = 'payer_fhir_';
/** Seconds: from a cached read to a slow search or a large kick-off. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type QueueCounts = Awaited<ReturnType<typeof exportQueueCounts>>;

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'interaction' | 'status'>;
  private readonly latency: Histogram<'interaction' | 'status'>;
  private readonly exportedResources: Counter<'type'>;
  private readonly exportedBytes: Counter<'type'>;
  private readonly alerts: Counter<'rule'>;
  /** Audit records waiting for the database (set when the audit log exists). */
  auditPending: () => number = () => 0;
  /** Database figures of the scrape in progress, read once however many gauges show them. */
  private snapshot: Promise<QueueCounts | undefined> | undefined;

  constructor(private readonly pool: pg.Pool) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: `${PREFIX}http_requests_total`, help: 'HTTP requests answered, by interaction and status code', labelNames: ['interaction', 'status'], registers });
    this.latency = new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time from receiving a request to finishing its answer, by interaction and status code',
      labelNames: ['interaction', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.exportedResources = new Counter({ name: `${PREFIX}export_resources_total`, help: 'Resources written to export files by this process, by resource type', labelNames: ['type'], registers });
    this.exportedBytes = new Counter({ name: `${PREFIX}export_bytes_total`, help: 'Bytes of NDJSON written to export files by this process, by resource type', labelNames: ['type'], registers });

    this.alerts = new Counter({ name: `${PREFIX}security_alerts_total`, help: 'Security alerts raised by this process, by rule', labelNames: ['rule'], registers });
    const pending: Gauge = new Gauge({
      name: `${PREFIX}audit_records_pending`,
      help: 'Audit records buffered in this process, not yet written (grows while the database is away)',
      registers,
      collect: () => pending.set(this.auditPending()),
    });

    const counts = () => this.queueCounts();
    new Gauge({
      name: `${PREFIX}export_jobs`,
      help: 'Export jobs by state (all tenants; completed, failed and cancelled jobs until their retention ends)',
      labelNames: ['state'],
      registers,
      async collect() {
        const c = await counts();
        this.reset();
        for (const [state, n] of c?.jobs ?? []) this.set({ state }, n);
      },
    });
    new Gauge({
      name: `${PREFIX}export_units`,
      help: 'Work units of active export jobs: pending (queue depth) and running',
      labelNames: ['state'],
      registers,
      async collect() {
        const c = await counts();
        this.reset();
        for (const [state, n] of c?.units ?? []) this.set({ state }, n);
      },
    });
    new Gauge({
      name: `${PREFIX}database_up`,
      help: '1 when the database answered the scrape-time queries, else 0',
      registers,
      async collect() {
        this.set((await counts()) ? 1 : 0);
      },
    });
    const poolGauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    poolGauge('db_pool_connections', 'Database connections open in this process', () => pool.totalCount);
    poolGauge('db_pool_idle_connections', 'Open database connections not in use', () => pool.idleCount);
    poolGauge('db_pool_waiting_requests', 'Queries waiting for a database connection', () => pool.waitingCount);
  }

  /** Records one answered request. */
  observeRequest(interaction: Interaction, status: number, seconds: number): void {
    const labels = { interaction, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  /** Counts a security alert raised by this process's rule run. */
  alertRaised(rule: string): void {
    this.alerts.inc({ rule });
  }

  /** Records the files of an export unit this process completed. */
  unitCompleted(out: UnitOutput): void {
    for (const f of out.files) {
      if (f.kind !== 'output' || !f.type) continue;
      this.exportedResources.inc({ type: f.type }, f.count);
      this.exportedBytes.inc({ type: f.type }, f.bytes);
    }
  }

  /** The text exposition and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    this.snapshot = undefined;
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Export queue figures, or undefined while the database is away (a scrape never fails for it). */
  private queueCounts(): Promise<QueueCounts | undefined> {
    this.snapshot ??= exportQueueCounts(this.pool).catch(() => undefined);
    return this.snapshot;
  }
}
