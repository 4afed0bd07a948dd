/** `payer-fhir reindex --tenant T [--type X]`: rebuilds search-index rows from the stored resources. */
import type { Command } from 'commander';
import { isResourceType } from '../fhir/schema.js';
import { reindex } from '../store/search-index.js';
import { withDatabase } from './database.js';

export function registerReindex(program: Command): void {
  program
    .command('reindex')
    .description('rebuild the search indexes of a tenant (e.g. after search parameters change)')
    .requiredOption('--tenant <id>', 'tenant to reindex')
    .option('--type <type>', 'only this resource type')
    .action(async (opts: { tenant: string; type?: string }) => {
      if (opts.type && !isResourceType(opts.type)) throw new Error(`'${opts.type}' is not a resource type`);
      await withDatabase(async (db) => {
        const n = await reindex(db.pool, opts.tenant, { type: opts.type, onBatch: (done) => process.stderr.write(`\r${done} resources reindexed`) });
        process.stderr.write('\n');
        process.stdout.write(`reindexed ${n} resources of tenant ${opts.tenant}${opts.type ? ` (${opts.type})` : ''}\n`);
      });
    });
}
