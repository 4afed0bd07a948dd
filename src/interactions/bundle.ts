/**
 * `batch` and `transaction` Bundles posted to the base.
 *
 * transaction: all or nothing, in one database transaction, processed in the order the
 * spec prescribes (DELETE, POST, PUT, then GET); `urn:uuid:` fullUrls are resolved to the
 * assigned ids in every reference. batch: each entry on its own, failures reported per entry.
 */
import type pg from 'pg';
import { FhirError, InvalidError, NotSupportedError, type Issue } from '../errors.js';
import { bundleJson, type BundleEntry } from '../fhir/bundle.js';
import { isResourceType } from '../fhir/schema.js';
import { isValidId, validateResource, type Resource } from '../fhir/validation.js';
import { operationOutcome, toFhirError } from '../http/outcome.js';
import { inTransaction } from '../store/database.js';
import type { FhirResponse, TenantContext } from './context.js';
import { read, vread } from './read.js';
import { etagOf } from './respond.js';
import { performWrites, type WriteOutcome, type WriteRequest } from './writes.js';

/** A Bundle entry is either a read (GET) or a write handed to the shared write pipeline. */
export interface ParsedEntry {
  index: number;
  read?: { type: string; id: string; vid?: string };
  write?: WriteRequest;
}

const STATUS_TEXT: Record<number, string> = { 200: '200 OK', 201: '201 Created', 204: '204 No Content' };

/** Re-labels a resource's issues with the entry's position in the Bundle. */
function relabel(issues: Issue[], label: string): Issue[] {
  return issues.map((i) => ({
    ...i,
    diagnostics: `${label}: ${i.diagnostics}`,
    expression: i.expression?.map((e) => `${label}.resource${e.includes('.') ? e.slice(e.indexOf('.')) : ''}`) ?? [label],
  }));
}

function inEntry(err: unknown, label: string): never {
  if (err instanceof FhirError) throw new FhirError(err.status, relabel(err.issues, label), err.headers);
  throw err;
}

/** Splits a request.url into type, id and version, accepting absolute URLs on our own base. */
function parseUrl(ctx: Pick<TenantContext, 'base'>, url: string, label: string): { type: string; id?: string; vid?: string; query?: string } {
  let rel = url.startsWith(ctx.base + '/') ? url.slice(ctx.base.length + 1) : url;
  let query: string | undefined;
  const q = rel.indexOf('?');
  if (q >= 0) {
    query = rel.slice(q + 1);
    rel = rel.slice(0, q);
  }
  const parts = rel.split('/');
  const bad = () => new InvalidError(`${label}: request.url '${url}' is not [type], [type]/[id] or [type]/[id]/_history/[vid]`, [`${label}.request.url`]);
  if (!isResourceType(parts[0])) throw new InvalidError(`${label}: unknown resource type in request.url '${url}'`, [`${label}.request.url`]);
  if (parts.length === 1) return { type: parts[0], query };
  if (parts.length === 2 && isValidId(parts[1])) return { type: parts[0], id: parts[1], query };
  if (parts.length === 4 && isValidId(parts[1]) && parts[2] === '_history') return { type: parts[0], id: parts[1], vid: parts[3], query };
  throw bad();
}

/**
 * Validates one batch/transaction entry and turns it into a read or a write request
 * (exported for import, which loads transaction Bundles through the same rules).
 */
export function parseEntry(ctx: Pick<TenantContext, 'base'>, raw: unknown, index: number): ParsedEntry {
  const label = `Bundle.entry[${index}]`;
  const entry = raw as { fullUrl?: unknown; resource?: unknown; request?: { method?: unknown; url?: unknown; ifNoneExist?: unknown; ifMatch?: unknown } };
  if (!entry || typeof entry !== 'object') throw new InvalidError(`${label} is not an object`, [label]);
  const req = entry.request;
  if (!req || typeof req.method !== 'string' || typeof req.url !== 'string') {
    throw new InvalidError(`${label}: request.method and request.url are required in a ${'batch or transaction'}`, [`${label}.request`], 'required');
  }
  const method = req.method.toUpperCase() as 'GET' | 'POST' | 'PUT' | 'DELETE';
  const { type, id, vid, query } = parseUrl(ctx, req.url, label);
  const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined;
  const ifMatch = typeof req.ifMatch === 'string' ? Number(/(\d+)/.exec(req.ifMatch)?.[1] ?? NaN) : undefined;
  if (ifMatch !== undefined && Number.isNaN(ifMatch)) throw new InvalidError(`${label}: request.ifMatch must be an ETag such as W/"3"`, [`${label}.request.ifMatch`]);
  const needsResource = method === 'POST' || method === 'PUT';
  let resource: Resource | undefined;
  let warnings: Issue[] | undefined;
  if (needsResource) {
    const found: Issue[] = [];
    try {
      resource = validateResource(entry.resource, type, found);
    } catch (err) {
      inEntry(err, label);
    }
    if (found.length) warnings = relabel(found, label);
  }
  switch (method) {
    case 'GET':
      if (!id || query) throw new NotSupportedError(`${label}: only read and vread are supported in Bundles`);
      return { index, read: { type, id, vid } };
    case 'POST':
      if (id) throw new InvalidError(`${label}: POST request.url must be the resource type only`, [`${label}.request.url`]);
      return { index, write: { method, type, resource, fullUrl, label, warnings, ifNoneExist: typeof req.ifNoneExist === 'string' ? req.ifNoneExist : undefined } };
    case 'PUT':
      if (!id || vid) throw new InvalidError(`${label}: PUT request.url must be [type]/[id]`, [`${label}.request.url`]);
      if (resource!.id !== undefined && resource!.id !== id) throw new InvalidError(`${label}: resource id '${resource!.id}' does not match request.url`, [`${label}.resource.id`]);
      return { index, write: { method, type, id, resource, fullUrl, ifMatch, label, warnings } };
    case 'DELETE':
      if (!id || vid || query) throw new NotSupportedError(`${label}: DELETE needs [type]/[id]; conditional delete is not supported`);
      return { index, write: { method, type, id, ifMatch, label } };
    default:
      throw new NotSupportedError(`${label}: request.method '${req.method}' is not supported`);
  }
}

