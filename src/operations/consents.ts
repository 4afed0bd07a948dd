/**
 * Consent administration by the payer (`payer-fhir consent …`): members' Provider Access
 * opt-outs and opt-ins, payer-to-payer grants, revocations and a member's consent list. Every
 * change is a Consent written through the normal write path, so the partner-access index (and
 * so every request and export unit after it) follows at once.
 */
import type pg from 'pg';
import { InvalidError, NotFoundError } from '../errors.js';
import { CONSENT_PURPOSE_SYSTEM, HREX_CONSENT_POLICY } from '../fhir/partner-index.js';
import { payerToPayerConsent, providerAccessConsent, type ConsentLevel } from '../fhir/consents.js';
import type { Resource } from '../fhir/validation.js';
import { performWrites } from '../interactions/writes.js';
import type { Organization } from '../policy/partner-policy.js';
import { escapeSearchValue, searchResources } from '../search/resources.js';
import { inTransaction } from '../store/database.js';
import { readCurrent, type WriteResult } from '../store/resources.js';
import { tenantExists } from '../store/tenants.js';

type Json = Record<string, any>;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function assertDate(value: string, flag: string): string {
  if (!DATE.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) throw new InvalidError(`${flag} must be a date, YYYY-MM-DD`);
  return value;
}

async function assertPatient(pool: pg.Pool, tenant: string, patientId: string): Promise<void> {
  if (!(await tenantExists(pool, tenant))) throw new NotFoundError(`No tenant ${tenant}`);
  const p = await readCurrent(pool, tenant, 'Patient', patientId);
  if (!p || p.deleted) throw new NotFoundError(`No Patient/${patientId} in tenant ${tenant}`);
}

async function write(pool: pg.Pool, tenant: string, resource: Resource, id?: string): Promise<WriteResult> {
  const [out] = await inTransaction(pool, (client) => performWrites(client, tenant, [id ? { method: 'PUT', type: 'Consent', id, resource } : { method: 'POST', type: 'Consent', resource }]));
  return out as WriteResult;
}

/** Today, as a FHIR date. */
export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** Opts the member out of Provider Access (`deny`) or back in (`permit`, withdrawing an opt-out) from `start`. */
export async function recordProviderAccessChoice(pool: pg.Pool, tenant: string, patientId: string, decision: 'deny' | 'permit', start = today()): Promise<WriteResult> {
  await assertPatient(pool, tenant, patientId);
  return write(pool, tenant, providerAccessConsent(patientId, decision, assertDate(start, '--start'), new Date()));
}

/** Records the member's payer-to-payer opt-in for the receiving payer. */
export async function grantPayerToPayer(pool: pg.Pool, tenant: string, patientId: string, recipient: Organization, level: string, start: string, end: string): Promise<WriteResult> {
  if (level !== 'regular' && level !== 'sensitive') throw new InvalidError('--policy must be regular or sensitive');
  assertDate(start, '--start');
  assertDate(end, '--end');
  if (end < start) throw new InvalidError('--end must not be before --start');
  await assertPatient(pool, tenant, patientId);
  return write(pool, tenant, payerToPayerConsent(patientId, recipient, level as ConsentLevel, start, end, new Date()));
}

/** Revokes a Consent (status `inactive`): it stops granting or denying anything at once. */
export async function revokeConsent(pool: pg.Pool, tenant: string, consentId: string): Promise<WriteResult> {
  if (!(await tenantExists(pool, tenant))) throw new NotFoundError(`No tenant ${tenant}`);
  const current = await readCurrent(pool, tenant, 'Consent', consentId);
  if (!current || current.deleted) throw new NotFoundError(`No Consent/${consentId} in tenant ${tenant}`);
  const c = JSON.parse(current.content!) as Json;
  if (c.status === 'inactive') throw new InvalidError(`Consent/${consentId} is already revoked (inactive)`);
  const { versionId: _v, lastUpdated: _l, ...meta } = (c.meta ?? {}) as Json;
  const revoked: Json = { ...c, status: 'inactive' };
  if (Object.keys(meta).length) revoked.meta = meta;
  else delete revoked.meta;
  return write(pool, tenant, revoked as Resource, consentId);
}

export interface ConsentSummary {
  id: string;
  status: string;
  purpose: string;
  decision: string;
  start: string;
  end: string;
  recipient: string;
  level: string;
  lastUpdated: string;
}

/** A member's Consents, newest first, as `consent list` shows them. */
export async function listConsents(pool: pg.Pool, tenant: string, patientId: string): Promise<ConsentSummary[]> {
  await assertPatient(pool, tenant, patientId);
  const found = await searchResources(pool, tenant, 'Consent', [['patient', `Patient/${escapeSearchValue(patientId)}`], ['_sort', '-_lastUpdated']], 1000);
  return found.map((c) => {
    const purpose = ((c.category ?? []) as Json[]).flatMap((x) => (x.coding ?? []) as Json[]).find((x) => x.system === CONSENT_PURPOSE_SYSTEM)?.code ?? '';
    const ircp = ((c.provision?.actor ?? []) as Json[]).find((a) => ((a.role?.coding ?? []) as Json[]).some((r) => r.code === 'IRCP'))?.reference?.identifier;
    const uri = ((c.policy ?? []) as Json[]).map((p) => p.uri as string).find((u) => typeof u === 'string' && u.startsWith(HREX_CONSENT_POLICY));
    return {
      id: c.id,
      status: c.status,
      purpose,
      decision: c.provision?.type ?? '',
      start: c.provision?.period?.start ?? '',
      end: c.provision?.period?.end ?? '',
      recipient: ircp ? `${ircp.system ?? ''}|${ircp.value ?? ''}` : '',
      level: uri ? uri.slice(uri.indexOf('#') + 1) : '',
      lastUpdated: c.meta?.lastUpdated ?? '',
    };
  });
}
