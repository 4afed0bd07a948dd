/**
 * Deterministic member matching (README "CMS interoperability — operations", Matching rules).
 *
 * 1. Candidate coverages, through the search index: by the member identifiers (v2-0203 `MB`)
 *    of CoverageToMatch (`Coverage?identifier=…`, any system: member cards carry no system
 *    URI; read with their beneficiaries in one statement); with only a subscriberId, the
 *    coverages of the Patients with the MemberPatient's family name and birth date
 *    (`Patient?family=…&birthdate=…`, then `Coverage?beneficiary=…`).
 * 2. A coverage counts when every identifying element the caller gave agrees with it: one of
 *    the MB ids, the subscriberId (exact), and — when CoverageToMatch.payor names identifiers —
 *    one of the identifiers of the coverage's payor Organization.
 * 3. Their beneficiaries must match the MemberPatient: family name equal ignoring case and
 *    accents, birth date equal, the first given name equal or an initial of it (when given),
 *    gender equal (when both have one).
 * Exactly one such Patient is a match; none or several are not (the caller learns neither).
 */
import type pg from 'pg';
import { normalizeString } from '../fhir/extract.js';
import { escapeSearchValue as escapeValue, searchResources as search } from '../search/resources.js';
import { coveragesWithBeneficiaries, type FailureCount } from '../store/member-matches.js';
import { readCurrentMany } from '../store/resources.js';
import { memberIds, V2_0203, type MemberMatchInput } from './member-match-input.js';

type Json = Record<string, any>;

export const HREX_TEMP = 'http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp';
const C4BB_IDENTIFIER_TYPE = 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType';

/** Coverages a member may hold (spans of several years): enough for any one person. */
const COVERAGE_LIMIT = 200;
const PATIENT_LIMIT = 50;

export type MatchResult = { kind: 'one'; patientId: string; memberIdentifier: Json } | { kind: 'none' } | { kind: 'several'; count: number };

function firstFamily(p: Json): string {
  return ((p.name ?? []) as Json[]).find((n) => typeof n.family === 'string' && n.family.trim())!.family as string;
}

function firstGiven(p: Json): string | undefined {
  for (const n of (p.name ?? []) as Json[]) if (Array.isArray(n.given) && typeof n.given[0] === 'string' && n.given[0].trim()) return n.given[0];
  return undefined;
}

/** `J`, `J.` → `j`; a full name stays whole. */
function initialOf(name: string): string | undefined {
  const n = normalizeString(name).replace(/\.$/, '').trim();
  return n.length === 1 ? n : undefined;
}

function givenAgrees(asked: string, stored: string): boolean {
  const a = normalizeString(asked).trim();
  const s = normalizeString(stored).trim();
  if (a === s) return true;
  const ai = initialOf(asked);
  const si = initialOf(stored);
  return (ai !== undefined && ai === s[0]) || (si !== undefined && si === a[0]);
}

/** The stored Patient agrees with the MemberPatient's demographics. */
export function demographicsAgree(asked: Json, stored: Json): boolean {
  if (asked.birthDate !== stored.birthDate) return false;
  const families = new Set(((asked.name ?? []) as Json[]).filter((n) => typeof n.family === 'string').map((n) => normalizeString(n.family).trim()));
  const names = (stored.name ?? []) as Json[];
  if (!names.some((n) => typeof n.family === 'string' && families.has(normalizeString(n.family).trim()))) return false;
  const given = firstGiven(asked);
  if (given && !names.some((n) => Array.isArray(n.given) && typeof n.given[0] === 'string' && givenAgrees(given, n.given[0]))) return false;
  if (asked.gender && stored.gender && asked.gender !== stored.gender) return false;
  return true;
}

function identifierAgrees(asked: Json, held: Json): boolean {
  return typeof asked.value === 'string' && asked.value === held.value && (asked.system === undefined || asked.system === held.system);
}

/** The identifiers of the coverage's payors: on the reference itself and on the Organizations it points to. */
async function payorIdentifiers(db: pg.Pool, tenant: string, coverages: Json[]): Promise<Map<Json, Json[]>> {
  const keys = new Map<string, { type: string; id: string }>();
  for (const c of coverages) {
    for (const p of (c.payor ?? []) as Json[]) {
      const m = /^Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(String(p.reference ?? ''));
      if (m) keys.set(m[1], { type: 'Organization', id: m[1] });
    }
  }
  const orgs = keys.size ? await readCurrentMany(db, tenant, [...keys.values()]) : new Map();
  const out = new Map<Json, Json[]>();
  for (const c of coverages) {
    const ids: Json[] = [];
    for (const p of (c.payor ?? []) as Json[]) {
      if (p.identifier) ids.push(p.identifier);
      const org = orgs.get(`Organization/${String(p.reference ?? '').slice('Organization/'.length)}`);
      if (org?.content && !org.deleted) ids.push(...(((JSON.parse(org.content) as Json).identifier ?? []) as Json[]));
    }
    out.set(c, ids);
  }
  return out;
}

