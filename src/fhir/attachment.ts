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

function walk(value: unknown, typeName: string, base: string): boolean {
  if (Array.isArray(value)) {
    let changed = false;
    for (const item of value) changed = walk(item, typeName, base) || changed;
    return changed;
  }
  if (!value || typeof value !== 'object') return false;
  const obj = value as Record<string, unknown>;
  // A contained (or Bundle entry) resource: its own resourceType says what it is.
  const name = typeName === 'ResourceList' ? String(obj.resourceType ?? '') : typeName;
  const elements = types().get(name);
  if (!elements) return false;
  let changed = false;
  if (name === 'Attachment' && typeof obj.url === 'string' && isRelativeUrl(obj.url)) {
    obj.url = resolveAgainst(base, obj.url);
    changed = true;
  }
  for (const [key, child] of Object.entries(obj)) {
    if (child === null || typeof child !== 'object') continue;
    const childType = elements.get(key);
    if (childType) changed = walk(child, childType, base) || changed;
  }
  return changed;
}

/**
 * Rewrites, in place, every relative Attachment.url of a parsed resource (contained resources
 * included) to an absolute url on `base`, the tenant's FHIR base. Returns whether anything changed.
 */
export function absoluteAttachmentUrls(resource: Record<string, unknown>, base: string): boolean {
  return walk(resource, String(resource.resourceType ?? ''), base);
}
