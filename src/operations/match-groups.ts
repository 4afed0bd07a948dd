/**
 * The Groups a `$bulk-member-match` answers with (PDex 2.1.0):
 * - MatchedMembers, `pdex-member-match-group`: stored, so the requesting payer can read and
 *   export it. Its `match` characteristic names the payer by identifier — exactly what
 *   src/fhir/partner-index.ts reads to make the Group the client's own — and each member points
 *   at the matched Patient, with the submitted demographics contained (`matchedMember`).
 * - NonMatchedMembers and ConsentConstrainedMembers, `pdex-member-no-match-group`: returned
 *   only, each member a contained copy of the submitted Patient.
 */
import { PDEX_MATCH_GROUP } from '../fhir/partner-index.js';
import type { Resource } from '../fhir/validation.js';

export const PDEX_NO_MATCH_GROUP = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-member-no-match-group';
export const MATCH_RESULT_SYSTEM = 'http://hl7.org/fhir/us/davinci-pdex/CodeSystem/PdexMultiMemberMatchResultCS';
export const MATCH_PARAMETERS_EXT = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/base-ext-match-parameters';

type Json = Record<string, any>;

const RESULT_DISPLAY = { match: 'Matched', nomatch: 'Not Matched', consentconstraint: 'Consent Constraint' } as const;
type ResultCode = keyof typeof RESULT_DISPLAY;

function resultCode(code: ResultCode): Json {
  return { coding: [{ system: MATCH_RESULT_SYSTEM, code, display: RESULT_DISPLAY[code] }] };
}

/** Contained copies of the submitted Patients, their ids kept where unique within the Group. */
function contain(patients: Resource[]): { contained: Json[]; refs: string[] } {
  const used = new Set<string>();
  const contained: Json[] = [];
  const refs: string[] = [];
  patients.forEach((p, i) => {
    let id = typeof p.id === 'string' ? p.id : `member-${i + 1}`;
    if (used.has(id)) id = `${id}-${i + 1}`;
    used.add(id);
    const { meta: _meta, ...rest } = p as Json;
    contained.push({ ...rest, id });
    refs.push(`#${id}`);
  });
  return { contained, refs };
}

export interface MatchedMember {
  patientId: string;
  submitted: Resource;
}

/** The stored MatchedMembers Group; `organization` is whom the requesting client acts for. */
export function matchedMembersGroup(members: MatchedMember[], organization: { system: string; value: string } | null, now: Date): Resource {
  // A member sent twice counts once (its first submission is the one contained).
  const first = new Map<string, MatchedMember>();
  for (const m of members) if (!first.has(m.patientId)) first.set(m.patientId, m);
  const byPatient = [...first.values()];
  const { contained, refs } = contain(byPatient.map((m) => m.submitted));
  const group: Json = {
    resourceType: 'Group',
    meta: { profile: [PDEX_MATCH_GROUP] },
    ...(contained.length ? { contained } : {}),
    active: true,
    type: 'person',
    actual: true,
    code: resultCode('match'),
    name: 'Matched members',
    characteristic: [{
      code: resultCode('match'),
      valueReference: organization ? { identifier: { system: organization.system, value: organization.value } } : { display: 'requesting system' },
      exclude: false,
      period: { start: now.toISOString() },
    }],
    quantity: byPatient.length,
  };
  if (byPatient.length) {
    group.member = byPatient.map((m, i) => ({
      entity: { reference: `Patient/${m.patientId}`, extension: [{ url: MATCH_PARAMETERS_EXT, valueReference: { reference: refs[i] } }] },
    }));
  }
  return group as Resource;
}

/** A NonMatchedMembers or ConsentConstrainedMembers Group (not stored), or undefined when empty. */
export function unmatchedGroup(code: 'nomatch' | 'consentconstraint', submitted: Resource[]): Resource | undefined {
  if (!submitted.length) return undefined;
  const { contained, refs } = contain(submitted);
  return {
    resourceType: 'Group',
    meta: { profile: [PDEX_NO_MATCH_GROUP] },
    contained,
    type: 'person',
    actual: true,
    code: resultCode(code),
    name: code === 'nomatch' ? 'Members not matched' : 'Members whose consent cannot be honoured',
    quantity: submitted.length,
    member: refs.map((ref) => ({ entity: { reference: ref, extension: [{ url: MATCH_PARAMETERS_EXT, valueReference: { reference: ref } }] } })),
  };
}
