/**
 * `payer-fhir validate FILE|DIR…`: the checks every write passes (R4 schema, FHIR JSON rules,
 * the R4 invariants), on files, with no database. Each refusal goes to stderr as
 * `file:line: reason` (and each warning with `--warnings`); a summary per rule goes to
 * stdout. The exit code is 1 when any resource would be refused.
 */
import type { Command } from 'commander';
import { validateFiles, type ValidationSummary } from '../import/validate-files.js';

function byRule(counts: Record<string, number>): string[] {
  return Object.entries(counts)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([rule, n]) => `  ${rule.padEnd(12)} ${n}`);
}

export function summaryText(s: ValidationSummary): string {
  const out = [`${s.resources} resources in ${s.files} file(s): ${s.resources - s.invalid} valid, ${s.invalid} invalid, ${s.warned} with warnings`];
  if (s.invalid) out.push('errors by rule:', ...byRule(s.errorsByRule));
  if (s.warned) out.push('warnings by rule:', ...byRule(s.warningsByRule));
  return `${out.join('\n')}\n`;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check NDJSON files, Bundles and single-resource JSON files against R4 (schema and invariants) without loading them')
    .argument('<paths...>', 'files (.ndjson, .json, optionally .gz) and folders')
    .option('--warnings', 'also list each warning (best-practice invariants such as dom-6), not only their count')
    .action(async (paths: string[], opts: { warnings?: boolean }) => {
      const summary = await validateFiles(paths, (f) => {
        if (f.severity === 'error' || opts.warnings) process.stderr.write(`${f.file}:${f.line}: ${f.severity}: ${f.message}\n`);
      });
      process.stdout.write(summaryText(summary));
      if (summary.invalid) process.exitCode = 1;
    });
}
