/**
 * What partner access policies need to know of a stored Group or Consent, as rows written
 * with its search index (src/store/search-index.ts) and replaced whenever it is rewritten.
 *
 * - An attribution list (Da Vinci ATR `atr-group`, PDex `pdex-provider-group`) belongs to
 *   the provider organisation named by its NPI and TIN identifiers; it is usable unless it is
 *   a `draft` or inactive, within its contract validity period. Each Patient member counts
 *   during its `period` and while not `inactive`.
 * - A member-match Group (PDex `pdex-member-match-group`) belongs to the requesting payer
 *   named by its `match` characteristic.
 * - An active Consent with a PDex API purpose (`provider-access`, `payer-to-payer`, or an
 *   HRex consent policy) becomes a rule: an opt-out (`deny`) or an opt-in (`permit`) for its
 *   recipient organisation, during `provision.period`. A Consent in any other status makes
 *   no rule, so revoking one (status `inactive` or `rejected`, or deleting it) stops it at once.
 */
import type { Resource } from './validation.js';

export const ATR_PROFILE = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/atr-group';
export const PDEX_PROVIDER_GROUP = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-provider-group';
export const PDEX_MATCH_GROUP = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-member-match-group';
export const ATR_LIST_STATUS = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributionListStatus';
export const ATR_CONTRACT_PERIOD = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-contractValidityPeriod';
export const CONSENT_PURPOSE_SYSTEM = 'http://hl7.org/fhir/us/davinci-pdex/CodeSystem/pdex-consent-api-purpose';
export const HREX_CONSENT_POLICY = 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html';
/** Identifier systems that name a provider organisation on an attribution list. */
export const NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';
export const TIN_SYSTEM = 'urn:oid:2.16.840.1.113883.4.4';

export interface PartnerGroupRow {
  kind: 'attribution' | 'match';
  orgSystem: string;
  orgValue: string;
  usable: boolean;
  low: string | null;
  high: string | null;
}

export interface GroupMemberRow {
  patientId: string;
  low: string | null;
  high: string | null;
}

export interface ConsentRuleRow {
  patientId: string;
  purpose: 'provider-access' | 'payer-to-payer';
  decision: 'permit' | 'deny';
  recipientSystem: string | null;
  recipientValue: string | null;
  level: 'regular' | 'sensitive' | null;
  low: string | null;
  high: string | null;
}

export interface PartnerRows {
  groups: PartnerGroupRow[];
  members: GroupMemberRow[];
  consents: ConsentRuleRow[];
}

type Json = Record<string, any>;

const EMPTY: PartnerRows = { groups: [], members: [], consents: [] };

/** `Patient/123` (relative or absolute) → `123`; anything else → undefined. */
export function patientIdOf(reference: unknown): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m?.[1];
}

function profiles(r: Json): string[] {
  return ((r.meta?.profile ?? []) as string[]).map((p) => p.split('|')[0]);
}

function extension(r: Json, url: string): Json | undefined {
  return (r.extension as Json[] | undefined)?.find((e) => e.url === url);
}

