/**
 * The 183 official US Core 6.1.0 example resources (CC0), the real data the tests run on.
 * They are copied unchanged from the team's shared folder into test/fixtures, so a clone
 * anywhere runs the whole suite; `us-core-6.1.0-examples.sha256` beside them holds the
 * shared originals' digests, and a test checks every file against it. US_CORE_EXAMPLES
 * points the tests and benchmarks at another copy.
 */
import path from 'node:path';

/** The compiled helper lives in dist/test/helpers; the repository is three levels up. */
export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');

export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

export const usCoreExamplesDir = process.env.US_CORE_EXAMPLES ?? path.join(fixturesDir, 'us-core-6.1.0-examples');
