/**
 * Attachment urls made absolute (Bulk Data DL-12: an attachment `url` in export output SHALL be
 * absolute and retrievable under the same access rules). A resource may hold Attachments almost
 * anywhere — DocumentReference.content.attachment, DiagnosticReport.presentedForm, Patient.photo,
 * an extension's valueAttachment, a contained resource — so the elements are found by type, from
 * the official R4 JSON schema, not by a list of paths. A `url` element of any other type
 * (Extension.url, which may legitimately be a relative name such as US Core race's
 * `ombCategory`) is never touched.
 */
import { fhirSchema } from './schema.js';

type Props = Record<string, { $ref?: string; items?: { $ref?: string } }>;

/** Definition name → (element name → the definition name of its type), complex types only. */
let elementTypes: Map<string, Map<string, string>> | undefined;

function types(): Map<string, Map<string, string>> {
  if (elementTypes) return elementTypes;
  const defs = fhirSchema.definitions;
  // Primitive definitions (string, uri, …) have no properties: nothing to walk into.
  const complex = (name: string) => name === 'ResourceList' || !!defs[name]?.properties;
  elementTypes = new Map();
  for (const [name, def] of Object.entries(defs)) {
    const elements = new Map<string, string>();
    for (const [element, prop] of Object.entries((def.properties ?? {}) as Props)) {
      const ref = prop.$ref ?? prop.items?.$ref;
      const target = ref?.slice('#/definitions/'.length);
      if (target && complex(target)) elements.set(element, target);
    }
    elementTypes.set(name, elements);
  }
  return elementTypes;
}

/** Whether a url needs resolving against the base: no scheme (`http:`, `urn:`, `data:`…) and not a fragment. */
export function isRelativeUrl(url: string): boolean {
  return url.length > 0 && url[0] !== '#' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url);
}

/** `url` resolved against the FHIR base (`Binary/1` → `BASE/Binary/1`, RFC 3986 resolution). */
export function resolveAgainst(base: string, url: string): string {
  try {
    return new URL(url, `${base}/`).href;
  } catch {
    return url;
  }
}

/** Calls `visit` on every Attachment of `value` (an element of type `typeName`); true when any visit changed something. */
function walk(value: unknown, typeName: string, visit: (attachment: Record<string, unknown>) => boolean): boolean {
  if (Array.isArray(value)) {
    let changed = false;
    for (const item of value) changed = walk(item, typeName, visit) || changed;
    return changed;
  }
  if (!value || typeof value !== 'object') return false;
  const obj = value as Record<string, unknown>;
  // A contained (or Bundle entry) resource: its own resourceType says what it is.
  const name = typeName === 'ResourceList' ? String(obj.resourceType ?? '') : typeName;
  const elements = types().get(name);
  if (!elements) return false;
  let changed = name === 'Attachment' ? visit(obj) : false;
  for (const [key, child] of Object.entries(obj)) {
    if (child === null || typeof child !== 'object') continue;
    const childType = elements.get(key);
    if (childType) changed = walk(child, childType, visit) || changed;
  }
  return changed;
}

/**
 * Rewrites, in place, every relative Attachment.url of a parsed resource (contained resources
 * included) to an absolute url on `base`, the tenant's FHIR base. Returns whether anything changed.
 */
export function absoluteAttachmentUrls(resource: Record<string, unknown>, base: string): boolean {
  return walk(resource, String(resource.resourceType ?? ''), (a) => {
    if (typeof a.url !== 'string' || !isRelativeUrl(a.url)) return false;
    a.url = resolveAgainst(base, a.url);
    return true;
  });
}

/**
 * Resources whose Attachments commonly carry a document kept on this server as a Binary
 * (clinical notes, reports, images, questionnaire answers, consent forms, photos). Their
 * `Binary/[id]` attachment urls are indexed (extract.ts, param `_attachment`), which is what lets
 * a partner policy show such a Binary to whoever may see the resource holding it
 * (src/policy/conditions.ts). Other types are not walked on every write; a Binary only they
 * point to stays withheld from partners.
 */
export const ATTACHMENT_HOLDERS: ReadonlySet<string> = new Set([
  'DocumentReference', 'DiagnosticReport', 'Media', 'Communication', 'CommunicationRequest', 'QuestionnaireResponse',
  'Consent', 'Contract', 'Patient', 'Practitioner', 'RelatedPerson', 'Person',
]);

/** The search_reference param of those rows: not a search parameter, so no search, include or chain can name it. */
export const ATTACHMENT_PARAM = '_attachment';

const LOCAL_BINARY = /^Binary\/([A-Za-z0-9\-.]{1,64})$/;

/** Ids of the Binaries on this server that the resource's Attachments point to by relative url (`Binary/[id]`). */
export function attachedBinaryIds(resource: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  walk(resource, String(resource.resourceType ?? ''), (a) => {
    const m = typeof a.url === 'string' ? LOCAL_BINARY.exec(a.url) : null;
    if (m) ids.add(m[1]);
    return false;
  });
  return [...ids];
}
