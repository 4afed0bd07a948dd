/**
 * `payer-fhir audit verify|report`: checks a tenant's hash chain, and prints the usage
 * report per client (a table, or JSON lines with --json).
 */
import type { Command } from 'commander';
import { REPORT_COLUMNS, reportCsv, usageReport } from '../audit/report.js';
import { verifyChain } from '../audit/verify.js';
import { withDatabase } from './database.js';

function parseSince(text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new Error(`--since: '${text}' is not a date (e.g. 2026-11-01 or 2026-11-01T00:00:00Z)`);
  return d;
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the audit trail: verify its hash chain, report usage');
  audit
    .command('verify')
    .description('recompute the tenant\'s hash chain; exit 1 if any record was changed, removed or inserted')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) => {
      await withDatabase(async (db) => {
        const r = await verifyChain(db.pool, o.tenant);
        if (r.ok) {
          process.stdout.write(`audit chain of ${o.tenant} intact: ${r.records} records${r.records ? ` (${r.firstSeq}…${r.lastSeq})` : ''}\n`);
        } else {
          process.stdout.write(`audit chain of ${o.tenant} BROKEN at record ${r.broken!.seq}: ${r.broken!.reason} (${r.records} records verified before it)\n`);
          process.exitCode = 1;
        }
      });
    });
  audit
    .command('report')
    .description('usage per client (or per client per day) since a date: requests, resources, exports, bytes, denials, failed authentications, 4xx, 5xx, p95 duration')
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--since <date>', 'start date (ISO 8601)')
    .option('--until <date>', 'end date (default now)')
    .option('--by-day', 'one row per client per UTC day')
    .option('--json', 'one JSON object per row')
    .option('--csv', 'CSV, as the console downloads it')
    .action(async (o: { tenant: string; since: string; until?: string; json?: boolean; csv?: boolean; byDay?: boolean }) => {
      const since = parseSince(o.since);
      const until = o.until ? parseSince(o.until) : new Date();
      await withDatabase(async (db) => {
        const rows = await usageReport(db.pool, o.tenant, since, until, { byDay: o.byDay });
        if (o.json) {
          for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        if (o.csv) {
          process.stdout.write(reportCsv(rows, !!o.byDay));
          return;
        }
        const cols = REPORT_COLUMNS.filter(([k]) => o.byDay || k !== 'day');
        const head = cols.map(([, h]) => h);
        const body = rows.map((r) => cols.map(([k]) => String(r[k])));
        const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
        const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
        process.stdout.write(`Usage of tenant ${o.tenant} from ${since.toISOString()} to ${until.toISOString()}\n`);
        process.stdout.write(`${line(head)}\n`);
        for (const b of body) process.stdout.write(`${line(b)}\n`);
        if (!rows.length) process.stdout.write('(no requests)\n');
      });
    });
}