/** The identifier the caller uses for the member from now on: HRex `UMB`, this payer's unique member id. */
function memberIdentifier(p: Json): Json {
  const ids = (p.identifier ?? []) as Json[];
  const typed = (sys: string, code: string) => ids.find((i) => ((i.type?.coding ?? []) as Json[]).some((c) => c.system === sys && c.code === code) && typeof i.value === 'string');
  const chosen = typed(C4BB_IDENTIFIER_TYPE, 'um') ?? typed(V2_0203, 'MB');
  const umb = { type: { coding: [{ system: HREX_TEMP, code: 'UMB', display: 'Member Number' }] } };
  return chosen ? { ...umb, ...(chosen.system ? { system: chosen.system } : {}), value: chosen.value } : { ...umb, value: p.id };
}

/**
 * Finds the one member the input describes, if exactly one. With `count`, also the client's
 * failed matches this hour when the lookup could read them in its own statement (by member
 * id); otherwise `failures` is undefined and the caller reads them itself.
 */
export async function findMember(db: pg.Pool, tenant: string, input: MemberMatchInput, count?: FailureCount): Promise<MatchResult & { failures?: number }> {
  const asked = input.patient as Json;
  const coverage = input.coverageToMatch as Json;
  const mb = memberIds(coverage);
  const subscriberId = typeof coverage.subscriberId === 'string' ? coverage.subscriberId.trim() : undefined;
  const payorIds = ((coverage.payor ?? []) as Json[]).map((p) => p.identifier).filter((i): i is Json => typeof i?.value === 'string');

  let patients = new Map<string, Json>();
  let coverages: Json[];
  let failures: number | undefined;
  if (mb.length) {
    // The coverages and their beneficiaries in one statement (the hot path of $member-match).
    const found = await coveragesWithBeneficiaries(db, tenant, mb, COVERAGE_LIMIT, count);
    const rows = found.rows;
    failures = found.failures;
    coverages = rows.map((r) => JSON.parse(r.coverage) as Json);
    for (const r of rows) {
      if (!r.patient) continue;
      const p = JSON.parse(r.patient) as Json;
      patients.set(p.id as string, p);
    }
  } else {
    const found = await search(db, tenant, 'Patient', [['family', escapeValue(firstFamily(asked))], ['birthdate', `eq${asked.birthDate}`]], PATIENT_LIMIT);
    patients = new Map(found.map((p) => [p.id as string, p]));
    if (!patients.size) return { kind: 'none' };
    coverages = await search(db, tenant, 'Coverage', [['beneficiary', [...patients.keys()].map((id) => `Patient/${id}`).join(',')]], COVERAGE_LIMIT);
  }
  const payors = payorIds.length ? await payorIdentifiers(db, tenant, coverages) : undefined;
  const beneficiaries = new Set<string>();
  for (const c of coverages) {
    if (mb.length && !((c.identifier ?? []) as Json[]).some((i) => mb.includes(i.value))) continue;
    if (subscriberId && c.subscriberId !== subscriberId) continue;
    if (payors && !payorIds.some((asked) => payors.get(c)!.some((held) => identifierAgrees(asked, held)))) continue;
    const m = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(String(c.beneficiary?.reference ?? ''));
    if (m) beneficiaries.add(m[1]);
  }
  if (!beneficiaries.size) return { kind: 'none', failures };
  // By member id, every beneficiary was looked up with its coverage: one not found is absent.
  const missing = mb.length ? [] : [...beneficiaries].filter((id) => !patients.has(id));
  if (missing.length) {
    const read = await readCurrentMany(db, tenant, missing.map((id) => ({ type: 'Patient', id })));
    for (const v of read.values()) if (v.content && !v.deleted) patients.set(v.id, JSON.parse(v.content) as Json);
  }
  const matched = [...beneficiaries].map((id) => patients.get(id)).filter((p): p is Json => !!p && demographicsAgree(asked, p));
  if (matched.length === 0) return { kind: 'none', failures };
  if (matched.length > 1) return { kind: 'several', count: matched.length, failures };
  return { kind: 'one', patientId: matched[0].id, memberIdentifier: memberIdentifier(matched[0]), failures };
}
