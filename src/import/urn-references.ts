/**
 * `urn:uuid:<id>` references in NDJSON. Servers that export Synthea data (and Synthea's own
 * bulk output) write a reference to another resource of the same data set as `urn:uuid:`
 * followed by that resource's id. NDJSON has no Bundle whose fullUrls could resolve them, so
 * the import resolves each one to the single resource carrying that id: in any NDJSON file
 * of the same run (before or after the referring line), or already stored in the tenant.
 * No candidate, or candidates of several types, leaves the reference unresolved: the line is
 * rejected, or stored as written with a warning (`onUnresolved: 'keep'`).
 *
 * Resolving needs every id of the run before the first write, so a run whose NDJSON mentions
 * `urn:uuid:` at all is read twice: first for ids (id → type, nothing else is kept), then to
 * import. A run that never mentions it costs one byte scan of its NDJSON files.
 */
import fs from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import type pg from 'pg';
import { isResourceType } from '../fhir/schema.js';
import { rewriteReferences } from '../fhir/resource.js';
import { storedTypesOfIds } from '../store/resource-ids.js';
import type { ImportFile } from './files.js';
import { ndjsonLines } from './readers.js';

export type OnUnresolved = 'reject' | 'keep';

const PREFIX = 'urn:uuid:';
const PREFIX_BYTES = Buffer.from(PREFIX);

/** A reference left as written, and why. */
export interface UnresolvedReference {
  reference: string;
  reason: string;
}

/** Whether a file's (decompressed) bytes contain `urn:uuid:` anywhere: a scan, no parsing. */
async function mentionsUrnUuid(file: ImportFile): Promise<boolean> {
  const source = fs.createReadStream(file.path, { highWaterMark: 1024 * 1024 });
  let stream: Readable = source;
  if (file.gzip) {
    stream = zlib.createGunzip();
    pipeline(source, stream as zlib.Gunzip, () => {});
  }
  // The last bytes of a chunk are kept, so a prefix split across two chunks is still seen.
  let tail: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const joined = tail.length ? Buffer.concat([tail, chunk]) : chunk;
      if (joined.indexOf(PREFIX_BYTES) >= 0) return true;
      tail = joined.subarray(Math.max(0, joined.length - PREFIX_BYTES.length + 1));
    }
  } catch {
    // An unreadable file is reported by the import pass itself.
  } finally {
    stream.destroy();
    source.destroy();
  }
  return false;
}

/** The ids `urn:uuid:` references of a resource point at. */
function referencedIds(resource: unknown, into: Set<string>): void {
  rewriteReferences(resource, (ref) => {
    if (ref.startsWith(PREFIX)) into.add(ref.slice(PREFIX.length));
    return undefined;
  });
}

/** The resolution of every `urn:uuid:` reference a run's NDJSON makes: id → candidate types. */
export class UrnReferences {
  private constructor(private readonly candidates: Map<string, string[]>) {}

  /**
   * Reads the run's NDJSON files for ids and looks the referenced ones up in the tenant.
   * Undefined when no NDJSON file mentions `urn:uuid:` (nothing to resolve).
   */
  static async prepare(pool: pg.Pool, tenant: string, files: ImportFile[]): Promise<UrnReferences | undefined> {
    const ndjson = files.filter((f) => f.format === 'ndjson');
    let needed = false;
    for (const f of ndjson) if ((needed = await mentionsUrnUuid(f))) break;
    if (!needed) return undefined;

    // Types are interned so a million ids share a handful of type strings.
    const typeNames = new Map<string, string>();
    const inRun = new Map<string, string[]>();
    const referenced = new Set<string>();
    for (const file of ndjson) {
      try {
        for await (const { text } of ndjsonLines(file, () => {})) {
          let value: { resourceType?: unknown; id?: unknown } | null;
          try {
            value = JSON.parse(text);
          } catch {
            continue; // the import pass reports it
          }
          if (!value || typeof value !== 'object') continue;
          const { resourceType, id } = value;
          if (typeof resourceType === 'string' && typeof id === 'string' && isResourceType(resourceType)) {
            const type = typeNames.get(resourceType) ?? (typeNames.set(resourceType, resourceType), resourceType);
            const seen = inRun.get(id);
            if (!seen) inRun.set(id, [type]);
            else if (!seen.includes(type)) seen.push(type);
          }
          if (text.includes(PREFIX)) referencedIds(value, referenced);
        }
      } catch {
        // An unreadable file is reported by the import pass itself.
      }
    }
    const stored = await storedTypesOfIds(pool, tenant, referenced);
    // Only the referenced ids are kept for the import pass.
    const candidates = new Map<string, string[]>();
    for (const id of referenced) {
      const types = new Set([...(inRun.get(id) ?? []), ...(stored.get(id) ?? [])]);
      candidates.set(id, [...types].sort());
    }
    return new UrnReferences(candidates);
  }

  /**
   * Rewrites the resource's resolvable `urn:uuid:` references to `Type/id` in place and
   * returns those it could not resolve (left as written).
   */
  resolve(resource: unknown): UnresolvedReference[] {
    const left: UnresolvedReference[] = [];
    rewriteReferences(resource, (ref) => {
      if (!ref.startsWith(PREFIX)) return undefined;
      const id = ref.slice(PREFIX.length);
      const types = this.candidates.get(id) ?? [];
      if (types.length === 1) return `${types[0]}/${id}`;
      left.push({
        reference: ref,
        reason: types.length
          ? `reference '${ref}' matches ${types.length} resources (${types.map((t) => `${t}/${id}`).join(', ')})`
          : `reference '${ref}' matches no resource with id '${id}' in this import or the tenant`,
      });
      return undefined;
    });
    return left;
  }
}

/** Cheap test before walking a resource: only lines whose text mentions the prefix can need it. */
export function mayHoldUrnReference(text: string): boolean {
  return text.includes(PREFIX);
}
