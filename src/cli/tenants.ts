/** `payer-fhir tenants add <id>` and `tenants list`. */
import type { Command } from 'commander';
import { addTenant, listTenants } from '../store/tenants.js';
import { withDatabase } from './database.js';

export function registerTenants(program: Command): void {
  const tenants = program.command('tenants').description('manage tenants');
  tenants
    .command('add <id>')
    .description('create a tenant (letters, digits, "-" and "_")')
    .action(async (id: string) => {
      await withDatabase(async (db) => {
        const created = await addTenant(db.pool, id);
        process.stdout.write(created ? `tenant ${id} created\n` : `tenant ${id} already exists\n`);
      });
    });
  tenants
    .command('list')
    .description('list tenants')
    .action(async () => {
      await withDatabase(async (db) => {
        for (const t of await listTenants(db.pool)) process.stdout.write(`${t.id}\t${t.created_at.toISOString()}\n`);
      });
    });
}
