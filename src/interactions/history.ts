/**
 * `history` at instance, type and system level: a `history` Bundle, newest first, paged with
 * signed keyset cursors (`_page`), filtered by `_since`. Deletions appear as DELETE entries.
 */
import { ForbiddenError, InvalidError } from '../errors.js';
import { bundleJson, type BundleEntry, type BundleLink } from '../fhir/bundle.js';
import { parseDateRange } from '../fhir/datetime.js';
import { isValidId } from '../fhir/validation.js';
import { withoutFinancialsJson } from '../policy/basis.js';
import { readHistory, type HistoryCursor, type StoredVersion } from '../store/resources.js';
import type { FhirResponse, TenantContext } from './context.js';
import { assertType, read } from './read.js';
import { etagOf } from './respond.js';

export interface HistoryParams {
  _count?: string;
  _since?: string;
  _page?: string;
}

function entryOf(ctx: TenantContext, v: StoredVersion): BundleEntry {
  const url = `${v.type}/${v.id}`;
  const response = { etag: etagOf(v.version), lastModified: v.lastUpdated.toISOString() };
  if (v.deleted) {
    return { fullUrl: `${ctx.base}/${url}`, request: { method: 'DELETE', url }, response: { status: '204', ...response } };
  }
  return {
    fullUrl: `${ctx.base}/${url}`,
    resourceJson: v.content!,
    request: { method: v.version === 1 ? 'POST' : 'PUT', url: v.version === 1 ? v.type : url },
    response: { status: v.version === 1 ? '201' : '200', ...response },
  };
}

export async function history(ctx: TenantContext, scope: { type?: string; id?: string }, params: HistoryParams): Promise<FhirResponse> {
  if (scope.type) assertType(scope.type);
  // History shows every version of whatever it covers, so granular (filtered) read scopes do not suffice.
  if (ctx.access?.require(scope.type ?? '*', 'r')) throw new ForbiddenError('History is not available under granular (filtered) scopes');
  if (scope.type && scope.id) {
    if (!isValidId(scope.id)) throw new InvalidError(`'${scope.id}' is not a valid resource id`);
  }
  // Under a partner policy: an instance's history only while the resource itself is visible
  // (a read answers 404 otherwise), with money removed; type and system history, which would
  // list other members' versions, not at all.
  const rule = ctx.access?.policyRule();
  if (rule) {
    if (!scope.id) throw new ForbiddenError(`Type and system history are not available under the ${rule.policy.kind} policy; read each resource's history`);
    await read(ctx, scope.type!, scope.id);
  }
  const { defaultCount, maxCount } = ctx.config.history;
  let count = defaultCount;
  if (params._count !== undefined) {
    if (!/^\d+$/.test(params._count)) throw new InvalidError('_count must be a non-negative integer', ['_count']);
    count = Math.max(1, Math.min(Number(params._count), maxCount));
  }
  const since = params._since !== undefined ? parseDateRange(params._since, '_since').start : undefined;
  const after = params._page ? ctx.cursors.decode<HistoryCursor>(params._page) : undefined;
  const rows = await readHistory(ctx.pool, ctx.tenant, { ...scope, since, count, after });

  // An instance with no versions at all is unknown: answer as a read would (404).
  if (scope.id && rows.length === 0 && !after) await read(ctx, scope.type!, scope.id);

  const page = rows.slice(0, count);
  const path = [ctx.base, scope.type, scope.id, '_history'].filter(Boolean).join('/');
  const query = new URLSearchParams();
  query.set('_count', String(count));
  if (params._since !== undefined) query.set('_since', params._since);
  const link: BundleLink[] = [{ relation: 'self', url: `${path}?${query}${params._page ? `&_page=${encodeURIComponent(params._page)}` : ''}` }];
  if (rows.length > count) {
    const last = page[page.length - 1];
    const cursor: HistoryCursor = { lastUpdated: last.lastUpdated.toISOString(), type: last.type, id: last.id, version: last.version };
    link.push({ relation: 'next', url: `${path}?${query}&_page=${encodeURIComponent(ctx.cursors.encode(cursor))}` });
  }
  const served = rule ? page.map((v) => (v.content ? { ...v, content: withoutFinancialsJson(v.type, v.content) } : v)) : page;
  return { status: 200, body: bundleJson('history', served.map((v) => entryOf(ctx, v)), { link }) };
}
