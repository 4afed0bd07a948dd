/**
 * `delete` (DELETE [type]/[id]): records a deletion as a new version (reads then answer 410,
 * history keeps every earlier version). Deleting what does not exist is a success (204).
 */
import { InvalidError, NotFoundError } from '../errors.js';
import { isValidId } from '../fhir/validation.js';
import { inTransaction } from '../store/database.js';
import type { FhirResponse, TenantContext } from './context.js';
import { assertType } from './read.js';
import { etagOf } from './respond.js';
import { performWrites } from './writes.js';

export async function remove(ctx: TenantContext, type: string, id: string, opts: { ifMatch?: number } = {}): Promise<FhirResponse> {
  assertType(type);
  if (!isValidId(id)) throw new NotFoundError(`${type}/${id} is not a valid resource id`);
  if (opts.ifMatch !== undefined && Number.isNaN(opts.ifMatch)) throw new InvalidError('If-Match must be an ETag such as W/"3"');
  const [out] = await inTransaction(ctx.pool, (client) => performWrites(client, ctx.tenant, [{ method: 'DELETE', type, id, ifMatch: opts.ifMatch }], ctx.access));
  return out.outcome === 'deleted' ? { status: 204, etag: etagOf(out.version) } : { status: 204 };
}
