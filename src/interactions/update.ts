/**
 * `update` (PUT [type]/[id]): create-on-update with a client id, optimistic locking with
 * `If-Match` (412 when the version is not current), and a new version on every write.
 */
import { InvalidError, type Issue } from '../errors.js';
import { isValidId, validateResource } from '../fhir/validation.js';
import { inTransaction } from '../store/database.js';
import type { FhirResponse, TenantContext } from './context.js';
import { assertType } from './read.js';
import { resourceResponse, versionUrl } from './respond.js';
import { performWrites } from './writes.js';

export async function update(ctx: TenantContext, type: string, id: string, body: unknown, opts: { ifMatch?: number } = {}): Promise<FhirResponse> {
  assertType(type);
  ctx.access?.require(type, 'u');
  if (!isValidId(id)) throw new InvalidError(`'${id}' is not a valid resource id`);
  const warnings: Issue[] = [];
  const resource = validateResource(body, type, warnings);
  if (resource.id === undefined) throw new InvalidError(`The resource must carry id '${id}' to match the URL`, [`${type}.id`], 'required');
  if (resource.id !== id) throw new InvalidError(`The resource id '${resource.id}' does not match the URL id '${id}'`, [`${type}.id`]);
  if (opts.ifMatch !== undefined && Number.isNaN(opts.ifMatch)) throw new InvalidError('If-Match must be an ETag such as W/"3"');
  const [out] = await inTransaction(ctx.pool, (client) => performWrites(client, ctx.tenant, [{ method: 'PUT', type, id, resource, ifMatch: opts.ifMatch }], ctx.access));
  return { ...resourceResponse(out.outcome === 'created' ? 201 : 200, out, versionUrl(ctx, out)), issues: warnings };
}
