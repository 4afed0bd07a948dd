/**
 * The official US Core 6.1.0 examples (CC0), read where the team keeps them: beside the
 * repository in ../shared/data, never in it. conformance/run.js checks the folder and passes
 * its path in US_CORE_EXAMPLES.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The compiled file lives in dist/conformance; the repository is two levels up. */
export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export const examplesDir = process.env.US_CORE_EXAMPLES ?? path.resolve(repoRoot, '..', 'shared', 'data', 'us-core-6.1.0-examples');

/** What the folder holds, as an import loads it: single resources, and Bundle entries. */
export function exampleResources(): { file: string; resource: any }[] {
  const out: { file: string; resource: any }[] = [];
  for (const name of fs.readdirSync(examplesDir).filter((f) => f.endsWith('.json')).sort()) {
    const value = JSON.parse(fs.readFileSync(path.join(examplesDir, name), 'utf8'));
    if (value.resourceType === 'Bundle') for (const e of value.entry) out.push({ file: name, resource: e.resource });
    else out.push({ file: name, resource: value });
  }
  return out;
}
