/**
 * The suite's US Core data is the project's own (test/fixtures/us-core.ts): every resource is
 * valid R4, ids are unique, every US Core profile the tests rely on has an instance, and every
 * reference between fixtures points at one that exists. No third-party file is in the tree.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { rewriteReferences } from '../src/fhir/resource.js';
import { COVERED_PROFILES, fixtureResources } from './fixtures/us-core.js';
import { repoRoot } from './helpers/bulk.js';
import { assertValidR4 } from './helpers/schema.js';

describe('test fixtures', () => {
  const resources = fixtureResources();

  it('are valid R4 with unique Type/id', () => {
    const keys = resources.map((r) => `${r.resourceType}/${r.id}`);
    assert.equal(new Set(keys).size, keys.length);
    for (const r of resources) assertValidR4(r);
  });

  it('cover each US Core profile the tests need', () => {
    const present = new Set(resources.flatMap((r) => (((r.meta as { profile?: string[] } | undefined)?.profile ?? []) as string[]).map((p) => p.split('/').pop()!.split('|')[0])));
    assert.deepEqual(COVERED_PROFILES.filter((p) => !present.has(p)), []);
  });

  it('reference only each other', () => {
    const keys = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
    const dangling: string[] = [];
    for (const r of resources) rewriteReferences(r, (ref) => (/^[A-Z][A-Za-z]+\/[^/]+$/.test(ref) && !keys.has(ref) ? void dangling.push(`${r.resourceType}/${r.id} → ${ref}`) : undefined));
    assert.deepEqual(dangling, []);
  });

  it('are generated on each run: no copied data set is committed', () => {
    const files = fs.readdirSync(path.join(repoRoot, 'test', 'fixtures'));
    assert.deepEqual(files.filter((f) => !f.endsWith('.ts')), []);
  });
});
