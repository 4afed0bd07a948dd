/**
 * `payer-fhir` command line. Only implemented commands are registered, so `--help` never
 * lists something that does not work yet.
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { registerAdmins } from './admins.js';
import { registerAlerts } from './alerts.js';
import { registerAudit } from './audit.js';
import { registerClients } from './clients.js';
import { registerConsent } from './consent.js';
import { registerExport } from './export.js';
import { registerImport } from './import.js';
import { registerKeys } from './keys.js';
import { registerReindex } from './reindex.js';
import { registerToken } from './token.js';
import { registerSeed } from './seed.js';
import { registerServe } from './serve.js';
import { registerTenants } from './tenants.js';
import { registerValidate } from './validate.js';
import { registerViews } from './views.js';
import { registerWorker } from './worker.js';

const require = createRequire(import.meta.url);
const pkg = require('../../../package.json') as { version: string };

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program.name('payer-fhir').description('FHIR R4 Payer System Access API server').version(pkg.version);
  registerServe(program);
  registerWorker(program);
  registerTenants(program);
  registerImport(program);
  registerValidate(program);
  registerSeed(program);
  registerClients(program);
  registerKeys(program);
  registerToken(program);
  registerExport(program);
  registerReindex(program);
  registerAudit(program);
  registerAlerts(program);
  registerConsent(program);
  registerAdmins(program);
  registerViews(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`payer-fhir: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