/** A FHIR date or dateTime as an instant: a period's start at its first, its end past its last moment. */
function bound(value: unknown, end: boolean): string | null {
  if (typeof value !== 'string' || !value) return null;
  if (/^\d{4}$/.test(value)) return end ? `${Number(value) + 1}-01-01T00:00:00Z` : `${value}-01-01T00:00:00Z`;
  if (/^\d{4}-\d{2}$/.test(value)) {
    const [y, m] = value.split('-').map(Number);
    return end ? new Date(Date.UTC(y, m, 1)).toISOString() : `${value}-01T00:00:00Z`;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    if (!end) return `${value}T00:00:00Z`;
    const d = new Date(`${value}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString();
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function period(p: Json | undefined): { low: string | null; high: string | null } {
  return { low: bound(p?.start, false), high: bound(p?.end, true) };
}

function groupRows(g: Json): PartnerRows {
  const prof = profiles(g);
  const attribution = prof.includes(ATR_PROFILE) || prof.includes(PDEX_PROVIDER_GROUP);
  const match = prof.includes(PDEX_MATCH_GROUP);
  if (!attribution && !match) return EMPTY;
  const status = extension(g, ATR_LIST_STATUS)?.valueCode as string | undefined;
  const usable = g.active !== false && status !== 'draft';
  const validity = period(extension(g, ATR_CONTRACT_PERIOD)?.valuePeriod);
  const owners: { system: string; value: string }[] = [];
  if (attribution) {
    for (const id of (g.identifier ?? []) as Json[]) {
      if ((id.system === NPI_SYSTEM || id.system === TIN_SYSTEM) && typeof id.value === 'string') owners.push({ system: id.system, value: id.value });
    }
  } else {
    for (const c of (g.characteristic ?? []) as Json[]) {
      const code = (c.code?.coding ?? []) as Json[];
      const ident = c.valueReference?.identifier as Json | undefined;
      if (code.some((x) => x.code === 'match') && typeof ident?.system === 'string' && typeof ident?.value === 'string') owners.push({ system: ident.system, value: ident.value });
    }
  }
  if (!owners.length) return EMPTY;
  const groups = owners.map((o): PartnerGroupRow => ({ kind: attribution ? 'attribution' : 'match', orgSystem: o.system, orgValue: o.value, usable, ...validity }));
  const members: GroupMemberRow[] = [];
  for (const m of (g.member ?? []) as Json[]) {
    const patientId = patientIdOf(m.entity?.reference);
    if (!patientId || m.inactive === true) continue;
    members.push({ patientId, ...period(m.period) });
  }
  return { groups, members, consents: [] };
}

/** The API a Consent governs: its PDex purpose code, or an HRex consent policy (payer-to-payer). */
function purposeOf(c: Json): ConsentRuleRow['purpose'] | undefined {
  for (const cat of (c.category ?? []) as Json[]) {
    for (const coding of (cat.coding ?? []) as Json[]) {
      if (coding.system === CONSENT_PURPOSE_SYSTEM && (coding.code === 'provider-access' || coding.code === 'payer-to-payer')) return coding.code;
    }
  }
  if (levelOf(c)) return 'payer-to-payer';
  return undefined;
}

function levelOf(c: Json): ConsentRuleRow['level'] {
  for (const p of (c.policy ?? []) as Json[]) {
    if (p.uri === `${HREX_CONSENT_POLICY}#regular`) return 'regular';
    if (p.uri === `${HREX_CONSENT_POLICY}#sensitive`) return 'sensitive';
  }
  return null;
}

/** The organisations a permit names as recipients (role IRCP), by identifier. */
function recipients(c: Json): { system: string; value: string }[] {
  const out: { system: string; value: string }[] = [];
  for (const a of (c.provision?.actor ?? []) as Json[]) {
    const roles = ((a.role?.coding ?? []) as Json[]).map((x) => x.code);
    const ident = a.reference?.identifier as Json | undefined;
    if (roles.includes('IRCP') && typeof ident?.system === 'string' && typeof ident?.value === 'string') out.push({ system: ident.system, value: ident.value });
  }
  return out;
}

function consentRows(c: Json): PartnerRows {
  if (c.status !== 'active') return EMPTY;
  const patientId = patientIdOf(c.patient?.reference);
  const purpose = purposeOf(c);
  const decision = c.provision?.type;
  if (!patientId || !purpose || (decision !== 'permit' && decision !== 'deny')) return EMPTY;
  const when = period(c.provision?.period);
  if (purpose === 'provider-access') {
    return { ...EMPTY, consents: [{ patientId, purpose, decision, recipientSystem: null, recipientValue: null, level: null, ...when }] };
  }
  // A payer-to-payer permit counts only for the organisations it names, at the level its policy grants.
  const level = levelOf(c) ?? 'regular';
  const consents = recipients(c).map((r): ConsentRuleRow => ({ patientId, purpose, decision, recipientSystem: r.system, recipientValue: r.value, level, ...when }));
  return { ...EMPTY, consents };
}

/** The partner-access rows of one resource (none for types other than Group and Consent). */
export function partnerRows(resource: Resource): PartnerRows {
  const r = resource as Json;
  if (r.resourceType === 'Group') return groupRows(r);
  if (r.resourceType === 'Consent') return consentRows(r);
  return EMPTY;
}
