/**
 * A large, realistic NDJSON data set for benchmarks: the project's US Core test fixtures
 * (test/fixtures/us-core.ts: a seeded payer population plus a clinic covering every US Core
 * profile) copied over and over with fresh ids. Inside each copy every reference to another
 * fixture is rewritten to that copy's id, so the copies are as linked as the originals.
 * Resources the R4 schema rejects are left out: the benchmark measures loading.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import { rewriteReferences } from '../../src/fhir/resource.js';
import { validateResource, type Resource } from '../../src/fhir/validation.js';
import { fixtureResources } from '../../test/fixtures/us-core.js';

/** Where a copy suffix goes; JSON.stringify writes it as the 6-character escape below. */
const MARK = '\u0001';
const MARK_JSON = '\\u0001';

export interface Template {
  resources: number;
  skipped: string[];
  /** Each resource's JSON split where the copy suffix goes. */
  pieces: string[][];
}

/** Marks every id of the resources, and every reference to one of them, for suffixing. */
export function loadTemplate(resources: Resource[] = fixtureResources()): Template {
  const skipped: string[] = [];
  const valid: Resource[] = [];
  for (const r of resources) {
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
    // A short suffix keeps ids well inside FHIR's 64 characters.
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
