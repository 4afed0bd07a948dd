/** Code systems, profile URLs and the small builders every resource module uses. */

export const SYS = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  ndc: 'http://hl7.org/fhir/sid/ndc',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  cpt: 'http://www.ama-assn.org/go/cpt',
  hcpcs: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  cdt: 'http://www.ada.org/cdt',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  ucum: 'http://unitsofmeasure.org',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  naic: 'urn:oid:2.16.840.1.113883.6.300',
  tin: 'urn:oid:2.16.840.1.113883.4.4',
  nucc: 'http://nucc.org/provider-taxonomy',
  omb: 'urn:oid:2.16.840.1.113883.6.238',
  v2_0203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  roleCode: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  nullFlavor: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor',
  participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  obsCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVer: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  allergyClinical: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
  allergyVer: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
  usCoreCategory: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-category',
  usCoreDocCategory: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
  medRequestCategory: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
  subscriberRelationship: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  sopt: 'https://nahdo.org/sopt',
  orgType: 'http://terminology.hl7.org/CodeSystem/organization-type',
  orgRole: 'http://hl7.org/fhir/organization-role',
  dischargeDisposition: 'http://terminology.hl7.org/CodeSystem/discharge-disposition',
  provenanceParticipant: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  claimType: 'http://terminology.hl7.org/CodeSystem/claim-type',
  adjudication: 'http://terminology.hl7.org/CodeSystem/adjudication',
  payeeType: 'http://terminology.hl7.org/CodeSystem/payeetype',
  diagnosisType: 'http://terminology.hl7.org/CodeSystem/ex-diagnosistype',
  c4bbAdjudication: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication',
  c4bbDiscriminator: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator',
  c4bbStatus: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBPayerAdjudicationStatus',
  c4bbSupportingInfo: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType',
  c4bbIdentifierType: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType',
  c4bbSubType: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBInstitutionalClaimSubType',
  c4bbCareTeamRole: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole',
  c4bbDiagnosisType: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimDiagnosisType',
  c4bbSurface: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSurfaceCodes',
  placeOfService: 'https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set',
  revenue: 'https://www.nubc.org/CodeSystem/RevenueCodes',
  typeOfBill: 'https://www.nubc.org/CodeSystem/TypeOfBill',
  pointOfOrigin: 'https://www.nubc.org/CodeSystem/PointOfOrigin',
  admissionType: 'https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit',
  patDischarge: 'https://www.nubc.org/CodeSystem/PatDischargeStatus',
  msDrg: 'https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/MS-DRG-Classifications-and-Software',
  presentOnAdmission: 'https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/HospitalAcqCond/Coding',
  daw: 'http://terminology.hl7.org/CodeSystem/NCPDPDispensedAsWrittenOrProductSelectionCode',
  brandGeneric: 'http://terminology.hl7.org/CodeSystem/NCPDPBrandGenericIndicator',
  rxOrigin: 'http://terminology.hl7.org/CodeSystem/NCPDPPrescriptionOriginCode',
  carc: 'https://x12.org/codes/claim-adjustment-reason-codes',
  tooth: 'http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem',
  formatCode: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode',
  insurancePlanType: 'http://terminology.hl7.org/CodeSystem/insurance-plan-type',
  groupCharacteristic: 'http://hl7.org/fhir/us/davinci-atr/CodeSystem/atr-characteristic',
  pdexMemberAttribution: 'http://hl7.org/fhir/us/davinci-pdex/CodeSystem/PdexMemberAttributionCS',
  pdexConsentPurpose: 'http://hl7.org/fhir/us/davinci-pdex/CodeSystem/pdex-consent-api-purpose',
  pdexAdjudicationDiscriminator: 'http://hl7.org/fhir/us/davinci-pdex/CodeSystem/PDexAdjudicationDiscriminator',
  x12ReviewAction: 'https://codesystem.x12.org/005010/306',
  x12ServiceType: 'https://x12.org/codes/service-type-codes',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  consentAction: 'http://terminology.hl7.org/CodeSystem/consentaction',
  consentPolicy: 'http://terminology.hl7.org/CodeSystem/consentpolicycodes',
} as const;

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
const ATR = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/';
const PDEX = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/';
const PAS = 'http://hl7.org/fhir/us/davinci-pas/StructureDefinition/';

