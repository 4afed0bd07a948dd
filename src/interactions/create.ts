/** `create` (POST [type]), including conditional create with `If-None-Exist`. */
import { inWriteTransaction } from '../store/database.js';
import type { Issue } from '../errors.js';
import { validateResource } from '../fhir/validation.js';
import type { FhirResponse, TenantContext } from './context.js';
import { assertType } from './read.js';
import { resourceResponse, versionUrl } from './respond.js';
import { performWrites } from './writes.js';

export async function create(ctx: TenantContext, type: string, body: unknown, opts: { ifNoneExist?: string } = {}): Promise<FhirResponse> {
  assertType(type);
  ctx.access?.require(type, 'c'); // scope before content: a client without `c` learns nothing from validation
  const warnings: Issue[] = [];
  const resource = validateResource(body, type, warnings);
  const [out] = await inWriteTransaction(ctx.pool, (client, begun) =>
    performWrites(client, ctx.tenant, [{ method: 'POST', type, resource, ifNoneExist: opts.ifNoneExist }], ctx.access, undefined, begun),
  );
  // A conditional create that matched one resource answers 200 with it and writes nothing.
  return { ...resourceResponse(out.outcome === 'exists' ? 200 : 201, out, versionUrl(ctx, out)), issues: warnings };
}
