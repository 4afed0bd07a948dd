/**
 * `read` and `vread` (REST-02): the stored JSON with ETag and Last-Modified; 404 for an
 * unknown type or id, 410 for a deleted resource. A Binary is returned as its own content
 * type when the client's Accept header asks for that type.
 */
import { GoneError, InvalidError, NotFoundError } from '../errors.js';
import { isStoredType } from '../fhir/schema.js';
import { matchesAnyFilter } from '../fhir/scope-filter.js';
import { isValidId, type Resource } from '../fhir/validation.js';
import { negotiateFhirJson, prefersRaw } from '../http/media.js';
import { withoutFinancialsJson } from '../policy/basis.js';
import { isVisible } from '../policy/visibility.js';
import { readCurrent, readVersion, type StoredVersion } from '../store/resources.js';
import type { FhirResponse, TenantContext } from './context.js';
import { etagOf, resourceResponse } from './respond.js';

export function assertType(type: string): void {
  if (!isStoredType(type)) throw new NotFoundError(`Unknown resource type '${type}'`);
}

function assertId(type: string, id: string): void {
  if (!isValidId(id)) throw new NotFoundError(`${type}/${id} is not a valid resource id`);
}

/**
 * Under a partner policy a resource outside it does not exist for this caller (404, asked of
 * PostgreSQL with the policy's one condition), and financial elements are removed.
 */
async function underPolicy(ctx: TenantContext, found: StoredVersion | undefined, type: string, id: string): Promise<StoredVersion | undefined> {
  const rule = ctx.access?.policyRule();
  if (!rule || !found) return found;
  if (!(await isVisible(ctx.pool, ctx.tenant, rule, { type, id }))) return undefined;
  return found.content ? { ...found, content: withoutFinancialsJson(type, found.content) } : found;
}

function answer(found: StoredVersion | undefined, label: string, filters: string[] | undefined, accept: string | undefined, ifNoneMatch?: string): FhirResponse {
  if (!found) throw new NotFoundError(`${label} is not known`);
  if (found.deleted) throw new GoneError(`${label} has been deleted`, found.version);
  // Under granular scopes a resource outside every filter does not exist for this caller (RS-07).
  if (filters && !matchesAnyFilter(JSON.parse(found.content!) as Resource, filters)) throw new NotFoundError(`${label} is not known`);
  if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etagOf(found.version) || t.trim() === `"${found.version}"`)) {
    return { status: 304, etag: etagOf(found.version), lastModified: found.lastUpdated };
  }
  if (found.type === 'Binary' && accept) {
    const binary = JSON.parse(found.content!) as { contentType?: string; data?: string };
    if (binary.contentType && prefersRaw(accept, binary.contentType)) {
      return {
        status: 200,
        body: Buffer.from(binary.data ?? '', 'base64'),
        contentType: binary.contentType,
        etag: etagOf(found.version),
        lastModified: found.lastUpdated,
      };
    }
    // Not its own type, so FHIR JSON it is, if the client accepts that at all.
    negotiateFhirJson(undefined, accept);
  }
  return resourceResponse(200, found);
}

export async function read(ctx: TenantContext, type: string, id: string, opts: { accept?: string; ifNoneMatch?: string } = {}): Promise<FhirResponse> {
  assertType(type);
  const filters = ctx.access?.require(type, 'r');
  assertId(type, id);
  // Coalesced only on the pool the coalescer serves: a transaction's own connection (a
  // Bundle's GET entries) must see the transaction's writes.
  // The coalesced read applies the partner policy in its own statement (current-reads.ts).
  if (ctx.reads?.pool === ctx.pool) {
    return answer(await ctx.reads.read(ctx.tenant, type, id, ctx.access?.policyRule()?.policy), `${type}/${id}`, filters, opts.accept, opts.ifNoneMatch);
  }
  return answer(await underPolicy(ctx, await readCurrent(ctx.pool, ctx.tenant, type, id), type, id), `${type}/${id}`, filters, opts.accept, opts.ifNoneMatch);
}

export async function vread(ctx: TenantContext, type: string, id: string, vid: string, opts: { accept?: string } = {}): Promise<FhirResponse> {
  assertType(type);
  const filters = ctx.access?.require(type, 'r');
  assertId(type, id);
  if (!/^[1-9]\d{0,8}$/.test(vid)) throw new InvalidError(`'${vid}' is not a version id`);
  return answer(await underPolicy(ctx, await readVersion(ctx.pool, ctx.tenant, type, id, Number(vid)), type, id), `${type}/${id}/_history/${vid}`, filters, opts.accept);
}
