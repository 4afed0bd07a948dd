/**
 * `payer-fhir views run`: runs a ViewDefinition over a tenant's data straight from the
 * database, for operators — the same compiled view, sources and encoders as `$run`
 * (src/views/run.ts), without a token: the operator reads everything. Rows stream into a
 * temporary file renamed into place at the end, so a failed run leaves no partial file; a
 * progress bar (source resources read) goes to stderr on a terminal.
 */
import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { CursorCodec } from '../http/cursor.js';
import { fhirBase } from '../http/urls.js';
import type { TenantContext } from '../interactions/context.js';
import { loadCursorKey } from '../server.js';
import { tenantExists } from '../store/tenants.js';
import { parseFormat, type OutputFormat } from '../views/formats.js';
import { prepareRun } from '../views/run.js';
import type { RunParameters } from '../views/run-parameters.js';
import { parseSince } from '../views/run-parameters.js';
import { withDatabase } from './database.js';

interface Options {
  tenant: string;
  view: string;
  format: string;
  out: string;
  header: boolean;
  patient?: string[];
  group?: string[];
  since?: string;
}

/** How many source resources the run will read, for the progress bar's total (an upper bound with patient/group). */
async function sourceCount(ctx: TenantContext, type: string, patients: string[] | undefined): Promise<number> {
  const { rows } = patients
    ? await ctx.pool.query<{ n: number }>('SELECT count(DISTINCT id)::int AS n FROM resource_compartment WHERE tenant = $1 AND type = $2 AND patient_id = ANY($3::text[])', [ctx.tenant, type, patients])
    : await ctx.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM resource WHERE tenant = $1 AND type = $2 AND NOT deleted', [ctx.tenant, type]);
  return rows[0].n;
}

async function write(out: fs.WriteStream, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((resolve, reject) => out.once('drain', resolve).once('error', reject));
}

export function registerViews(program: Command): void {
  const views = program.command('views').description('SQL on FHIR ViewDefinitions');
  views
    .command('run')
    .description("run a ViewDefinition over a tenant's data into a csv, ndjson, json or Parquet file")
    .requiredOption('--tenant <id>', 'tenant whose data the view reads')
    .requiredOption('--view <file|id>', 'a ViewDefinition JSON file, or the id of a ViewDefinition stored in the tenant')
    .option('--format <format>', 'csv, ndjson, json or parquet', 'csv')
    .requiredOption('--out <file>', 'the output file')
    .option('--no-header', 'csv without its header row')
    .option('--patient <id...>', 'only the compartments of these patients')
    .option('--group <id...>', "only the compartments of these Groups' members")
    .option('--since <instant>', 'only resources changed after this FHIR instant')
    .action(async (o: Options) => {
      const format: OutputFormat = parseFormat(o.format);
      const params: RunParameters = { header: o.header, format, patients: o.patient, groups: o.group, since: o.since ? parseSince(o.since) : undefined };
      if (fs.existsSync(o.view) && fs.statSync(o.view).isFile()) params.viewResource = JSON.parse(fs.readFileSync(o.view, 'utf8')) as Record<string, unknown>;
      else params.viewReference = `ViewDefinition/${o.view}`;
      await withDatabase(async (db, config) => {
        if (!(await tenantExists(db.pool, o.tenant))) throw new Error(`tenant '${o.tenant}' does not exist`);
        const ctx: TenantContext = { config, pool: db.pool, cursors: new CursorCodec(await loadCursorKey(db.pool)), tenant: o.tenant, base: fhirBase(config.publicUrl, o.tenant) };
        const run = await prepareRun(ctx, undefined, params, format);
        const type = run.view.definition.resource;
        const total = await sourceCount(ctx, type, params.patients);
        const bar = process.stderr.isTTY
          ? new cliProgress.SingleBar({ format: ` ${(run.view.definition.name ?? 'view').slice(0, 24)} |{bar}| {value}/{total} ${type} resources, {rows} rows`, hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic)
          : undefined;
        bar?.start(total, 0, { rows: 0 });
        const target = path.resolve(o.out);
        const temp = `${target}.partial-${process.pid}`;
        const out = fs.createWriteStream(temp);
        try {
          for await (const chunk of run.body) {
            await write(out, chunk);
            bar?.update(Math.min(run.counts.resources, total), { rows: run.counts.rows });
          }
          await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
          fs.renameSync(temp, target);
        } catch (err) {
          out.destroy();
          fs.rmSync(temp, { force: true });
          throw err;
        } finally {
          bar?.stop();
        }
        process.stderr.write(`wrote ${run.counts.rows} rows from ${run.counts.resources} ${type} resources to ${o.out}\n`);
      });
    });
}
