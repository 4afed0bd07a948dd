/**
 * `payer-fhir consent opt-out|opt-in|grant|revoke|list`: the payer records its members'
 * choices (README "CMS interoperability — operations"). Each prints the Consent written (or
 * the member's Consents as a table); every request and export unit after it follows it.
 */
import type { Command } from 'commander';
import { grantPayerToPayer, listConsents, recordProviderAccessChoice, revokeConsent } from '../operations/consents.js';
import { parseOrganization } from '../policy/partner-policy.js';
import type { WriteResult } from '../store/resources.js';
import { withDatabase } from './database.js';

function printWritten(out: WriteResult, what: string): void {
  process.stdout.write(`${what}: Consent/${out.id} (version ${out.version})\n`);
}

export function registerConsent(program: Command): void {
  const consent = program.command('consent').description("record members' Provider Access opt-outs and payer-to-payer consents");
  consent
    .command('opt-out')
    .description('opt the member out of Provider Access (a PDex provider consent, deny) from --start (default today)')
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--patient <id>', 'the member (Patient id)')
    .option('--start <date>', 'first day of the opt-out, YYYY-MM-DD')
    .action(async (o: { tenant: string; patient: string; start?: string }) => {
      await withDatabase(async (db) => printWritten(await recordProviderAccessChoice(db.pool, o.tenant, o.patient, 'deny', o.start), 'opted out'));
    });
  consent
    .command('opt-in')
    .description('withdraw an opt-out: a permit Provider Access consent from --start (default today)')
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--patient <id>', 'the member (Patient id)')
    .option('--start <date>', 'first day the member is opted in again, YYYY-MM-DD')
    .action(async (o: { tenant: string; patient: string; start?: string }) => {
      await withDatabase(async (db) => printWritten(await recordProviderAccessChoice(db.pool, o.tenant, o.patient, 'permit', o.start), 'opted in'));
    });
  consent
    .command('grant')
    .description("record the member's payer-to-payer opt-in (an HRex consent) for the receiving payer")
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--patient <id>', 'the member (Patient id)')
    .requiredOption('--recipient <system|value>', "the receiving payer's identifier, as its client is registered (--organization)")
    .requiredOption('--policy <level>', 'regular (no sensitive data) or sensitive (everything)')
    .requiredOption('--start <date>', 'first day of the consent, YYYY-MM-DD')
    .requiredOption('--end <date>', 'last day of the consent, YYYY-MM-DD')
    .action(async (o: { tenant: string; patient: string; recipient: string; policy: string; start: string; end: string }) => {
      const recipient = parseOrganization(o.recipient);
      await withDatabase(async (db) => printWritten(await grantPayerToPayer(db.pool, o.tenant, o.patient, recipient, o.policy, o.start, o.end), 'granted'));
    });
  consent
    .command('revoke')
    .description('revoke a consent (status inactive): it stops applying at once, running exports included')
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--id <consentId>', 'the Consent id')
    .action(async (o: { tenant: string; id: string }) => {
      await withDatabase(async (db) => printWritten(await revokeConsent(db.pool, o.tenant, o.id), 'revoked'));
    });
  consent
    .command('list')
    .description("list a member's consents, newest first")
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--patient <id>', 'the member (Patient id)')
    .action(async (o: { tenant: string; patient: string }) => {
      await withDatabase(async (db) => {
        const rows = await listConsents(db.pool, o.tenant, o.patient);
        process.stdout.write('id\tstatus\tpurpose\tdecision\tstart\tend\trecipient\tpolicy\tlast updated\n');
        for (const r of rows) process.stdout.write(`${[r.id, r.status, r.purpose, r.decision, r.start, r.end, r.recipient, r.level, r.lastUpdated].join('\t')}\n`);
      });
    });
}
