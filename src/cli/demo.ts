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
import { addClient, getClient, type NewClient } from '../auth/clients.js';
import { NPI_SYSTEM } from '../fhir/partner-index.js';
import type { Config } from '../config.js';
import { fhirBase, tokenUrl } from '../http/urls.js';
import { seedTenant } from '../seed/load.js';
import { addTenant } from '../store/tenants.js';
import { loadShippedViews } from '../views/library.js';
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

/** A demo client with its own key pair under DATA_DIR/<folder>, created once and reused. */
async function demoClient(pool: pg.Pool, config: Config, folder: string, name: string, extra: Pick<NewClient, 'scope' | 'policy' | 'organization'>): Promise<DemoClient> {
  const dir = path.join(config.dataDir, folder);
  const infoFile = path.join(dir, 'client.json');
  let info = JSON.parse(await fs.readFile(infoFile, 'utf8').catch(() => 'null')) as DemoClient | null;
  if (!info || !(await getClient(pool, DEMO_TENANT, info.client_id))) {
    const keys = await generateClientKeys('ES384', dir);
    const jwks = JSON.parse(await fs.readFile(keys.jwksFile, 'utf8'));
    const { client_id } = await addClient(pool, { tenant: DEMO_TENANT, name, jwks, ...extra });
    info = { client_id, private_key: keys.privateKeyFile };
    await fs.writeFile(infoFile, JSON.stringify(info, null, 2) + '\n');
  }
  return info;
}

/** The largest attribution list of the demo plan, with the NPI of the provider it belongs to. */
async function demoAttributionList(pool: pg.Pool): Promise<{ group: string; npi: string } | undefined> {
  const { rows } = await pool.query<{ group_id: string; org_value: string }>(
    `SELECT g.group_id, g.org_value FROM partner_group g
      WHERE g.tenant = $1 AND g.kind = 'attribution' AND g.org_system = $2 AND g.usable
      ORDER BY (SELECT count(*) FROM partner_group_member m WHERE m.tenant = g.tenant AND m.group_id = g.group_id) DESC, g.group_id LIMIT 1`,
    [DEMO_TENANT, NPI_SYSTEM],
  );
  return rows[0] && { group: rows[0].group_id, npi: rows[0].org_value };
}

/** The demo's other health plan (Payer-to-Payer): a payer id of its own. */
const DEMO_NEXT_PLAN = { system: 'http://example.org/fhir/sid/payer-id', value: 'DEMO-NEXT-PLAN' };

/**
 * An HRex `$member-match` request for one demo member, as another plan would send it: the
 * member's demographics, the card of its coverage here, and an opt-in Consent naming the
 * demo's next plan as recipient. Written beside the payer client's key for the banner's curl.
 */
