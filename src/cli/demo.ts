/**
 * The zero-setup demo behind `npm start` (`serve --demo`): tenant `demo` and a demo client
 * whose key pair lives under DATA_DIR/demo-client, both created on first start and reused
 * afterwards. Prints what a newcomer needs to make a first authenticated request.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { addClient, getClient } from '../auth/clients.js';
import type { Config } from '../config.js';
import { fhirBase, tokenUrl } from '../http/urls.js';
import { addTenant } from '../store/tenants.js';
import { generateClientKeys } from './keys.js';

export const DEMO_TENANT = 'demo';
const DEMO_SCOPE = 'system/*.cruds';

interface DemoClient {
  client_id: string;
  private_key: string;
}

export async function ensureDemo(pool: pg.Pool, config: Config): Promise<string> {
  await addTenant(pool, DEMO_TENANT);
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
  const base = fhirBase(config.publicUrl, DEMO_TENANT);
  const token = tokenUrl(config.publicUrl, DEMO_TENANT);
  return [
    '',
    'payer-fhir demo is ready',
    `  FHIR base     ${base}`,
    `  token URL     ${token}`,
    `  client id     ${info.client_id}`,
    `  private key   ${info.private_key}`,
    '',
    'Try it (in another terminal):',
    `  TOKEN=$(npx payer-fhir token --token-url ${token} --client-id ${info.client_id} --key ${info.private_key} --scope "system/*.cruds")`,
    `  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/fhir+json" -d '{"resourceType":"Patient","name":[{"family":"Demo"}]}' ${base}/Patient`,
    `  curl -s -H "Authorization: Bearer $TOKEN" ${base}/Patient/_history`,
    '',
  ].join('\n');
}
