/**
 * Partner clients for the CMS-0057-F policy tests: a client registered under a policy and an
 * organisation, its real access token, and an export run with that token throughout
 * (kick-off, polling and every download), so nothing is fetched with another client's rights.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';
import { addClient } from '../../src/auth/clients.js';
import type { Organization, PolicyKind } from '../../src/policy/partner-policy.js';
import { makeKeyPair, requestToken, signAssertion, tokenUrlFor } from './auth.js';
import { KICKOFF_HEADERS } from './bulk.js';
import { NEW_PLAN, partnerWorldBundle, PROVIDER_A } from '../fixtures/partner-world.js';
import { http, type HttpResult } from './http.js';
import type { TestServer } from './server.js';

export const NPI = 'http://hl7.org/fhir/sid/us-npi';

export interface Partner {
  clientId: string;
  token: string;
  /** Request headers carrying the partner's token. */
  auth: Record<string, string>;
}

export async function registerPartner(pool: pg.Pool, origin: string, tenant: string, policy: PolicyKind, organization?: Organization, scope = 'system/*.rs'): Promise<Partner> {
  const key = await makeKeyPair('ES384');
  const { client_id: clientId } = await addClient(pool, { tenant, name: `${policy} partner`, jwks: { keys: [key.publicJwk] }, scope, policy, organization });
  const url = tokenUrlFor(origin, tenant);
  const res = await requestToken(url, {
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await signAssertion(key, clientId, url),
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return { clientId, token: res.json.access_token, auth: { authorization: `Bearer ${res.json.access_token}` } };
}

/** `Type/id` of a search Bundle's entries (not its OperationOutcome), sorted; only `type`'s when given. */
export function entryKeys(bundle: any, type?: string): string[] {
  return (bundle.entry ?? [])
    .filter((e: any) => e.search?.mode !== 'outcome' && (!type || e.resource.resourceType === type))
    .map((e: any) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();
}

export interface PartnerWorld {
  tenant: string;
  base: string;
  /** provider-access for PROVIDER_A. */
  provider: Partner;
  /** payer-to-payer for NEW_PLAN, having matched pm1, pm2 and pm3. */
  payer: Partner;
}

/** A new tenant holding the partner-world plan (fixtures/partner-world.ts), with its two partners. */
export async function partnerWorldTenant(server: TestServer, prefix: string, providerScope = 'system/*.rs'): Promise<PartnerWorld> {
  const { tenant, base } = await server.newTenant(prefix);
  const load = await http(base, { body: partnerWorldBundle() });
  assert.equal(load.status, 200, load.text);
  for (const e of load.json.entry) assert.match(e.response.status, /^20[01]/, JSON.stringify(e.response));
  const provider = await registerPartner(server.db.pool, server.origin, tenant, 'provider-access', PROVIDER_A, providerScope);
  const payer = await registerPartner(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PLAN);
  // What $member-match records when it matches (tested end to end in member-match.test).
  await server.db.pool.query(`INSERT INTO member_match (tenant, client_id, patient_id) SELECT $1, $2, unnest($3::text[])`, [tenant, payer.clientId, ['pm1', 'pm2', 'pm3']]);
  return { tenant, base, provider, payer };
}

export interface PartnerExport {
  manifest: any;
  resources: any[];
  errors: any[];
}

/** Kick-off (GET, or POST with `body`), poll and download, all with the partner's token. */
export async function partnerExport(partner: Partner, url: string, body?: unknown): Promise<PartnerExport> {
  const k = await http(url, { method: body ? 'POST' : 'GET', body, headers: { ...KICKOFF_HEADERS, ...partner.auth } });
  assert.equal(k.status, 202, `kick-off ${url}: ${k.text}`);
  const statusUrl = k.headers.get('content-location')!;
  let status: HttpResult;
  const deadline = Date.now() + 120_000;
  for (;;) {
    status = await http(statusUrl, { headers: partner.auth });
    if (status.status !== 202) break;
    assert.ok(Date.now() < deadline, 'export did not finish in time');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(status.status, 200, status.text);
  const read = async (items: { url: string }[]) => {
    const out: any[] = [];
    for (const item of items) {
      const r = await http(item.url, { headers: { ...partner.auth, accept: 'application/fhir+ndjson' } });
      assert.equal(r.status, 200, r.text);
      for (const line of r.text.split('\n')) if (line) out.push(JSON.parse(line));
    }
    return out;
  };
  return { manifest: status.json, resources: await read(status.json.output), errors: await read(status.json.error) };
}

/** Every key anywhere in a resource whose value is Money (`{value, currency}`) or a money element name. */
export function moneyPaths(value: unknown, path = '', out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v, i) => moneyPaths(v, `${path}[${i}]`, out));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.currency === 'string' && 'value' in o) out.push(path);
    for (const [k, v] of Object.entries(o)) {
      if (['total', 'payment', 'benefitBalance', 'unitPrice', 'net', 'amount', 'valueMoney', 'costToBeneficiary'].includes(k)) out.push(`${path}.${k}`);
      else moneyPaths(v, `${path}.${k}`, out);
    }
  }
  return out;
}
