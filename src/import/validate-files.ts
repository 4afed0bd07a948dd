/**
 * `validateFiles`: the checks every write passes (R4 JSON schema, FHIR's JSON rules, the
 * invariants), run on files without a database, so an operator can test data before loading
 * it. Reads what import reads (NDJSON, Bundles, single resources; folders recursively; .gz),
 * with the same readers, one line or entry at a time: memory stays flat whatever the size.
 */
import { FhirError, type Issue } from '../errors.js';
import { validateResource } from '../fhir/validation.js';
import { entriesBundleType } from './bundles.js';
import { collectFiles, type ImportFile } from './files.js';
import { ndjsonLines, readJsonFile } from './readers.js';
import { DEFAULT_MAX_JSON_BYTES } from './import.js';
import { reasonOf } from './report.js';

export interface ValidationFinding {
  file: string;
  line: number;
  severity: 'error' | 'warning';
  message: string;
}

export interface ValidationSummary {
  files: number;
  resources: number;
  /** Resources (lines, entries) that would be refused. */
  invalid: number;
  /** Resources accepted with at least one warning. */
  warned: number;
  /** Per rule: invariant keys (`mdd-1`), `schema` for every other refusal, `json` for unreadable lines. */
  errorsByRule: Record<string, number>;
  warningsByRule: Record<string, number>;
}

const ruleOf = (i: Issue): string => i.rule ?? 'schema';

class Tally {
  readonly summary: ValidationSummary = { files: 0, resources: 0, invalid: 0, warned: 0, errorsByRule: {}, warningsByRule: {} };
  constructor(private readonly onFinding: (f: ValidationFinding) => void) {}

  check(file: string, line: number, value: unknown, label = ''): void {
    this.summary.resources++;
    const warnings: Issue[] = [];
    try {
      validateResource(value, undefined, warnings);
    } catch (err) {
      this.summary.invalid++;
      const issues = err instanceof FhirError ? err.issues : [];
      for (const i of issues) this.summary.errorsByRule[ruleOf(i)] = (this.summary.errorsByRule[ruleOf(i)] ?? 0) + 1;
      this.onFinding({ file, line, severity: 'error', message: `${label}${reasonOf(err)}` });
      return;
    }
    if (!warnings.length) return;
    this.summary.warned++;
    for (const i of warnings) {
      this.summary.warningsByRule[ruleOf(i)] = (this.summary.warningsByRule[ruleOf(i)] ?? 0) + 1;
      this.onFinding({ file, line, severity: 'warning', message: `${label}${i.diagnostics}` });
    }
  }

  unreadable(file: string, line: number, message: string): void {
    this.summary.resources++;
    this.summary.invalid++;
    this.summary.errorsByRule.json = (this.summary.errorsByRule.json ?? 0) + 1;
    this.onFinding({ file, line, severity: 'error', message });
  }
}

async function checkFile(file: ImportFile, tally: Tally): Promise<void> {
  if (file.format === 'ndjson') {
    for await (const { line, text } of ndjsonLines(file, () => {})) {
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        tally.unreadable(file.path, line, `invalid JSON: ${(err as Error).message}`);
        continue;
      }
      tally.check(file.path, line, value);
    }
    return;
  }
  let value: unknown;
  try {
    value = await readJsonFile(file, DEFAULT_MAX_JSON_BYTES);
  } catch (err) {
    tally.unreadable(file.path, 1, (err as Error).message);
    return;
  }
  if (!entriesBundleType(value)) {
    tally.check(file.path, 1, value);
    return;
  }
  // A Bundle that import unpacks is checked entry by entry, as import loads it.
  const entries = (value as { entry?: unknown }).entry;
  if (!Array.isArray(entries)) return;
  entries.forEach((e, i) => {
    const resource = (e as { resource?: unknown } | null)?.resource;
    if (resource !== undefined) tally.check(file.path, 1, resource, `Bundle.entry[${i}]: `);
  });
}

/** Checks every resource in `paths` (files and folders); findings are reported as they are found. */
export async function validateFiles(paths: string[], onFinding: (f: ValidationFinding) => void = () => {}): Promise<ValidationSummary> {
  const files = await collectFiles(paths);
  const tally = new Tally(onFinding);
  for (const file of files) {
    tally.summary.files++;
    await checkFile(file, tally);
  }
  return tally.summary;
}
