/**
 * Compliance: the usage report (audit/report.ts — the very function behind
 * `payer-fhir audit report`), the audit trail with filters and keyset paging (the conditions of
 * the FHIR AuditEvent search, audit/search.ts), a record's detail, chain verification
 * (audit/verify.ts) and CSV downloads. CSV files are streamed page by page, so memory stays
 * flat however long the range.
 */
import { Readable } from 'node:stream';
import type pg from 'pg';
import { fromRow, type ChainedRecord } from '../../audit/record.js';
import { csvCell, reportCsv, usageReport } from '../../audit/report.js';
import { condition } from '../../audit/search.js';
import { verifyChain } from '../../audit/verify.js';
import { InvalidError, NotFoundError } from '../../errors.js';
import { Binds } from '../../search/conditions.js';
import type { AdminRoute } from '../router.js';

const DAY_MS = 86_400_000;
const PAGE_MAX = 200;
const CSV_PAGE = 2_000;
/** A CSV download holds at most this many records; narrow the range for more. */
const CSV_MAX = 1_000_000;

const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseDate(value: string, name: string): Date {
  const d = new Date(value);
  if (!DATE.test(value) || Number.isNaN(d.getTime())) throw new InvalidError(`${name}: '${value}' is not a date (YYYY-MM-DD or an ISO 8601 instant)`);
  return d;
}

/** A date-only `to` means the whole of that day. */
function parseEnd(value: string, name: string): Date {
  const d = parseDate(value, name);
  return value.length === 10 ? new Date(d.getTime() + DAY_MS) : d;
}

function recordView(r: ChainedRecord): Record<string, unknown> {
  return {
    seq: r.seq, recorded: r.recorded.toISOString(), durationMs: r.durationUs / 1000, clientId: r.clientId, sourceIp: r.sourceIp, interaction: r.interaction,
    method: r.method, path: r.path, query: r.query, resourceType: r.resourceType, resourceId: r.resourceId, jobId: r.jobId, status: r.status,
    resources: r.resources, bytes: r.bytes, detail: r.detail, requestId: r.requestId,
  };
}

const RECORD_COLUMNS = ['seq', 'recorded', 'durationMs', 'clientId', 'sourceIp', 'interaction', 'method', 'path', 'query', 'resourceType', 'resourceId', 'jobId', 'status', 'resources', 'bytes', 'detail', 'requestId'];

const OUTCOMES: Record<string, string> = { success: '0', 'client-error': '4', 'server-error': '8' };

const AUDIT_QUERY = {
  client: { type: 'string', maxLength: 200, description: 'Client id' },
  patient: { type: 'string', maxLength: 64, description: 'Member (Patient id) the request was about' },
  interaction: { type: 'string', maxLength: 40, description: 'read, search, export-kickoff, token, admin…' },
  outcome: { type: 'string', enum: ['success', 'client-error', 'server-error'] },
  from: { type: 'string', description: 'From this date or instant (inclusive)' },
  to: { type: 'string', description: 'Until this date (inclusive) or instant (exclusive)' },
};

/** The filters as SQL conditions over the tenant's records (bound values in `b`). */
function auditWhere(tenant: string, q: Record<string, string | undefined>): { where: string[]; b: Binds } {
  const b = new Binds(tenant);
  const where = ['tenant = $1'];
  if (q.client) where.push(condition(b, 'agent', q.client.replace(/[\\,$|]/g, '\\$&')));
  if (q.patient) where.push(condition(b, 'entity', `Patient/${q.patient}`));
  if (q.interaction) {
    if (!/^[a-z-]{1,40}$/.test(q.interaction)) throw new InvalidError(`interaction: '${q.interaction}' is not an interaction name`);
    where.push(condition(b, 'subtype', q.interaction));
  }
  if (q.outcome) where.push(condition(b, 'outcome', OUTCOMES[q.outcome]));
  if (q.from) where.push(`recorded >= ${b.add(parseDate(q.from, 'from'), 'timestamptz')}`);
  if (q.to) where.push(`recorded < ${b.add(parseEnd(q.to, 'to'), 'timestamptz')}`);
  return { where, b };
}

async function recordPage(pool: pg.Pool, tenant: string, q: Record<string, string | undefined>, before: number | undefined, limit: number): Promise<ChainedRecord[]> {
  const { where, b } = auditWhere(tenant, q);
  if (before !== undefined) where.push(`seq < ${b.add(before)}`);
  const { rows } = await pool.query(`SELECT * FROM audit_event WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ${limit}`, b.values);
  return rows.map(fromRow);
}

function csvDownload(reply: import('fastify').FastifyReply, name: string, body: string | Readable) {
  return reply.type('text/csv; charset=utf-8').header('Content-Disposition', `attachment; filename="${name}"`).send(body);
}

