/**
 * `payer-fhir import --tenant T [--on-error skip|abort] [--on-unresolved reject|keep] <file|dir>…`:
 * loads NDJSON, Bundles and single resources. Rejections go to stderr as `file:line: reason` while the import runs, a
 * progress bar too when stderr is a terminal; the per-type summary goes to stdout. The exit
 * code is non-zero when anything was rejected or the import stopped early.
 */
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, importFiles } from '../import/import.js';
import type { ImportProgress } from '../import/progress.js';
import { formatIssue, type ImportIssue, type ImportResult } from '../import/report.js';
import { withDatabase } from './database.js';

interface ImportFlags {
  tenant: string;
  onError: 'skip' | 'abort';
  onUnresolved: 'reject' | 'keep';
  batchSize: number;
  concurrency: number;
}

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    if (!/^[1-9]\d{0,5}$/.test(value)) throw new Error(`${flag} must be a positive integer, got '${value}'`);
    return Number(value);
  };
}

/** Writes lines to stderr without tearing the progress bar. */
function progressDisplay(): { issue(i: ImportIssue): void; progress(p: ImportProgress): void; stop(): void } {
  if (!process.stderr.isTTY) {
    return { issue: (i) => process.stderr.write(`${formatIssue(i)}\n`), progress: () => {}, stop: () => {} };
  }
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: '{bar} {percentage}% | {resources} resources, {rejected} rejected | {file}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  return {
    issue: (i) => (bar ? bars.log(`${formatIssue(i)}\n`) : process.stderr.write(`${formatIssue(i)}\n`)),
    progress(p) {
      const payload = { resources: p.resources, rejected: p.rejected, file: p.file };
      bar ??= bars.create(Math.max(p.bytesTotal, 1), 0, payload);
      bar.update(p.bytesDone, payload);
    },
    stop: () => bars.stop(),
  };
}

function summary(result: ImportResult, abort: boolean): string {
  const header = ['resource type', 'created', 'updated', 'deleted', 'unchanged', 'rejected'];
  const rows = Object.entries(result.counts)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, c]) => [type, c.created, c.updated, c.deleted, c.unchanged, c.rejected].map(String));
  const total = [0, 0, 0, 0, 0];
  for (const c of Object.values(result.counts)) [c.created, c.updated, c.deleted, c.unchanged, c.rejected].forEach((n, i) => (total[i] += n));
  rows.push(['total', ...total.map(String)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const seconds = result.elapsedMs / 1000;
  const rate = seconds > 0 ? Math.round(result.written / seconds) : result.written;
  const out = [line(header), ...rows.map(line), ''];
  out.push(`${result.written} resources written from ${result.files} file(s) in ${seconds.toFixed(1)} s (${rate}/s); ${result.rejected} rejected${result.warnings ? `, ${result.warnings} warning(s)` : ''}`);
  if (result.stoppedAt) {
    out.push(
      abort
        ? `import stopped at the first error: nothing from ${result.stoppedAt} was written (files before it were)`
        : `import stopped in ${result.stoppedAt}: what was written before stays`,
    );
  }
  return out.join('\n') + '\n';
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('load NDJSON files, Bundles (transaction, batch, collection, searchset) and single-resource JSON files; folders recursively')
    .argument('<paths...>', 'files (.ndjson, .json, optionally .gz) and folders')
    .requiredOption('--tenant <id>', 'tenant to load into (must exist)')
    .addOption(
      new Option('--on-error <mode>', 'skip: report bad lines and load the rest; abort: stop at the first error, writing nothing from that file')
        .choices(['skip', 'abort'])
        .default('skip'),
    )
    .addOption(
      new Option('--on-unresolved <mode>', "an NDJSON 'urn:uuid:<id>' reference that matches no resource of the import or the tenant, or several: reject its line, or keep it as written with a warning")
        .choices(['reject', 'keep'])
        .default('reject'),
    )
    .option('--batch-size <n>', 'resources per database write', positiveInt('--batch-size'), DEFAULT_BATCH_SIZE)
    .option('--concurrency <n>', 'batches written at once with --on-error skip, each on its own connection', positiveInt('--concurrency'), DEFAULT_CONCURRENCY)
    .action(async (paths: string[], opts: ImportFlags) => {
      await withDatabase(async (db) => {
        const display = progressDisplay();
        let result: ImportResult;
        try {
          result = await importFiles(db.pool, opts.tenant, paths, {
            onError: opts.onError,
            onUnresolved: opts.onUnresolved,
            batchSize: opts.batchSize,
            concurrency: opts.concurrency,
            onIssue: display.issue,
            onProgress: display.progress,
          });
        } finally {
          display.stop();
        }
        process.stdout.write(summary(result, opts.onError === 'abort'));
        if (!result.ok) process.exitCode = 1;
      });
    });
}
