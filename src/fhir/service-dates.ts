/**
 * "Date of service" per resource type: the date search parameters (indexed in search_date)
 * whose value places a resource in time for the CMS look-back limits — Provider Access sends
 * data with dates of service on or after 2016-01-01, Payer-to-Payer the five years before the
 * request (the limits: src/policy/service-dates.ts). A resource of a listed type counts when
 * any of these dates (a range's end) falls on or after the limit; one with none of them is
 * withheld, since nothing shows it is recent. Types not listed (Patient, Coverage,
 * AllergyIntolerance, RelatedPerson, Consent, Group, Device, Provenance and the directory)
 * describe a current state, not a service, and are not limited by date.
 */
import type { DateRow } from './extract.js';

export const SERVICE_DATE_PARAMS: Readonly<Record<string, readonly string[]>> = {
  Encounter: ['date'], // Encounter.period
  ExplanationOfBenefit: ['service-date'], // billablePeriod | item.serviced[x] (CARIN BB)
  Claim: ['created'],
  ClaimResponse: ['created'],
  Observation: ['date'], // effective[x]
  Condition: ['onset-date', 'recorded-date', 'abatement-date'],
  Procedure: ['date'], // performed[x]
  Immunization: ['date'], // occurrence[x]
  DiagnosticReport: ['date'], // effective[x]
  DocumentReference: ['period', 'date'], // context.period, date
  MedicationRequest: ['authoredon'],
  MedicationDispense: ['whenhandedover', 'whenprepared'],
  MedicationAdministration: ['effective-time'],
  MedicationStatement: ['effective'],
  CarePlan: ['date'], // period
  CareTeam: ['date'], // period
  Goal: ['start-date', 'target-date'],
  ServiceRequest: ['authored', 'occurrence'],
  DeviceRequest: ['authored-on', 'event-date'],
  QuestionnaireResponse: ['authored'],
  Specimen: ['collected'],
  ImagingStudy: ['started'],
  Communication: ['sent'],
  Media: ['created'],
  RiskAssessment: ['date'],
  NutritionOrder: ['datetime'],
  FamilyMemberHistory: ['date'],
  EpisodeOfCare: ['date'],
  Flag: ['date'],
  ClinicalImpression: ['date'],
};

/**
 * What the store keeps in resource.service_date (migration 18): the latest end of a dated
 * type's dates of service, '-infinity' when it has none, null for a type without them. One
 * stored value answers "any date of service on or after the limit" without looking the dates
 * up again for every row a partner is sent.
 */
export function serviceDateOf(type: string, dates: readonly DateRow[]): string | null {
  const params = SERVICE_DATE_PARAMS[type];
  if (!params) return null;
  let latest = '-infinity';
  let latestMs = -Infinity;
  for (const d of dates) {
    if (!params.includes(d.param)) continue;
    if (d.high === 'infinity') return 'infinity';
    const ms = Date.parse(d.high);
    if (ms > latestMs) {
      latestMs = ms;
      latest = d.high;
    }
  }
  return latest;
}