async function memberMatchRequest(pool: pg.Pool, file: string): Promise<boolean> {
  const { rows } = await pool.query<{ patient: string; coverage: string; payer: string }>(
    `SELECT p.content AS patient, c.content AS coverage, o.content AS payer
       FROM resource p
       JOIN search_reference x ON x.tenant = p.tenant AND x.type = 'Coverage' AND x.param = 'beneficiary' AND x.target_type = 'Patient' AND x.target_id = p.id
       JOIN resource c ON c.tenant = p.tenant AND c.type = 'Coverage' AND c.id = x.id AND NOT c.deleted
       JOIN resource o ON o.tenant = p.tenant AND o.type = 'Organization' AND o.id = 'payer'
      WHERE p.tenant = $1 AND p.type = 'Patient' AND NOT p.deleted AND c.content LIKE '%"status":"active"%'
      ORDER BY p.id, c.id DESC LIMIT 1`,
    [DEMO_TENANT],
  );
  if (!rows[0]) return false;
  const patient = JSON.parse(rows[0].patient);
  const coverage = JSON.parse(rows[0].coverage);
  const payerId = JSON.parse(rows[0].payer).identifier?.[0];
  const year = new Date().getUTCFullYear();
  const ref = { reference: 'Patient/1' };
  const body = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'MemberPatient', resource: { resourceType: 'Patient', id: '1', name: patient.name, gender: patient.gender, birthDate: patient.birthDate } },
      { name: 'CoverageToMatch', resource: { resourceType: 'Coverage', id: 'old', status: 'active', identifier: coverage.identifier, subscriberId: coverage.subscriberId, beneficiary: ref, payor: [{ identifier: payerId }] } },
      { name: 'CoverageToLink', resource: { resourceType: 'Coverage', id: 'new', status: 'active', subscriberId: 'NEXT-0001', beneficiary: ref, payor: [{ identifier: DEMO_NEXT_PLAN }] } },
      {
        name: 'Consent',
        resource: {
          resourceType: 'Consent',
          id: 'c1',
          status: 'active',
          scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IDSCL' }] }],
          patient: ref,
          performer: [ref],
          sourceReference: { reference: 'http://example.org/DocumentReference/signed-consent' },
          policy: [{ uri: 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular' }],
          provision: {
            type: 'permit',
            period: { start: `${year}-01-01`, end: `${year + 1}-12-31` },
            actor: [
              { role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'performer' }] }, reference: { identifier: payerId } },
              { role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { identifier: DEMO_NEXT_PLAN } },
            ],
            action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'disclose' }] }],
          },
        },
      },
    ],
  };
  await fs.writeFile(file, JSON.stringify(body, null, 2) + '\n');
  return true;
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
  // The analytics views of views/ (SQL on FHIR), ready for $run and $viewdefinition-export.
  const views = await loadShippedViews(pool, DEMO_TENANT);
  if (views) log(`loaded ${views} ViewDefinition(s) from views/`);
  const info = await demoClient(pool, config, 'demo-client', 'demo client', { scope: DEMO_SCOPE });
  // A provider organisation under the Provider Access policy (CMS-0057-F), acting for the NPI of an attribution list.
  const list = await demoAttributionList(pool);
  const provider = list
    ? await demoClient(pool, config, 'demo-provider', 'demo provider (Provider Access)', { scope: 'system/*.rs', policy: 'provider-access', organization: { system: NPI_SYSTEM, value: list.npi } })
    : undefined;
  // Another health plan under the Payer-to-Payer policy, with a ready $member-match request.
  const payer = await demoClient(pool, config, 'demo-payer', 'demo next plan (Payer-to-Payer)', { scope: 'system/*.rs', policy: 'payer-to-payer', organization: DEMO_NEXT_PLAN });
  const matchFile = path.join(config.dataDir, 'demo-payer', 'member-match.json');
  const hasMatch = await memberMatchRequest(pool, matchFile);
  const admin = await demoAdmin(pool, path.join(config.dataDir, 'demo-client'));
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
    'Flatten it with a SQL on FHIR view (views/: member_months, claim_lines, hba1c_results…):',
    `  curl -s -H "Authorization: Bearer $TOKEN" "${base}/ViewDefinition/claim-lines/$run?_format=csv&_limit=20"`,
    '',
    'Export a population (Bulk Data) into ./demo-export:',
    `  ${exportCommand(config, info, await demoGroup(pool))}`,
    '',
    ...(provider && list
      ? [
          `Provider Access (CMS-0057-F): client ${provider.client_id} acts for NPI ${list.npi}; it sees only its attributed,`,
          'not opted-out members, data from 2016 on, claims without money (README "CMS interoperability"):',
          `  PTOKEN=$(npx payer-fhir token --token-url ${token} --client-id ${provider.client_id} --key ${provider.private_key} --scope "system/*.rs")`,
          `  curl -s -H "Authorization: Bearer $PTOKEN" "${base}/Group?_summary=true"          # its attribution list: ${list.group}`,
          `  curl -si -H "Authorization: Bearer $PTOKEN" -H "Accept: application/fhir+json" -H "Prefer: respond-async" \\`,
          `       "${base}/Group/${list.group}/$davinci-data-export?exportType=hl7.fhir.us.davinci-pdex%23provider-download"   # then poll Content-Location`,
          '',
        ]
      : []),
    ...(hasMatch
      ? [
          `Payer-to-Payer (CMS-0057-F): client ${payer.client_id} is another plan (${DEMO_NEXT_PLAN.system}|${DEMO_NEXT_PLAN.value}); it sees only`,
          'members it matched with an opt-in consent naming it, five years back, money-free:',
          `  QTOKEN=$(npx payer-fhir token --token-url ${token} --client-id ${payer.client_id} --key ${payer.private_key} --scope "system/*.rs")`,
          `  curl -s -H "Authorization: Bearer $QTOKEN" -H "Content-Type: application/fhir+json" -d @${matchFile} "${base}/Patient/$member-match"`,
          `  curl -s -H "Authorization: Bearer $QTOKEN" "${base}/Patient/<MemberId from the answer>/$everything"`,
          `  curl -si -H "Authorization: Bearer $QTOKEN" -H "Accept: application/fhir+json" -H "Prefer: respond-async" "${base}/Patient/$export"`,
          '',
        ]
      : []),
  ].join('\n');
}
