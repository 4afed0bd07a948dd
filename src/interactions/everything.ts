/**
 * `Patient/[id]/$everything` (R4 Patient-everything): the patient, every resource in its
 * Patient compartment, and the directory resources they reference (practitioners,
 * organisations, locations, medications), paged with `next` links. `_since` (changed after
 * an instant), `_type` (a comma-separated subset) and `_count` as R4 defines them; other
 * parameters of the operation (`start`, `end`) are not supported and are reported as ignored.
 *
 * It is a search (src/interactions/search.ts) over the compartment's types, so scopes and the
 * partner access policy apply exactly as to every search: under a partner policy a member
 * outside it answers 404, and the rest of the data is what the policy sends — the single-member
 * pull a new payer makes right after `$member-match`.
 */
import { FhirError, InvalidError } from '../errors.js';
import { patientCompartmentTypes } from '../fhir/compartment.js';
import { resourceTypes } from '../fhir/schema.js';
import type { FhirResponse, TenantContext } from './context.js';
import { read } from './read.js';
import { search } from './search.js';

const OWN_PARAMS = new Set(['_since', '_type', '_count', '_page', '_format', '_pretty', '_total']);

/** The compartment types the caller may search (a type its scopes exclude is left out, not refused). */
function searchableTypes(ctx: TenantContext, wanted: string[] | undefined): string[] {
  const types = (wanted ?? patientCompartmentTypes()).filter((t) => t !== 'AuditEvent');
  return types.filter((t) => {
    try {
      ctx.access?.require(t, 's');
      return true;
    } catch (err) {
      if (err instanceof FhirError) return false;
      throw err;
    }
  }).sort();
}

export async function everything(ctx: TenantContext, patientId: string, pairs: [string, string][], strict: boolean): Promise<FhirResponse> {
  // The patient first: unknown, deleted, or outside the caller's policy → answered as a read would.
  await read(ctx, 'Patient', patientId);
  let wanted: string[] | undefined;
  const compartment = new Set(patientCompartmentTypes());
  const out: [string, string][] = [];
  for (const [k, v] of pairs) {
    if (k === '_type') {
      const listed = v.split(',').map((t) => t.trim()).filter(Boolean);
      for (const t of listed) {
        if (!resourceTypes.has(t)) throw new InvalidError(`_type: '${t}' is not a resource type`, ['_type']);
        if (!compartment.has(t)) throw new InvalidError(`_type: ${t} is not in the Patient compartment`, ['_type']);
      }
      wanted = [...new Set([...(wanted ?? []), ...listed])];
    } else if (k === '_include') {
      continue; // its own, added below (a `next` link carries them back)
    } else if (k === '_since') {
      out.push(['_lastUpdated', `gt${v}`]);
    } else if (OWN_PARAMS.has(k)) {
      out.push([k, v]);
    } else if (strict) {
      throw new InvalidError(`Patient/$everything does not support the parameter '${k}'`, [k]);
    } else {
      out.push([k, v]); // reported as ignored by the search
    }
  }
  const types = searchableTypes(ctx, wanted);
  if (!types.length) throw new InvalidError('The access token allows searching none of the requested types', ['_type']);
  // Referenced directory resources come along as includes of each page.
  for (const t of types) out.push(['_include', `${t}:*`]);
  return search(ctx, { pairs: [['_type', types.join(',')], ...out], strict, everything: { patient: patientId } });
}
