/**
 * Operations: the overview (rollups only: audit/rollups.ts), bulk exports (bulk/jobs.ts — the
 * console cancels with the same statement as a client's DELETE of its status URL) and security
 * alerts (audit/alerts.ts), whose acknowledgement and resolution are stored with who did it.
 */
import type pg from 'pg';
import { alertPage, getAlert, handleAlert, openAlertCount, type AlertStatus, type StoredAlert } from '../../audit/alerts.js';
import { hourSeries, minuteSeries } from '../../audit/rollups.js';
import { cancelJob, getJob, jobFiles, listJobs, runningTenantJobs, type JobRow } from '../../bulk/jobs.js';
import type { Config } from '../../config.js';
import { InvalidError, NotFoundError } from '../../errors.js';
import type { AdminRoute } from '../router.js';

function jobView(j: JobRow): Record<string, unknown> {
  return {
    id: j.id, clientId: j.client_id, level: j.level, state: j.state, requestUrl: j.request_url, error: j.error,
    createdAt: j.created_at.toISOString(), completedAt: j.completed_at?.toISOString() ?? null, expiresAt: j.expires_at?.toISOString() ?? null,
    transactionTime: j.transaction_time.toISOString(), unitsTotal: j.units_total, unitsDone: j.units_done, resourcesDone: Number(j.resources_done),
  };
}

function alertView(a: StoredAlert): Record<string, unknown> {
  return {
    id: a.id, rule: a.rule, clientId: a.clientId, sourceIp: a.sourceIp, summary: a.summary, details: a.details, raisedAt: a.raisedAt.toISOString(), status: a.status,
    acknowledgedAt: a.acknowledgedAt?.toISOString() ?? null, acknowledgedBy: a.acknowledgedBy, resolvedAt: a.resolvedAt?.toISOString() ?? null, resolvedBy: a.resolvedBy, note: a.note,
  };
}

const alertId = (id: string): number => {
  if (!/^[1-9]\d{0,17}$/.test(id)) throw new NotFoundError(`No alert ${id}`);
  return Number(id);
};

export function operationRoutes(pool: pg.Pool, config: Config): AdminRoute[] {
  const handle = (to: 'acknowledged' | 'resolved'): AdminRoute => ({
    method: 'POST', url: `/tenants/:tenant/alerts/:id/${to === 'acknowledged' ? 'acknowledge' : 'resolve'}`, summary: `${to === 'acknowledged' ? 'Acknowledge' : 'Resolve'} an alert (who and when are stored)`,
    tag: 'alerts', access: 'alerts:write',
    body: { type: 'object', additionalProperties: false, properties: { note: { type: 'string', maxLength: 2000 } } },
    handler: async (req) => {
      const id = alertId(req.params.id);
      const note = (req.body as { note?: string } | undefined)?.note?.trim() || null;
      const a = await handleAlert(pool, req.params.tenant, id, to, req.principal!.email, note);
      if (!a) throw new NotFoundError(`No alert ${id}`);
      req.adminNote = { ...req.adminNote, action: `${to === 'acknowledged' ? 'acknowledged' : 'resolved'} alert ${id} (${a.rule})${note ? `: ${note}` : ''}` };
      return alertView(a);
    },
  });
  return [
    {
      method: 'GET', url: '/tenants/:tenant/overview', summary: 'Requests, failures and p95 per minute (last hour) and per hour (last day); running exports; open alerts', tag: 'overview', access: 'overview',
      handler: async (req) => {
        const { tenant } = req.params;
        const now = Date.now();
        const [hour, day, runningExports, openAlerts] = await Promise.all([
          minuteSeries(pool, tenant, new Date(Math.floor((now - 3_600_000) / 60_000) * 60_000)),
          hourSeries(pool, tenant, new Date(Math.floor((now - 86_400_000) / 3_600_000) * 3_600_000)),
          runningTenantJobs(pool, tenant),
          openAlertCount(pool, tenant),
        ]);
        return { generatedAt: new Date(now).toISOString(), lastHour: hour, lastDay: day, runningExports, openAlerts };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/exports', summary: 'Bulk export jobs, newest first, with progress', tag: 'exports', access: 'exports:read',
      query: { before: { type: 'string', description: 'createdAt of the last job of the previous page' }, limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
      handler: async (req) => {
        const q = req.query as { before?: string; limit?: number };
        const before = q.before ? new Date(q.before) : undefined;
        if (before && Number.isNaN(before.getTime())) throw new InvalidError('before must be an instant');
        const limit = Number(q.limit ?? 50);
        const jobs = await listJobs(pool, req.params.tenant, limit + 1, before);
        const shown = jobs.slice(0, limit);
        return { jobs: shown.map(jobView), next: jobs.length > limit ? shown[shown.length - 1].created_at.toISOString() : null };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/exports/:id', summary: 'One export job with its files', tag: 'exports', access: 'exports:read',
      handler: async (req) => {
        const job = await getJob(pool, req.params.tenant, req.params.id);
        if (!job) throw new NotFoundError(`No export job ${req.params.id}`);
        const files = await jobFiles(pool, job.id);
        return { ...jobView(job), files: files.map((f) => ({ name: f.name, kind: f.kind, type: f.type, count: Number(f.count), bytes: Number(f.bytes) })) };
      },
    },
    {
      method: 'DELETE', url: '/tenants/:tenant/exports/:id', summary: 'Cancel an export (as the client\'s DELETE of its status URL)', tag: 'exports', access: 'exports:cancel',
      handler: async (req) => {
        const { tenant, id } = req.params;
        const job = await getJob(pool, tenant, id);
        if (!job || !(await cancelJob(pool, tenant, id, config.export.leaseSeconds))) throw new NotFoundError(`No export job ${id} to cancel`);
        req.adminNote = { ...req.adminNote, action: `cancelled export ${id} of client ${job.client_id}` };
        return jobView((await getJob(pool, tenant, id))!);
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/alerts', summary: 'Security alerts, newest first; `before` (an id) pages', tag: 'alerts', access: 'alerts:read',
      query: { status: { type: 'string', enum: ['open', 'acknowledged', 'resolved'] }, before: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
      handler: async (req) => {
        const q = req.query as { status?: AlertStatus; before?: number; limit?: number };
        const limit = Number(q.limit ?? 50);
        const alerts = await alertPage(pool, req.params.tenant, { status: q.status, beforeId: q.before, limit: limit + 1 });
        const shown = alerts.slice(0, limit);
        return { alerts: shown.map(alertView), next: alerts.length > limit ? shown[shown.length - 1].id : null };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/alerts/:id', summary: 'One security alert', tag: 'alerts', access: 'alerts:read',
      handler: async (req) => {
        const a = await getAlert(pool, req.params.tenant, alertId(req.params.id));
        if (!a) throw new NotFoundError(`No alert ${req.params.id}`);
        return alertView(a);
      },
    },
    handle('acknowledged'),
    handle('resolved'),
  ];
}
