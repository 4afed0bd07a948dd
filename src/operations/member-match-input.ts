/**
 * The input of HRex `$member-match` (`hrex-parameters-member-match-in`) and of each PDex
 * `$bulk-member-match` MemberBundle: MemberPatient, CoverageToMatch, CoverageToLink, Consent,
 * each validated as its resource type, plus what the deterministic match needs (a family
 * name, a birth date, and a member or subscriber id on the coverage) and the HRex rule that
 * the coverages and the consent point at the MemberPatient by a local reference.
 */
import { InvalidError } from '../errors.js';
import type { Resource } from '../fhir/validation.js';
import { one, readParameters, type ParameterValues, type ParametersSpec } from './parameters.js';

type Json = Record<string, any>;

export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

export interface MemberMatchInput {
  patient: Resource;
  coverageToMatch: Resource;
  coverageToLink?: Resource;
  consent?: Resource;
}

/** The parts of one member: the same four names in `$member-match` and a MemberBundle. */
export function memberSpec(consentMin: 0 | 1): ParametersSpec {
  return {
    MemberPatient: { min: 1, max: 1, resource: 'Patient' },
    CoverageToMatch: { min: 1, max: 1, resource: 'Coverage' },
    CoverageToLink: { min: 0, max: 1, resource: 'Coverage' },
    Consent: { min: consentMin, max: 1, resource: 'Consent' },
  };
}

/** The member identifiers (v2-0203 `MB`) a coverage carries. */
export function memberIds(coverage: Json): string[] {
  const out: string[] = [];
  for (const id of (coverage.identifier ?? []) as Json[]) {
    const mb = ((id.type?.coding ?? []) as Json[]).some((c) => c.code === 'MB' && (c.system === undefined || c.system === V2_0203));
    if (mb && typeof id.value === 'string' && id.value.trim()) out.push(id.value.trim());
  }
  return out;
}

function requireLocal(ref: Json | undefined, patientId: string | undefined, at: string, what: string): void {
  const reference = ref?.reference;
  if (reference === undefined) return;
  if (!patientId || reference !== `Patient/${patientId}`) {
    throw new InvalidError(`${at}: ${what} must be the local reference Patient/${patientId ?? '<MemberPatient.id>'} to the MemberPatient`, [at], 'value');
  }
}

/** Checks one member's parts (each knows its path in the request) and returns them. */
export function memberInput(values: ParameterValues): MemberMatchInput {
  const patient = one(values, 'MemberPatient')!.resource!;
  const coverageToMatch = one(values, 'CoverageToMatch')!.resource!;
  const coverageToLink = one(values, 'CoverageToLink')?.resource;
  const consent = one(values, 'Consent')?.resource;
  const p = patient as Json;
  const at = (name: string) => one(values, name)!.path;
  if (typeof p.birthDate !== 'string') throw new InvalidError(`${at('MemberPatient')}.resource: birthDate is required for matching`, [`${at('MemberPatient')}.resource.birthDate`], 'required');
  if (!((p.name ?? []) as Json[]).some((n) => typeof n.family === 'string' && n.family.trim())) {
    throw new InvalidError(`${at('MemberPatient')}.resource: a name with a family name is required for matching`, [`${at('MemberPatient')}.resource.name`], 'required');
  }
  const c = coverageToMatch as Json;
  if (!memberIds(c).length && !(typeof c.subscriberId === 'string' && c.subscriberId.trim())) {
    throw new InvalidError(
      `${at('CoverageToMatch')}.resource: a member identifier (identifier with type ${V2_0203}|MB) or a subscriberId is required for a deterministic match`,
      [`${at('CoverageToMatch')}.resource.identifier`],
      'required',
    );
  }
  requireLocal(c.beneficiary, patient.id, `${at('CoverageToMatch')}.resource.beneficiary`, 'CoverageToMatch.beneficiary');
  if (coverageToLink) requireLocal((coverageToLink as Json).beneficiary, patient.id, `${at('CoverageToLink')}.resource.beneficiary`, 'CoverageToLink.beneficiary');
  if (consent) requireLocal((consent as Json).patient, patient.id, `${at('Consent')}.resource.patient`, 'Consent.patient');
  return { patient, coverageToMatch, coverageToLink, consent };
}

/** The body of `POST Patient/$member-match`. */
export function memberMatchInput(body: unknown): MemberMatchInput {
  return memberInput(readParameters(body, memberSpec(0)));
}