/** A write's response entry; warning-severity invariants the resource failed go in its outcome. */
function writeEntry(ctx: TenantContext, out: WriteOutcome, write: WriteRequest): BundleEntry {
  const method = write.method;
  const status = out.outcome === 'created' ? 201 : out.outcome === 'deleted' || out.outcome === 'unchanged' ? 204 : 200;
  const response: NonNullable<BundleEntry['response']> = { status: STATUS_TEXT[status] };
  if (write.warnings?.length) response.outcome = operationOutcome(write.warnings);
  if (out.outcome !== 'unchanged') {
    response.etag = etagOf(out.version);
    response.lastModified = out.lastUpdated.toISOString();
  }
  if (method !== 'DELETE') response.location = `${out.type}/${out.id}/_history/${out.version}`;
  return { ...(method !== 'DELETE' ? { fullUrl: `${ctx.base}/${out.type}/${out.id}` } : {}), response };
}

async function readEntry(ctx: TenantContext, r: NonNullable<ParsedEntry['read']>, db: pg.PoolClient | pg.Pool): Promise<BundleEntry> {
  // Inside a transaction the read goes through the transaction's connection and sees its writes.
  const scoped = { ...ctx, pool: db as pg.Pool };
  const res = r.vid ? await vread(scoped, r.type, r.id, r.vid) : await read(scoped, r.type, r.id);
  return { fullUrl: `${ctx.base}/${r.type}/${r.id}`, resourceJson: res.body as string, response: { status: STATUS_TEXT[200], etag: res.etag } };
}

function parseBundle(body: unknown): { type: 'batch' | 'transaction'; entries: unknown[] } {
  const bundle = body as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw new InvalidError('POST to the base takes a Bundle of type batch or transaction', ['Bundle']);
  }
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw new InvalidError(`Bundle.type must be batch or transaction, not '${String(bundle.type)}'`, ['Bundle.type']);
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) throw new InvalidError('Bundle.entry must be an array', ['Bundle.entry']);
  return { type: bundle.type, entries: (bundle.entry as unknown[] | undefined) ?? [] };
}

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2 };

/** A transaction's write entries in the order the spec prescribes: DELETE, POST, PUT, then entry order. */
export function transactionOrder(entries: ParsedEntry[]): ParsedEntry[] {
  return entries.filter((e) => e.write).sort((a, b) => ORDER[a.write!.method] - ORDER[b.write!.method] || a.index - b.index);
}

export async function transaction(ctx: TenantContext, entries: ParsedEntry[], prefer: string | undefined): Promise<FhirResponse> {
  const writes = entries.filter((e) => e.write).sort((a, b) => ORDER[a.write!.method] - ORDER[b.write!.method] || a.index - b.index);
  const reads = entries.filter((e) => e.read);
  const result: BundleEntry[] = new Array(entries.length);
  await inTransaction(ctx.pool, async (client) => {
    // performWrites rewrites ids and references in place; a retried attempt must start from
    // the resources as the client sent them, so each attempt works on its own copies.
    const requests = writes.map((e) => (e.write!.resource ? { ...e.write!, resource: structuredClone(e.write!.resource) } : { ...e.write! }));
    const outs = await performWrites(client, ctx.tenant, requests, ctx.access);
    writes.forEach((e, i) => {
      result[e.index] = writeEntry(ctx, outs[i], e.write!);
      if (prefer === 'representation' && outs[i].content) result[e.index].resourceJson = outs[i].content!;
    });
    for (const e of reads) result[e.index] = await readEntry(ctx, e.read!, client);
  });
  return { status: 200, body: bundleJson('transaction-response', result) };
}

export async function batch(ctx: TenantContext, rawEntries: unknown[], prefer: string | undefined): Promise<FhirResponse> {
  const result: BundleEntry[] = [];
  for (const [index, raw] of rawEntries.entries()) {
    try {
      const e = parseEntry(ctx, raw, index);
      if (e.read) {
        result.push(await readEntry(ctx, e.read, ctx.pool));
        continue;
      }
      const write = e.write!;
      const [out] = await inTransaction(ctx.pool, (client) => performWrites(client, ctx.tenant, [write], ctx.access));
      const entry = writeEntry(ctx, out, write);
      if (prefer === 'representation' && out.content) entry.resourceJson = out.content;
      result.push(entry);
    } catch (err) {
      const { error } = toFhirError(err);
      if (error.status >= 500) throw err;
      result.push({ response: { status: String(error.status), outcome: operationOutcome(error.issues) } });
    }
  }
  return { status: 200, body: bundleJson('batch-response', result) };
}

/** POST [base] with a batch or transaction Bundle. */
export async function processBundle(ctx: TenantContext, body: unknown, prefer?: string): Promise<FhirResponse> {
  const { type, entries } = parseBundle(body);
  if (type === 'batch') return batch(ctx, entries, prefer);
  return transaction(ctx, entries.map((raw, i) => parseEntry(ctx, raw, i)), prefer);
}
