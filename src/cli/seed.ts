/**
 * `payer-fhir seed --tenant T --members N [--seed S]`: generates a deterministic synthetic
 * payer population (see src/seed/) and writes it into an existing tenant through the same
 * validation and write path as the API and import. The per-type summary goes to stdout; a
 * running count goes to stderr when it is a terminal.
 */
import type { Command } from 'commander';
import { DEFAULT_SEED_BATCH, seedTenant, type SeedResult } from '../seed/load.js';
import { withDatabase } from './database.js';

interface SeedFlags {
  tenant: string;
  members: string;
  seed: string;
  batchSize: string;
}

function positiveInt(name: string, max: number): (value: string) => string {
  return (value) => {
    if (!/^[1-9]\d*$/.test(value) || Number(value) > max) throw new Error(`${name} must be an integer from 1 to ${max}, got '${value}'`);
    return value;
  };
}

export function summary(result: SeedResult, members: number): string {
  const rows = Object.entries(result.counts)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, n]) => [type, String(n), (n / members).toFixed(2)]);
  rows.push(['total', String(result.written), (result.written / members).toFixed(2)]);
  const header = ['resource type', 'resources', 'per member'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const seconds = result.elapsedMs / 1000;
  return [line(header), ...rows.map(line), '', `${result.written} resources for ${members} members written in ${seconds.toFixed(1)} s (${Math.round(result.written / Math.max(seconds, 0.001))}/s)`, ''].join('\n');
}

export function registerSeed(program: Command): void {
  program
    .command('seed')
    .description('generate a deterministic synthetic payer population (members, coverage, ten years of clinical history and claims) into a tenant')
    .requiredOption('--tenant <id>', 'tenant to load into (must exist)')
    .requiredOption('--members <n>', 'number of members (covered persons) to generate', positiveInt('--members', 10_000_000))
    .option('--seed <s>', 'any string; the same seed and member count always give the same resources and ids', '1')
    .option('--batch-size <n>', 'resources per transaction', positiveInt('--batch-size', 100_000), String(DEFAULT_SEED_BATCH))
    .action(async (opts: SeedFlags) => {
      const members = Number(opts.members);
      await withDatabase(async (db) => {
        const tty = process.stderr.isTTY;
        const started = performance.now();
        let last = 0;
        const result = await seedTenant(db.pool, opts.tenant, {
          seed: opts.seed,
          members,
          batchSize: Number(opts.batchSize),
          onProgress: (written) => {
            const now = performance.now();
            if (!tty || now - last < 250) return;
            last = now;
            process.stderr.write(`\rseeding ${opts.tenant}: ${written} resources written (${Math.round(written / ((now - started) / 1000))}/s)   `);
          },
        });
        if (tty) process.stderr.write('\n');
        process.stdout.write(summary(result, members));
      });
    });
}
