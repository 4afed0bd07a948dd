/**
 * The zero-setup demo behind `npm start` (`serve --demo`): tenant `demo` seeded with a
 * synthetic plan (DEMO_MEMBERS members, default 1,000), and a demo client whose key pair lives under
 * DATA_DIR/demo-client — created on first start, reused afterwards. Prints what a newcomer
 * needs to make a first authenticated request.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { addAccount, findAccount, generatePassword } from '../admin/accounts.js';
import { addClient, getClient } from '../auth/clients.js';
import type { Config } from '../config.js';
import { fhirBase, tokenUrl } from '../http/urls.js';
import { seedTenant } from '../seed/load.js';
import { addTenant } from '../store/tenants.js';
import { generateClientKeys } from './keys.js';

export const DEMO_TENANT = 'demo';
const DEMO_SCOPE = 'system/*.cruds';

interface DemoClient {
  client_id: string;
  private_key: string;
}

/** The `payer-fhir export` command the banner prints (and the demo test runs). */
export function exportCommand(config: Config, info: { client_id: string; private_key: string }, group: string | undefined): string {
  const level = group ? `--group ${group}` : '--patient-level';
  return `npx payer-fhir export --base ${fhirBase(config.publicUrl, DEMO_TENANT)} --token-url ${tokenUrl(config.publicUrl, DEMO_TENANT)} --client-id ${info.client_id} --key ${info.private_key} ${level} --out ./demo-export`;
}

/** A Group of the demo plan to export: the diabetes registry when the seed made one. */
async function demoGroup(pool: pg.Pool): Promise<string | undefined> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM resource WHERE tenant = $1 AND type = 'Group' AND NOT deleted ORDER BY (id = 'cohort-diabetes') DESC, id LIMIT 1`,
    [DEMO_TENANT],
  );
  return rows[0]?.id;
}

export const DEMO_ADMIN = 'admin@demo.local';

/**
 * The demo's console administrator: created on first start with a random password kept beside
 * the demo client's key (mode 0600), so a later start can print it again.
 */
async function demoAdmin(pool: pg.Pool, dir: string): Promise<{ email: string; password: string | undefined }> {
  const file = path.join(dir, 'console-admin.json');
  const saved = JSON.parse(await fs.readFile(file, 'utf8').catch(() => 'null')) as { email: string; password: string } | null;
  if (await findAccount(pool, DEMO_ADMIN)) return { email: DEMO_ADMIN, password: saved?.password };
  const password = generatePassword();
  await addAccount(pool, { email: DEMO_ADMIN, role: 'admin', password });
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, JSON.stringify({ email: DEMO_ADMIN, password }, null, 2) + '\n', { mode: 0o600 });
  return { email: DEMO_ADMIN, password };
}

export async function ensureDemo(pool: pg.Pool, config: Config, log: (msg: string) => void = () => {}): Promise<string> {
  await addTenant(pool, DEMO_TENANT);
  // Seeded once: a second start finds the members and is ready in seconds.
  const { rows } = await pool.query("SELECT 1 FROM resource WHERE tenant = $1 AND type = 'Patient' LIMIT 1", [DEMO_TENANT]);
  if (rows.length === 0) {
    const members = config.demoMembers;
    log(`seeding tenant ${DEMO_TENANT} with ${members} synthetic members (first start only)…`);
    const seeded = await seedTenant(pool, DEMO_TENANT, { seed: 'demo', members });
    log(`seeded ${seeded.written} resources`);
  }
  const dir = path.join(config.dataDir, 'demo-client');
  const infoFile = path.join(dir, 'client.json');
  let info = JSON.parse(await fs.readFile(infoFile, 'utf8').catch(() => 'null')) as DemoClient | null;
  if (!info || !(await getClient(pool, DEMO_TENANT, info.client_id))) {
    const keys = await generateClientKeys('ES384', dir);
    const jwks = JSON.parse(await fs.readFile(keys.jwksFile, 'utf8'));
    const { client_id } = await addClient(pool, { tenant: DEMO_TENANT, name: 'demo client', jwks, scope: DEMO_SCOPE });
    info = { client_id, private_key: keys.privateKeyFile };
    await fs.writeFile(infoFile, JSON.stringify(info, null, 2) + '\n');
  }
  const admin = await demoAdmin(pool, dir);
  const base = fhirBase(config.publicUrl, DEMO_TENANT);
  const token = tokenUrl(config.publicUrl, DEMO_TENANT);
  return [
    '',
    'payer-fhir demo is ready',
    `  console       ${config.publicUrl}/console/`,
    `    sign in as  ${admin.email}`,
    `    password    ${admin.password ?? '(set at first start; see payer-fhir admins add to make another account)'}`,
    `  developers    ${config.publicUrl}/developers/${DEMO_TENANT}`,
    `  FHIR base     ${base}`,
    `  token URL     ${token}`,
    `  client id     ${info.client_id}`,
    `  private key   ${info.private_key}`,
    '',
    'Try it (in another terminal):',
    `  TOKEN=$(npx payer-fhir token --token-url ${token} --client-id ${info.client_id} --key ${info.private_key} --scope "system/*.cruds")`,
    `  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/fhir+json" -d '{"resourceType":"Patient","name":[{"family":"Demo"}]}' ${base}/Patient`,
    `  curl -s -H "Authorization: Bearer $TOKEN" "${base}/Patient?_count=5"`,
    `  curl -s -H "Authorization: Bearer $TOKEN" "${base}/ExplanationOfBenefit?patient=pt-000001&_include=ExplanationOfBenefit:coverage"`,
    '',
    'Export a population (Bulk Data) into ./demo-export:',
    `  ${exportCommand(config, info, await demoGroup(pool))}`,
    '',
  ].join('\n');
}
