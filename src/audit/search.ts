/**
 * `GET [base]/AuditEvent` and `GET [base]/AuditEvent/[id]`: the tenant's audit trail read
 * as FHIR. Searchable by `date`, `agent` (the client id), `entity` (`Type/id`), `outcome`,
 * `subtype`, `address` and `_id`; paged by sequence number with signed keyset cursors.
 * Only clients holding an explicit AuditEvent scope (`system/AuditEvent.rs`) may read it:
 * a wildcard scope granted for member data does not open the access log of other clients.
 */
import crypto from 'node:crypto';
import { ForbiddenError, InvalidError, NotFoundError } from '../errors.js';
import { bundleJson, type BundleLink } from '../fhir/bundle.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { dateCondition, Binds } from '../search/conditions.js';
import { parseDate, parseToken, splitEscaped, unescape } from '../search/values.js';
import { auditEventId, CLIENT_SYSTEM, INTERACTION_SYSTEM, toAuditEvent } from './audit-event.js';
import { fromRow } from './record.js';
import { operationOutcome } from '../http/outcome.js';

const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const SUPPORTED = new Set(['date', 'agent', 'agent:identifier', 'entity', 'outcome', 'subtype', 'address', '_id', '_count', '_sort', '_page', '_format', '_pretty']);

/** Requires an explicit AuditEvent scope with the permission (never granted by `*`). */
export function requireAuditScope(ctx: TenantContext, perm: 'r' | 's'): void {
  const filters = ctx.access?.require('AuditEvent', perm);
  if (filters) throw new ForbiddenError('The audit trail cannot be read under a granular (filtered) AuditEvent scope', `Bearer error="insufficient_scope", scope="system/AuditEvent.rs"`);
}

/**
 * Under a partner access policy the trail shows only the client's own records: those of other
 * clients name members (and partners) outside its policy. The condition for the trail's SQL,
 * shared by read, search and export.
 */
export function ownRecordsCondition(policyApplies: boolean, clientId: string, bind: (v: unknown) => string): string {
  return policyApplies ? `client_id = ${bind(clientId)}` : 'TRUE';
}

export async function readAuditEvent(ctx: TenantContext, id: string): Promise<FhirResponse> {
  requireAuditScope(ctx, 'r');
  if (!/^[1-9]\d{0,17}$/.test(id)) throw new NotFoundError(`AuditEvent/${id} is not known`);
  const values: unknown[] = [ctx.tenant, id];
  const own = ownRecordsCondition(!!ctx.access?.policyRule(), ctx.access?.clientId ?? '', (v) => `$${values.push(v)}`);
  const { rows } = await ctx.pool.query(`SELECT * FROM audit_event WHERE tenant = $1 AND seq = $2 AND ${own}`, values);
  if (!rows[0]) throw new NotFoundError(`AuditEvent/${id} is not known`);
  return { status: 200, body: JSON.stringify(toAuditEvent(fromRow(rows[0]))) };
}

interface Cursor {
  q: string;
  k: number;
}

