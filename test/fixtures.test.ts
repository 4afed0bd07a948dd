/**
 * The US Core examples in test/fixtures are the published files, unedited: every file
 * matches the digest recorded from the team's shared originals, and none is missing or added.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fixturesDir, usCoreExamplesDir } from './helpers/us-core.js';

describe('test fixtures', () => {
  it('the 183 US Core 6.1.0 examples (and their README) are byte-identical to the shared originals', () => {
    const expected = new Map(
      fs.readFileSync(path.join(fixturesDir, 'us-core-6.1.0-examples.sha256'), 'utf8').trim().split('\n').map((line) => {
        const [digest, name] = line.split(/\s+/);
        return [name, digest] as [string, string];
      }),
    );
    const files = fs.readdirSync(usCoreExamplesDir).sort();
    assert.deepEqual(files, [...expected.keys()].sort());
    assert.equal(files.filter((f) => f.endsWith('.json')).length, 183);
    for (const f of files) {
      const digest = crypto.createHash('sha256').update(fs.readFileSync(path.join(usCoreExamplesDir, f))).digest('hex');
      assert.equal(digest, expected.get(f), `${f} differs from the published example`);
    }
  });
});
