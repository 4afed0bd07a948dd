/**
 * Runs the SQL on FHIR v2 conformance suite against the view runner (src/views) and prints
 * one line per failure and `N passed, M failed`. Every shareable test must pass; an
 * experimental one passes, or counts as passed when the runner refuses it with a clear
 * "not supported" error. Exits non-zero when any test fails (`npm run test:sql-on-fhir`).
 */
import { FhirError } from '../src/errors.js';
import { compileView } from '../src/views/runner.js';
import { compareRows, isExperimental, loadSuite, suiteDir } from './helpers/sql-on-fhir.js';

function notSupported(err: unknown): boolean {
  return err instanceof FhirError && err.issues.some((i) => i.code === 'not-supported');
}

let passed = 0;
let failed = 0;
let refused = 0;
const expressions = { native: 0, engine: 0 };
const suite = loadSuite();
for (const file of suite) {
  for (const t of file.tests) {
    const name = `${file.file} › ${t.title}`;
    let problem: string | undefined;
    try {
      const view = compileView(t.view);
      expressions.native += view.expressions.native;
      expressions.engine += view.expressions.engine;
      const columns = view.columns.map((c) => c.name);
      const rows = file.resources.flatMap((r) => view.rows(r)).map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
      problem = t.expectError ? `expected an error, got ${rows.length} row(s)` : compareRows(t, columns, rows);
    } catch (err) {
      if (!t.expectError) {
        if (isExperimental(t) && notSupported(err)) {
          refused++;
          console.log(`refused (experimental): ${name}: ${(err as Error).message}`);
        } else problem = `error: ${(err as Error).message}`;
      }
    }
    if (problem) {
      failed++;
      console.log(`FAIL ${name}${isExperimental(t) ? ' [experimental]' : ''}: ${problem}`);
    } else passed++;
  }
}
console.log(`SQL on FHIR v2 suite at ${suiteDir}: ${suite.length} files; ${refused} experimental test(s) refused as not supported`);
console.log(`FHIRPath of the views that compiled: ${expressions.native} expression(s) native, ${expressions.engine} by the fhirpath engine`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