export function complianceRoutes(pool: pg.Pool): AdminRoute[] {
  return [
    {
      method: 'GET', url: '/tenants/:tenant/reports/usage', summary: 'Usage and compliance report per client (per day with byDay), JSON or CSV — the figures of `payer-fhir audit report`', tag: 'reports', access: 'reports:read',
      produces: ['application/json', 'text/csv'],
      query: {
        from: { type: 'string', description: 'First day (default: 7 days ago)' }, to: { type: 'string', description: 'Last day, inclusive (default: now)' },
        byDay: { type: 'boolean', default: true }, format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
      },
      handler: async (req, reply) => {
        const q = req.query as { from?: string; to?: string; byDay?: boolean; format?: string };
        const since = q.from ? parseDate(q.from, 'from') : new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - 6 * DAY_MS);
        const until = q.to ? parseEnd(q.to, 'to') : new Date();
        if (until <= since) throw new InvalidError('to must be after from');
        const byDay = q.byDay !== false;
        const rows = await usageReport(pool, req.params.tenant, since, until, { byDay });
        req.adminNote = { ...req.adminNote, action: `usage report ${since.toISOString()}…${until.toISOString()}${q.format === 'csv' ? ' (CSV)' : ''}` };
        if (q.format === 'csv') return csvDownload(reply, `usage-${req.params.tenant}-${since.toISOString().slice(0, 10)}.csv`, reportCsv(rows, byDay));
        return { from: since.toISOString(), to: until.toISOString(), byDay, rows };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/audit', summary: 'The audit trail, newest first, filtered; keyset paging with `before` (the `next` of the previous page)', tag: 'audit', access: 'audit:read',
      query: { ...AUDIT_QUERY, before: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: PAGE_MAX, default: 50 } },
      handler: async (req) => {
        const q = req.query as Record<string, any>;
        const limit = Number(q.limit ?? 50);
        const rows = await recordPage(pool, req.params.tenant, q, q.before, limit + 1);
        const shown = rows.slice(0, limit);
        return { records: shown.map(recordView), next: rows.length > limit ? shown[shown.length - 1].seq : null };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/audit.csv', summary: 'CSV download of the filtered audit trail (streamed; at most a million records)', tag: 'audit', access: 'audit:read',
      produces: ['text/csv'],
      query: AUDIT_QUERY,
      handler: async (req, reply) => {
        const q = req.query as Record<string, string | undefined>;
        const tenant = req.params.tenant;
        auditWhere(tenant, q); // bad filters are refused before the download starts
        req.adminNote = { ...req.adminNote, action: `audit trail CSV ${JSON.stringify(q)}` };
        async function* lines() {
          yield `${RECORD_COLUMNS.join(',')}\r\n`;
          let before: number | undefined;
          let sent = 0;
          for (;;) {
            const page = await recordPage(pool, tenant, q, before, CSV_PAGE);
            if (!page.length) return;
            const view = page.map(recordView);
            yield view.map((r) => `${RECORD_COLUMNS.map((c) => csvCell(r[c])).join(',')}\r\n`).join('');
            sent += page.length;
            if (page.length < CSV_PAGE || sent >= CSV_MAX) return;
            before = page[page.length - 1].seq;
          }
        }
        return csvDownload(reply, `audit-${tenant}.csv`, Readable.from(lines()));
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/audit/:seq', summary: 'One audit record, with its chain hashes', tag: 'audit', access: 'audit:read',
      handler: async (req) => {
        const { tenant, seq } = req.params;
        if (!/^[1-9]\d{0,17}$/.test(seq)) throw new NotFoundError(`No audit record ${seq}`);
        const { rows } = await pool.query('SELECT * FROM audit_event WHERE tenant = $1 AND seq = $2', [tenant, seq]);
        if (!rows[0]) throw new NotFoundError(`No audit record ${seq}`);
        const r = fromRow(rows[0]);
        return { ...recordView(r), prevHash: r.prevHash.toString('hex'), hash: r.hash.toString('hex') };
      },
    },
    {
      method: 'POST', url: '/tenants/:tenant/audit/verify', summary: 'Recompute the tenant\'s hash chain (as `payer-fhir audit verify`)', tag: 'audit', access: 'audit:verify',
      handler: async (req) => {
        const result = await verifyChain(pool, req.params.tenant);
        req.adminNote = { ...req.adminNote, action: `verified the audit chain: ${result.ok ? `intact, ${result.records} records` : `BROKEN at ${result.broken?.seq}`}` };
        return { ...result, verifiedAt: new Date().toISOString() };
      },
    },
  ];
}
