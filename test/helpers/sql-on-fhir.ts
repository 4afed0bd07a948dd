/**
 * The SQL on FHIR v2 specification's conformance suite (MIT), read in place from the shared
 * folder beside the repository (`../shared/data/sql-on-fhir-v2-tests`; SQL_ON_FHIR_TESTS points
 * elsewhere) — never copied into the repository. Shared by the in-process conformance runner
 * (test/sql-on-fhir-conformance.ts) and the HTTP test of `$run`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './bulk.js';

export const suiteDir = process.env.SQL_ON_FHIR_TESTS ?? path.join(repoRoot, '..', 'shared', 'data', 'sql-on-fhir-v2-tests');

export interface SuiteTest {
  title: string;
  tags?: string[];
  view: Record<string, unknown>;
  expect?: Record<string, unknown>[];
  expectColumns?: string[];
  expectCount?: number;
  expectError?: boolean;
}

export interface SuiteFile {
  file: string;
  title: string;
  resources: Record<string, unknown>[];
  tests: SuiteTest[];
}

export function loadSuite(): SuiteFile[] {
  return fs
    .readdirSync(suiteDir)
    .filter((f) => f.endsWith('.json') && f !== 'tests.schema.json')
    .sort()
    .map((f) => ({ file: f, ...(JSON.parse(fs.readFileSync(path.join(suiteDir, f), 'utf8')) as Omit<SuiteFile, 'file'>) }));
}

export function isExperimental(t: SuiteTest): boolean {
  return (t.tags ?? []).includes('experimental') && !(t.tags ?? []).includes('shareable');
}

/** A row as canonical text: keys in the given column order. */
function canonical(row: Record<string, unknown>, columns: string[]): string {
  return JSON.stringify(columns.map((c) => [c, row[c] === undefined ? null : row[c]]));
}

/**
 * Compares rows with a test's expectation (order-insensitive, as the suite specifies);
 * returns undefined when they match, else what differs.
 */
export function compareRows(t: SuiteTest, columns: string[], rows: Record<string, unknown>[]): string | undefined {
  if (t.expectColumns && JSON.stringify(t.expectColumns) !== JSON.stringify(columns)) {
    return `columns ${JSON.stringify(columns)}, expected ${JSON.stringify(t.expectColumns)}`;
  }
  if (t.expectCount !== undefined && rows.length !== t.expectCount) return `${rows.length} rows, expected ${t.expectCount}`;
  if (t.expect) {
    const keys = t.expect.length ? Object.keys(t.expect[0]) : columns;
    if (t.expect.length && JSON.stringify([...keys].sort()) !== JSON.stringify([...columns].sort())) {
      return `columns ${JSON.stringify(columns)}, expected ${JSON.stringify(keys)}`;
    }
    const got = rows.map((r) => canonical(r, columns)).sort();
    const want = t.expect.map((r) => canonical(r, columns)).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) return `rows ${JSON.stringify(rows)}, expected ${JSON.stringify(t.expect)}`;
  }
  return undefined;
}
