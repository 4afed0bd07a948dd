/**
 * A large, realistic NDJSON data set for benchmarks: the US Core 6.1.0 examples (Bundle
 * entries unpacked) copied over and over with fresh ids. Inside each copy every reference
 * to another example is rewritten to that copy's id, so the copies are as linked as the
 * originals. Resources the R4 schema rejects are left out: the benchmark measures loading.
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { rewriteReferences } from '../../src/fhir/resource.js';
import { validateResource, type Resource } from '../../src/fhir/validation.js';
import { usCoreExamplesDir } from '../../test/helpers/us-core.js';

/** The published examples (test/fixtures; override with US_CORE_EXAMPLES). */
export const US_CORE_EXAMPLES = usCoreExamplesDir;

/** Where a copy suffix goes; JSON.stringify writes it as the 6-character escape below. */
const MARK = '\u0001';
const MARK_JSON = '\\u0001';

export interface Template {
  resources: number;
  skipped: string[];
  /** Each resource's JSON split where the copy suffix goes. */
  pieces: string[][];
}

function examples(dir: string): Resource[] {
  const out: Resource[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) continue;
    const value = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Resource & { entry?: { resource?: Resource }[] };
    if (value.resourceType === 'Bundle' && Array.isArray(value.entry)) {
      for (const e of value.entry) if (e.resource) out.push(e.resource);
    } else out.push(value);
  }
  return out;
}

/** Loads the examples once and marks every id, and every reference to an example, for suffixing. */
export function loadTemplate(dir = US_CORE_EXAMPLES): Template {
  const skipped: string[] = [];
  const valid: Resource[] = [];
  for (const r of examples(dir)) {
    try {
      valid.push(validateResource(r));
    } catch (err) {
      skipped.push(`${r.resourceType}/${r.id}: ${(err as Error).message}`);
    }
  }
  const known = new Set(valid.map((r) => `${r.resourceType}/${r.id}`));
  const pieces = valid.map((r) => {
    const copy = structuredClone(r);
    copy.id = `${copy.id}${MARK}`;
    rewriteReferences(copy, (ref) => (known.has(ref) ? `${ref}${MARK}` : undefined));
    return JSON.stringify(copy).split(MARK_JSON);
  });
  return { resources: valid.length, skipped, pieces };
}

/**
 * Writes at least `count` resources to `file` (whole copies of the template), streaming with
 * back-pressure so memory stays flat. Returns the number of lines written.
 */
export async function writeDataset(template: Template, file: string, count: number): Promise<number> {
  const out = fs.createWriteStream(file);
  const copies = Math.ceil(count / template.resources);
  let lines = 0;
  for (let k = 0; k < copies; k++) {
    // A short suffix keeps the longest example id (48 characters) well inside FHIR's 64.
    const suffix = `-b${k.toString(36)}`;
    let chunk = '';
    for (const p of template.pieces) chunk += p.join(suffix) + '\n';
    lines += template.pieces.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return lines;
}
