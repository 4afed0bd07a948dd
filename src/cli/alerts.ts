/** `payer-fhir alerts --tenant T [--since DATE] [--json]`: the security alerts raised for a tenant. */
import type { Command } from 'commander';
import { listAlerts } from '../audit/alerts.js';
import { withDatabase } from './database.js';

export function registerAlerts(program: Command): void {
  program
    .command('alerts')
    .description('list the security alerts raised for a tenant (README: "Security alerts")')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--since <date>', 'only alerts raised since this date (ISO 8601)')
    .option('--json', 'one JSON object per alert')
    .action(async (o: { tenant: string; since?: string; json?: boolean }) => {
      const since = o.since ? new Date(o.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw new Error(`--since: '${o.since}' is not a date`);
      await withDatabase(async (db) => {
        const alerts = await listAlerts(db.pool, o.tenant, since);
        for (const a of alerts) {
          process.stdout.write(o.json ? `${JSON.stringify(a)}\n` : `${a.raisedAt.toISOString()}  ${a.rule.padEnd(13)}  ${a.summary}\n`);
        }
        if (!alerts.length && !o.json) process.stdout.write('(no alerts)\n');
      });
    });
}
