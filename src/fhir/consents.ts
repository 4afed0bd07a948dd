/**
 * The Consent shapes of the CMS flows (payer-domain.md §7), as the payer writes them — by the
 * API, `$member-match`, or `payer-fhir consent …` — and as src/fhir/partner-index.ts reads them:
 * - PDex Provider Access opt-out (`pdex-provider-consent`): `provision.type = deny` from a
 *   start date, open-ended; a later `permit` withdraws it (opt back in);
 * - HRex payer-to-payer opt-in (`hrex-consent`): `permit`, a period, one HRex policy uri
 *   (`#regular` or `#sensitive`), and the receiving payer as an IRCP actor by identifier.
 * Each carries the PDex Consent API purpose (`provider-access` / `payer-to-payer`) as a category.
 */
import { CONSENT_PURPOSE_SYSTEM, HREX_CONSENT_POLICY } from './partner-index.js';
import type { Resource } from './validation.js';

export const PDEX_PROVIDER_CONSENT = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-provider-consent';
export const HREX_CONSENT = 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-consent';
export const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const V3_ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const V3_PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const PROVENANCE_PARTICIPANT = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
export const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';

export type ConsentPurpose = 'provider-access' | 'payer-to-payer';
export type ConsentLevel = 'regular' | 'sensitive';

type Json = Record<string, any>;

/** The category coding naming the API a Consent governs. */
export function purposeCategory(purpose: ConsentPurpose): Json {
  return { coding: [{ system: CONSENT_PURPOSE_SYSTEM, code: purpose }] };
}

/** Whether a Consent already carries the purpose category. */
export function hasPurpose(c: Json, purpose: ConsentPurpose): boolean {
  return ((c.category ?? []) as Json[]).some((cat) => ((cat.coding ?? []) as Json[]).some((x) => x.system === CONSENT_PURPOSE_SYSTEM && x.code === purpose));
}

export function policyUri(level: ConsentLevel): string {
  return `${HREX_CONSENT_POLICY}#${level}`;
}

/**
 * A Provider Access choice: `deny` opts the member out from `start` on, `permit` withdraws an
 * earlier opt-out from `start` on (the partner index lets the later one win).
 */
export function providerAccessConsent(patientId: string, decision: 'deny' | 'permit', start: string, recordedAt: Date): Resource {
  return {
    resourceType: 'Consent',
    meta: { profile: [PDEX_PROVIDER_CONSENT] },
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE, code: 'patient-privacy' }] },
    category: [purposeCategory('provider-access'), { coding: [{ system: V3_ACT_CODE, code: 'IDSCL' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: recordedAt.toISOString(),
    performer: [{ reference: `Patient/${patientId}` }],
    policyRule: { coding: [{ system: V3_ACT_CODE, code: decision === 'deny' ? 'OPTOUT' : 'OPTIN' }] },
    provision: { type: decision, period: { start } },
  };
}

/** An HRex payer-to-payer opt-in naming the receiving payer, at the level its policy grants. */
export function payerToPayerConsent(patientId: string, recipient: { system: string; value: string }, level: ConsentLevel, start: string, end: string, recordedAt: Date): Resource {
  return {
    resourceType: 'Consent',
    meta: { profile: [HREX_CONSENT] },
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: V3_ACT_CODE, code: 'IDSCL' }] }, purposeCategory('payer-to-payer')],
    patient: { reference: `Patient/${patientId}` },
    dateTime: recordedAt.toISOString(),
    performer: [{ reference: `Patient/${patientId}` }],
    policy: [{ uri: policyUri(level) }],
    provision: {
      type: 'permit',
      period: { start, end },
      actor: [{ role: { coding: [{ system: V3_PARTICIPATION, code: 'IRCP' }] }, reference: { identifier: { system: recipient.system, value: recipient.value } } }],
      action: [{ coding: [{ system: CONSENT_ACTION, code: 'disclose' }] }],
    },
  };
}
