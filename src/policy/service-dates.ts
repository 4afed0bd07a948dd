/**
 * "Date of service" per resource type: the date search parameters (indexed in search_date)
 * whose value places a resource in time for the CMS look-back limits — Provider Access sends
 * data with dates of service on or after 2016-01-01, Payer-to-Payer the five years before the
 * request. A resource of a listed type counts when any of these dates (a range's end) falls
 * on or after the limit; one with none of them is withheld, since nothing shows it is recent.
 * Types not listed (Patient, Coverage, AllergyIntolerance, RelatedPerson, Consent, Group,
 * Device, Provenance and the directory) describe a current state, not a service, and are
 * not limited by date.
 */
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

/** Provider Access: dates of service on or after 1 January 2016 (42 CFR 422.121(a)). */
export const PROVIDER_ACCESS_FLOOR = new Date('2016-01-01T00:00:00Z');
/** Payer-to-Payer: dates of service within the five years before the request (42 CFR 422.121(b)). */
export const PAYER_TO_PAYER_YEARS = 5;
/** Payer-to-Payer: prior authorizations that are active or changed status within the last year (PDex). */
export const PRIOR_AUTH_CHANGE_YEARS = 1;

export function yearsBefore(now: Date, years: number): Date {
  const d = new Date(now);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d;
}