/** Profile canonicals, versioned as the server claims them (US Core 6.1.0, CARIN BB 2.1.0). */
export const PROFILE = {
  patient: [`${US_CORE}us-core-patient|6.1.0`, `${C4BB}C4BB-Patient|2.1.0`],
  organization: [`${US_CORE}us-core-organization|6.1.0`],
  c4bbOrganization: [`${US_CORE}us-core-organization|6.1.0`, `${C4BB}C4BB-Organization|2.1.0`],
  practitioner: [`${US_CORE}us-core-practitioner|6.1.0`, `${C4BB}C4BB-Practitioner|2.1.0`],
  practitionerRole: [`${US_CORE}us-core-practitionerrole|6.1.0`],
  location: [`${US_CORE}us-core-location|6.1.0`],
  relatedPerson: [`${US_CORE}us-core-relatedperson|6.1.0`],
  coverage: [`${US_CORE}us-core-coverage|6.1.0`, `${C4BB}C4BB-Coverage|2.1.0`],
  encounter: [`${US_CORE}us-core-encounter|6.1.0`],
  conditionProblem: [`${US_CORE}us-core-condition-problems-health-concerns|6.1.0`],
  conditionEncounter: [`${US_CORE}us-core-condition-encounter-diagnosis|6.1.0`],
  lab: [`${US_CORE}us-core-observation-lab|6.1.0`],
  screening: [`${US_CORE}us-core-observation-screening-assessment|6.1.0`],
  smoking: [`${US_CORE}us-core-smokingstatus|6.1.0`],
  bloodPressure: [`${US_CORE}us-core-blood-pressure|6.1.0`],
  bodyWeight: [`${US_CORE}us-core-body-weight|6.1.0`],
  bodyHeight: [`${US_CORE}us-core-body-height|6.1.0`],
  bmi: [`${US_CORE}us-core-bmi|6.1.0`],
  heartRate: [`${US_CORE}us-core-heart-rate|6.1.0`],
  respiratoryRate: [`${US_CORE}us-core-respiratory-rate|6.1.0`],
  temperature: [`${US_CORE}us-core-body-temperature|6.1.0`],
  pulseOximetry: [`${US_CORE}us-core-pulse-oximetry|6.1.0`],
  medicationRequest: [`${US_CORE}us-core-medicationrequest|6.1.0`],
  medicationDispense: [`${US_CORE}us-core-medicationdispense|6.1.0`],
  procedure: [`${US_CORE}us-core-procedure|6.1.0`],
  immunization: [`${US_CORE}us-core-immunization|6.1.0`],
  allergy: [`${US_CORE}us-core-allergyintolerance|6.1.0`],
  carePlan: [`${US_CORE}us-core-careplan|6.1.0`],
  careTeam: [`${US_CORE}us-core-careteam|6.1.0`],
  goal: [`${US_CORE}us-core-goal|6.1.0`],
  documentReference: [`${US_CORE}us-core-documentreference|6.1.0`],
  provenance: [`${US_CORE}us-core-provenance|6.1.0`],
  eobInpatient: [`${C4BB}C4BB-ExplanationOfBenefit-Inpatient-Institutional|2.1.0`],
  eobOutpatient: [`${C4BB}C4BB-ExplanationOfBenefit-Outpatient-Institutional|2.1.0`],
  eobProfessional: [`${C4BB}C4BB-ExplanationOfBenefit-Professional-NonClinician|2.1.0`],
  eobPharmacy: [`${C4BB}C4BB-ExplanationOfBenefit-Pharmacy|2.1.0`],
  eobOral: [`${C4BB}C4BB-ExplanationOfBenefit-Oral|2.1.0`],
  atrGroup: [`${ATR}atr-group`],
  pdexProviderGroup: [`${ATR}atr-group`, `${PDEX}pdex-provider-group`],
  pdexPriorAuth: [`${PDEX}pdex-priorauthorization`],
  pdexProviderConsent: [`${PDEX}pdex-provider-consent`],
  hrexConsent: ['http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-consent'],
} as const;

/** PDex 2.1.0 extensions (and the PAS ones its prior-authorization profile uses). */
export const PDEX_EXT = {
  membersOptedOut: `${PDEX}base-ext-members-opted-out`,
  reviewAction: `${PDEX}extension-reviewAction`,
  reviewActionCode: `${PDEX}extension-reviewActionCode`,
  whenAdjudicated: `${PDEX}base-ext-when-adjudicated`,
  levelOfService: `${PDEX}extension-levelOfServiceCode`,
  itemPreAuthIssueDate: `${PAS}extension-itemPreAuthIssueDate`,
  itemPreAuthPeriod: `${PAS}extension-itemPreAuthPeriod`,
} as const;

/** HRex Consent policies: everything except sensitive data, or everything. */
export const HREX_POLICY = {
  regular: 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular',
  sensitive: 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#sensitive',
} as const;

export const ATR_EXT = {
  listStatus: `${ATR}ext-attributionListStatus`,
  contractPeriod: `${ATR}ext-contractValidityPeriod`,
  changeType: `${ATR}ext-changeType`,
  coverageReference: `${ATR}ext-coverageReference`,
  attributedProvider: `${ATR}ext-attributedProvider`,
} as const;

export const US_CORE_EXT = {
  race: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
  ethnicity: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
  birthSex: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex',
} as const;

export type Json = Record<string, unknown>;
// Type aliases rather than interfaces, so they fit the index-signature Json type too.
export type Coding = {
  system: string;
  code: string;
  display?: string;
};
export type CodeableConcept = {
  coding: Coding[];
  text?: string;
};

export function coding(system: string, code: string, display?: string): Coding {
  return display === undefined ? { system, code } : { system, code, display };
}

/** A one-coding CodeableConcept; `text` only when given (claims are large enough without it). */
export function concept(system: string, code: string, display?: string, text?: string): CodeableConcept {
  const c: CodeableConcept = { coding: [coding(system, code, display)] };
  if (text) c.text = text;
  return c;
}

export function ref(type: string, id: string, display?: string): { reference: string; display?: string } {
  return display === undefined ? { reference: `${type}/${id}` } : { reference: `${type}/${id}`, display };
}

export function money(value: number): { value: number; currency: 'USD' } {
  return { value: Math.round(value * 100) / 100, currency: 'USD' };
}

/** XHTML narrative for resources whose text is must-support (CarePlan) or helpful to readers. */
export function narrative(text: string): { status: 'generated'; div: string } {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escaped}</div>` };
}
