/**
 * Payer-to-Payer test fixtures: a small plan written through the API (payer Organization,
 * members with coverages), HRex-shaped `$member-match` requests, and partner clients with
 * real tokens registered under a policy.
 */
import type pg from 'pg';
import type { Organization, PolicyKind } from '../../src/policy/partner-policy.js';
import { tokenFor } from './auth.js';
import { http } from './http.js';

type Json = Record<string, any>;

export const NEW_PAYER: Organization = { system: 'http://example.org/payer-ids', value: 'NEWPLAN-01' };
export const OTHER_PAYER: Organization = { system: 'http://example.org/payer-ids', value: 'OTHER-02' };
export const NAIC = { system: 'urn:oid:2.16.840.1.113883.6.300', value: '12345' };
export const HREX_POLICY = 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html';
const MB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MB' }] };

export interface Member {
  id: string;
  family: string;
  given: string;
  birthDate: string;
  gender: string;
  memberId: string;
  subscriberId: string;
}

/** Registers a client under a policy and returns a real access token for it. */
export async function partnerToken(pool: pg.Pool, origin: string, tenant: string, policy: PolicyKind, organization?: Organization, scope = 'system/*.rs'): Promise<{ token: string; clientId: string }> {
  return tokenFor(pool, origin, tenant, scope, { policy, organization });
}

async function put(base: string, resource: Json): Promise<void> {
  const r = await http(`${base}/${resource.resourceType}/${resource.id}`, { method: 'PUT', body: resource });
  if (r.status >= 300) throw new Error(`PUT ${resource.resourceType}/${resource.id}: ${r.status} ${r.text}`);
}

/** Writes the payer and the members (each with one coverage) through the API, with the tenant's full-access token. */
export async function writePlan(base: string, members: Member[]): Promise<void> {
  await put(base, { resourceType: 'Organization', id: 'payer', name: 'Old Health Plan', identifier: [NAIC] });
  for (const m of members) {
    await put(base, {
      resourceType: 'Patient',
      id: m.id,
      identifier: [
        { type: MB, system: 'http://example.org/members', value: m.memberId },
        { type: { coding: [{ system: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType', code: 'um' }] }, system: 'http://example.org/unique', value: `U-${m.id}` },
      ],
      name: [{ family: m.family, given: [m.given] }],
      gender: m.gender,
      birthDate: m.birthDate,
    });
    await put(base, {
      resourceType: 'Coverage',
      id: `cov-${m.id}`,
      identifier: [{ type: MB, system: 'http://example.org/members', value: m.memberId }],
      status: 'active',
      subscriberId: m.subscriberId,
      beneficiary: { reference: `Patient/${m.id}` },
      payor: [{ reference: 'Organization/payer' }],
      period: { start: '2020-01-01' },
    });
  }
}

/** An HRex Consent granting `recipient` (the requesting payer) the member's data. */
export function hrexConsent(recipient: Organization = NEW_PAYER, o: { level?: 'regular' | 'sensitive'; start?: string; end?: string } = {}): Json {
  const year = new Date().getUTCFullYear();
  return {
    resourceType: 'Consent',
    id: 'consent-1',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IDSCL' }] }],
    patient: { reference: 'Patient/1' },
    performer: [{ reference: 'Patient/1' }],
    sourceReference: { reference: 'http://example.org/DocumentReference/signed-consent' },
    policy: [{ uri: `${HREX_POLICY}#${o.level ?? 'sensitive'}` }],
    provision: {
      type: 'permit',
      period: { start: o.start ?? `${year - 1}-01-01`, end: o.end ?? `${year + 1}-12-31` },
      actor: [
        { role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'performer' }] }, reference: { identifier: NAIC, display: 'Old Health Plan' } },
        { role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { identifier: recipient, display: 'New Health Plan' } },
      ],
      action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'disclose' }] }],
    },
  };
}

/** The parts of one member, as HRex `$member-match` and a PDex MemberBundle carry them. */
export function memberParts(m: Pick<Member, 'family' | 'given' | 'birthDate' | 'gender'> & { memberId?: string; subscriberId?: string }, consent: Json | null = hrexConsent()): Json[] {
  const parts: Json[] = [
    { name: 'MemberPatient', resource: { resourceType: 'Patient', id: '1', name: [{ family: m.family, given: [m.given] }], gender: m.gender, birthDate: m.birthDate } },
    {
      name: 'CoverageToMatch',
      resource: {
        resourceType: 'Coverage',
        id: '9876B1',
        ...(m.memberId ? { identifier: [{ type: MB, system: 'http://example.org/old-plan-cards', value: m.memberId }] } : {}),
        ...(m.subscriberId ? { subscriberId: m.subscriberId } : {}),
        status: 'active',
        beneficiary: { reference: 'Patient/1' },
        payor: [{ identifier: NAIC, display: 'Old Health Plan' }],
      },
    },
    {
      name: 'CoverageToLink',
      resource: {
        resourceType: 'Coverage',
        id: 'new-cov',
        identifier: [{ type: MB, system: 'http://example.org/new-plan', value: 'NEW-555' }],
        status: 'active',
        beneficiary: { reference: 'Patient/1' },
        payor: [{ identifier: NEW_PAYER, display: 'New Health Plan' }],
      },
    },
  ];
  if (consent) parts.push({ name: 'Consent', resource: consent });
  return parts;
}

export function memberMatchRequest(m: Parameters<typeof memberParts>[0], consent: Json | null = hrexConsent()): Json {
  return { resourceType: 'Parameters', parameter: memberParts(m, consent) };
}