/** One AuditEvent search parameter's OR-ed values as an SQL condition (the console's audit filters use it too). */
export function condition(b: Binds, name: string, value: string): string {
  const values = splitEscaped(value, ',');
  const parts = values.map((v): string => {
    switch (name) {
      case 'date':
        return dateCondition(b, parseDate(v, name), 'recorded', "recorded + interval '1 millisecond'");
      case 'agent': {
        const id = unescape(v).replace(/^.*\//, '');
        return `client_id = ${b.add(id)}`;
      }
      case 'agent:identifier': {
        const t = parseToken(v, name);
        if (t.system !== undefined && t.system !== CLIENT_SYSTEM) return 'false';
        if (t.code === undefined) return 'client_id IS NOT NULL';
        return `client_id = ${b.add(t.code)}`;
      }
      case 'entity': {
        const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(unescape(v).replace(/^.*\/([A-Z][A-Za-z]+\/[^/]+)$/, '$1'));
        if (!m) throw new InvalidError(`entity: '${v}' is not a reference (Type/id)`, ['entity']);
        return `(resource_type = ${b.add(m[1])} AND resource_id = ${b.add(m[2])})`;
      }
      case 'outcome': {
        const t = parseToken(v, name);
        if (t.code === undefined || !['0', '4', '8', '12'].includes(t.code)) throw new InvalidError(`outcome: '${v}' is not an outcome code (0, 4, 8, 12)`, ['outcome']);
        if (t.code === '0') return 'status < 400';
        if (t.code === '4') return 'status BETWEEN 400 AND 499';
        if (t.code === '8') return 'status >= 500';
        return 'false';
      }
      case 'subtype': {
        const t = parseToken(v, name);
        if (t.code === undefined) return t.system === INTERACTION_SYSTEM || t.system === RESTFUL ? 'true' : 'false';
        const ours = t.system === undefined || t.system === INTERACTION_SYSTEM ? [t.code] : [];
        const restful = t.system === undefined || t.system === RESTFUL ? restfulToOurs(t.code) : [];
        const all = [...new Set([...ours, ...restful])];
        return all.length ? `interaction = ANY(${b.add(all)})` : 'false';
      }
      case 'address':
        return `source_ip = ${b.add(unescape(v))}`;
      case '_id':
        return /^\d{1,18}$/.test(v) ? `seq = ${b.add(v)}` : 'false';
    }
    throw new InvalidError(`Unknown AuditEvent search parameter '${name}'`, [name]);
  });
  return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
}

function restfulToOurs(code: string): string[] {
  const map: Record<string, string[]> = {
    read: ['read'],
    vread: ['vread'],
    'history-instance': ['history'],
    'history-type': ['history'],
    'history-system': ['history'],
    'search-type': ['search'],
    'search-system': ['search'],
    create: ['create'],
    update: ['update'],
    delete: ['delete'],
    batch: ['batch'],
    transaction: ['batch'],
    capabilities: ['capabilities'],
    operation: [
      'export-kickoff', 'export-status', 'export-cancel', 'export-download',
      'member-match', 'bulk-member-match', 'bulk-member-match-status', 'bulk-member-match-cancel', 'attribution-change',
    ],
  };
  return map[code] ?? [];
}

export async function searchAuditEvents(ctx: TenantContext, pairs: [string, string][], strict: boolean): Promise<FhirResponse> {
  requireAuditScope(ctx, 's');
  const b = new Binds(ctx.tenant);
  const where = ['tenant = $1', ownRecordsCondition(!!ctx.access?.policyRule(), ctx.access?.clientId ?? '', (v) => b.add(v))];
  const used: [string, string][] = [];
  const ignored: string[] = [];
  let count = ctx.config.search.defaultCount;
  let desc = false;
  let page: string | undefined;
  for (const [name, value] of pairs) {
    if (name === '_format' || name === '_pretty') continue;
    if (name === '_page') {
      page = value;
      continue;
    }
    if (!SUPPORTED.has(name)) {
      if (strict) throw new InvalidError(`Unknown or unsupported AuditEvent search parameter '${name}'`, [name]);
      ignored.push(`parameter '${name}'`);
      continue;
    }
    if (name === '_count') {
      if (!/^\d{1,6}$/.test(value)) throw new InvalidError(`_count: '${value}' is not a non-negative integer`, ['_count']);
      count = Math.min(Number(value), ctx.config.search.maxCount);
    } else if (name === '_sort') {
      if (value !== 'date' && value !== '-date' && value !== '_id' && value !== '-_id') throw new InvalidError(`_sort: AuditEvent sorts by date or -date`, ['_sort']);
      desc = value.startsWith('-');
    } else {
      where.push(condition(b, name, value));
    }
    used.push([name, value]);
  }
  const path = `${ctx.base}/AuditEvent`;
  const digest = crypto.createHash('sha256').update(JSON.stringify([path, used])).digest('base64url').slice(0, 16);
  if (page !== undefined) {
    const c = ctx.cursors.decode<Cursor>(page);
    if (c?.q !== digest || typeof c.k !== 'number') throw new InvalidError('_page does not belong to this search', ['_page']);
    where.push(`seq ${desc ? '<' : '>'} ${b.add(c.k)}`);
  }
  const link = (p?: string) => {
    const q = new URLSearchParams(used);
    if (p) q.set('_page', p);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  };
  const links: BundleLink[] = [{ relation: 'self', url: link(page) }];
  const entries: { fullUrl?: string; resourceJson: string; search: { mode: string } }[] = [];
  if (count > 0) {
    const { rows } = await ctx.pool.query(`SELECT * FROM audit_event WHERE ${where.join(' AND ')} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ${count + 1}`, b.values);
    const more = rows.length > count;
    const shown = rows.slice(0, count).map(fromRow);
    for (const r of shown) entries.push({ fullUrl: `${path}/${auditEventId(r)}`, resourceJson: JSON.stringify(toAuditEvent(r)), search: { mode: 'match' } });
    if (more) links.push({ relation: 'next', url: link(ctx.cursors.encode({ q: digest, k: shown[shown.length - 1].seq } satisfies Cursor)) });
  }
  if (ignored.length) {
    entries.push({ resourceJson: JSON.stringify(operationOutcome(ignored.map((d) => ({ severity: 'warning', code: 'not-supported', diagnostics: `Ignored ${d}` })))), search: { mode: 'outcome' } });
  }
  return { status: 200, body: bundleJson('searchset', entries as never, { link: links }), resources: entries.length };
}
