/**
 * `payer-fhir export`: pull a Bulk Data export from any Bulk Data 2.0 server into a folder
 * (src/client/bulk-client.ts). Progress bars on a terminal, plain lines otherwise.
 */
import fs from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { runBulkExport, type ExportEvent } from '../client/bulk-client.js';

interface Options {
  base: string;
  tokenUrl: string;
  clientId: string;
  key?: string;
  secret?: string;
  scope: string;
  group?: string;
  patientLevel?: boolean;
  system?: boolean;
  type?: string;
  since?: string;
  typeFilter?: string[];
  elements?: string;
  out: string;
}

function reporter(): { on: (e: ExportEvent) => void; stop: () => void } {
  const tty = process.stderr.isTTY;
  const say = (s: string) => process.stderr.write(`${s}\n`);
  if (!tty) {
    return {
      on: (e) => {
        if (e.kind === 'kicked-off') say(`export started: ${e.statusUrl}`);
        else if (e.kind === 'waiting') say(e.status === 202 ? `in progress${e.progress ? ` (${e.progress})` : ''}; next poll in ${e.seconds} s` : `server answered ${e.status}; retrying in ${e.seconds} s`);
        else if (e.kind === 'manifest') say(`export complete: downloading ${e.files} file(s)`);
        else if (e.kind === 'file-done') say(`  ${e.name}: ${e.lines} resources`);
      },
      stop: () => undefined,
    };
  }
  const bars = new cliProgress.MultiBar({ format: ' {name} |{bar}| {value}/{total} {unit}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  const job = bars.create(1, 0, { name: 'export'.padEnd(28), unit: 'units' });
  const files = new Map<string, cliProgress.SingleBar>();
  return {
    on: (e) => {
      if (e.kind === 'waiting' && e.progress) {
        const m = /^(\d+)\/(\d+)/.exec(e.progress);
        if (m) {
          job.setTotal(Number(m[2]));
          job.update(Number(m[1]));
        }
      } else if (e.kind === 'manifest') {
        job.update(job.getTotal());
      } else if (e.kind === 'file-progress') {
        let bar = files.get(e.name);
        if (!bar) files.set(e.name, (bar = bars.create(e.total ?? e.bytes, 0, { name: e.name.slice(0, 28).padEnd(28), unit: 'bytes' })));
        if (e.total) bar.setTotal(e.total);
        bar.update(e.bytes);
      }
    },
    stop: () => bars.stop(),
  };
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('pull a Bulk Data export from any Bulk Data 2.0 server into a folder')
    .requiredOption('--base <url>', 'the FHIR base URL')
    .requiredOption('--token-url <url>', 'the token endpoint')
    .requiredOption('--client-id <id>', 'your client id')
    .option('--key <file>', 'your private JWK (private_key_jwt)')
    .option('--secret <secret>', 'your client secret (instead of --key)')
    .option('--scope <scopes>', 'requested scopes', 'system/*.read')
    .option('--group <id>', 'Group export')
    .option('--patient-level', 'Patient-level export (all patients)')
    .option('--system', 'system-level export (the default)')
    .option('--type <types>', '_type: comma-separated resource types')
    .option('--since <instant>', '_since: only resources changed after this FHIR instant')
    .option('--type-filter <query...>', '_typeFilter queries, e.g. "Observation?category=laboratory"')
    .option('--elements <list>', '_elements')
    .requiredOption('--out <dir>', 'folder for the files and manifest.json')
    .action(async (o: Options) => {
      if (!o.key === !o.secret) throw new Error('give exactly one of --key and --secret');
      if ([o.group !== undefined, o.patientLevel, o.system].filter(Boolean).length > 1) throw new Error('choose one of --group, --patient-level, --system');
      const key = o.key ? JSON.parse(await fs.readFile(o.key, 'utf8')) : undefined;
      const progress = reporter();
      try {
        const result = await runBulkExport({
          base: o.base,
          tokenUrl: o.tokenUrl,
          clientId: o.clientId,
          key,
          secret: o.secret,
          scope: o.scope,
          level: o.group !== undefined ? 'group' : o.patientLevel ? 'patient' : 'system',
          group: o.group,
          types: o.type,
          since: o.since,
          typeFilters: o.typeFilter,
          elements: o.elements,
          out: o.out,
          onEvent: progress.on,
        });
        progress.stop();
        const resources = result.files.filter((f) => result.manifest.output.some((x) => x.url === f.url)).reduce((n, f) => n + f.lines, 0);
        process.stderr.write(`done: ${result.files.length} file(s), ${resources} resources in ${o.out} (manifest.json beside them)\n`);
      } catch (err) {
        progress.stop();
        throw err;
      }
    });
}
