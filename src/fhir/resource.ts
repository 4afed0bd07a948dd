/**
 * What the server adds to every stored version: `id`, `meta.versionId`, `meta.lastUpdated`.
 * The stored JSON is the client's JSON plus these, serialised once at write time, so reads
 * and exports return the stored bytes without re-serialising.
 */
import type { Resource } from './validation.js';

export interface VersionStamp {
  id: string;
  versionId: number;
  /** FHIR instant, millisecond precision, UTC. */
  lastUpdated: string;
}

/** Returns the stored JSON text: `resourceType`, `id`, `meta` first, then the client's elements. */
export function stampResource(resource: Resource, stamp: VersionStamp): string {
  const { resourceType, id: _id, meta, ...rest } = resource;
  return JSON.stringify({
    resourceType,
    id: stamp.id,
    meta: { ...(meta ?? {}), versionId: String(stamp.versionId), lastUpdated: stamp.lastUpdated },
    ...rest,
  });
}

/** Calls `visit` on every `reference` string inside a resource (Reference.reference), in place. */
export function rewriteReferences(value: unknown, visit: (reference: string) => string | undefined): void {
  if (Array.isArray(value)) {
    for (const item of value) rewriteReferences(item, visit);
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const [key, child] of Object.entries(obj)) {
      if (key === 'reference' && typeof child === 'string') {
        const next = visit(child);
        if (next !== undefined) obj[key] = next;
      } else if (typeof child === 'object') {
        rewriteReferences(child, visit);
      }
    }
  }
}
