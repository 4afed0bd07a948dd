/**
 * `payer-fhir admins add|list`: local accounts of the operator console. Without
 * --password-stdin, `add` prints a generated one-time password that must be changed at first
 * sign-in; with it, the password is read from standard input (never from the command line,
 * where other users of the machine could see it).
 */
import type { Command } from 'commander';
import { addAccount, listAccounts } from '../admin/accounts.js';
import { withDatabase } from './database.js';

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, '');
}

export function registerAdmins(program: Command): void {
  const admins = program.command('admins').description('local accounts of the operator console (README: "Operator console")');
  admins
    .command('add')
    .description('add an account; prints a one-time password unless --password-stdin')
    .requiredOption('--email <email>', 'the person\'s email (their sign-in name)')
    .requiredOption('--role <role>', 'admin | operator | auditor')
    .option('--tenant <id>', 'limit the account to one tenant (default: every tenant)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (o: { email: string; role: string; tenant?: string; passwordStdin?: boolean }) => {
      const password = o.passwordStdin ? await readStdin() : undefined;
      await withDatabase(async (db) => {
        const { oneTimePassword } = await addAccount(db.pool, { email: o.email, role: o.role, tenant: o.tenant, password });
        process.stdout.write(`account ${o.email} (${o.role}${o.tenant ? `, tenant ${o.tenant}` : ''}) added\n`);
        if (oneTimePassword) process.stdout.write(`one-time password: ${oneTimePassword}\n(it must be changed at first sign-in)\n`);
      });
    });
  admins
    .command('list')
    .description('list accounts (JSON lines; never passwords)')
    .action(async () => {
      await withDatabase(async (db) => {
        for (const a of await listAccounts(db.pool)) {
          process.stdout.write(`${JSON.stringify({ email: a.email, role: a.role, tenant: a.tenant, must_change_password: a.mustChangePassword, locked: !!(a.lockedUntil && a.lockedUntil > new Date()), last_signin: a.lastSignin })}\n`);
        }
      });
    });
}
