/**
 * Bulk NDJSON shaped like another server's export of Synthea data, made by this project from
 * its own synthetic population (src/seed): every id is a UUID, every reference between the
 * resources is written `urn:uuid:<id>` (as Synthea's bulk output and the servers exporting it
 * do), and the resources are spread over several files per type, in an order that puts most
 * referring resources before the resources they point at (claims first, Patients last), one
 * file gzip-compressed. Deterministic: the same seed and members give the same bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { rewriteReferences } from '../../src/fhir/resource.js';
import { generatePopulation } from '../../src/seed/generator.js';

/** A stable UUID for `Type/id` (name-based, SHA-1, like RFC 4122 version 5). */
export function uuidFor(key: string): string {
  const h = crypto.createHash('sha1').update(`payer-fhir-synthea-like:${key}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})$/;

/** One population resource rewritten: UUID id, `urn:uuid:` references. */
export function urnStyle<T extends { resourceType: string; id?: string }>(resource: T): T {
  const r = structuredClone(resource);
  r.id = uuidFor(`${r.resourceType}/${r.id}`);
  rewriteReferences(r, (ref) => (RELATIVE.test(ref) ? `urn:uuid:${uuidFor(ref)}` : undefined));
  return r;
}

export interface SyntheaLikeExport {
  files: string[];
  /** Resources per type, as written. */
  counts: Map<string, number>;
  total: number;
}

/**
 * Writes the population as `<Type>.<n>.ndjson` files in `dir`: each type split into
 * `filesPerType` files, the first file of ExplanationOfBenefit gzip-compressed.
 */
export function writeSyntheaLike(dir: string, options: { seed: string; members: number; filesPerType?: number }): SyntheaLikeExport {
  fs.mkdirSync(dir, { recursive: true });
  const per = options.filesPerType ?? 2;
  const byType = new Map<string, string[]>();
  for (const r of generatePopulation({ seed: options.seed, members: options.members })) {
    const line = JSON.stringify(urnStyle(r));
    byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), line]);
  }
  // Claims and clinical resources sort before Patient, Organization and Practitioner when the
  // import reads the folder in name order: references mostly point forward, across files.
  const order = (t: string) => (['Patient', 'Organization', 'Practitioner', 'Location', 'Coverage'].includes(t) ? `z-${t}` : t);
  const files: string[] = [];
  const counts = new Map<string, number>();
  let total = 0;
  for (const [type, lines] of [...byType].sort(([a], [b]) => (order(a) < order(b) ? -1 : 1))) {
    counts.set(type, lines.length);
    total += lines.length;
    const size = Math.ceil(lines.length / per);
    for (let n = 0; n * size < lines.length; n++) {
      const text = lines.slice(n * size, (n + 1) * size).join('\n') + '\n';
      const gzip = type === 'ExplanationOfBenefit' && n === 0;
      const file = path.join(dir, `${order(type)}.${String(n).padStart(3, '0')}.ndjson${gzip ? '.gz' : ''}`);
      fs.writeFileSync(file, gzip ? zlib.gzipSync(text) : text);
      files.push(file);
    }
  }
  return { files, counts, total };
}
