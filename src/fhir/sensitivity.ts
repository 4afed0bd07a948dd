/**
 * Sensitive-data security labels: the HL7 v3 ActCode "information sensitivity policy" codes
 * (value set http://terminology.hl7.org/ValueSet/v3-InformationSensitivityPolicy) that mark a
 * resource in `meta.security` as carrying data U.S. federal or state law protects beyond HIPAA.
 * One list for the whole product: the synthetic plan labels its resources from it, and the
 * payer-to-payer policy withholds every resource carrying any of these codes under an HRex
 * `#regular` consent. `icd10` says which diagnoses make a record carry the label.
 */

export const SECURITY_LABEL_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

export interface SensitiveLabel {
  code: string;
  display: string;
  /** Why the category is protected (the law or policy behind it). */
  why: string;
  /** ICD-10-CM code prefixes whose diagnoses carry this label. */
  icd10: readonly string[];
}

const range = (letter: string, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${letter}${String(from + i).padStart(2, '0')}`);

export const SENSITIVE_LABELS: readonly SensitiveLabel[] = [
  { code: 'ETH', display: 'substance abuse information sensitivity', why: 'alcohol and drug abuse treatment records: 42 CFR Part 2 and state law', icd10: range('F', 10, 19) },
  { code: 'SUD', display: 'substance use disorder information sensitivity', why: 'substance use disorder records: 42 CFR Part 2 (as amended in 2024)', icd10: range('F', 10, 19) },
  { code: 'BH', display: 'behavioral health information sensitivity', why: 'mental health and substance use care: state behavioral-health confidentiality laws', icd10: range('F', 10, 48) },
  { code: 'MH', display: 'mental health information sensitivity', why: 'mental health diagnoses and treatment: state mental-health confidentiality laws', icd10: range('F', 20, 48) },
  { code: 'PSY', display: 'psychiatry disorder information sensitivity', why: 'psychotic and bipolar disorders: state mental-health confidentiality laws', icd10: range('F', 20, 31) },
  { code: 'HIV', display: 'HIV/AIDS information sensitivity', why: 'HIV status and treatment: state HIV/AIDS confidentiality laws', icd10: ['B20', 'Z21'] },
  { code: 'STD', display: 'sexually transmitted disease information sensitivity', why: 'sexually transmitted infections: state communicable-disease and minor-consent laws', icd10: range('A', 50, 64) },
  { code: 'SEX', display: 'sexuality and reproductive health information sensitivity', why: 'pregnancy, contraception and reproductive care: state law and the HIPAA reproductive-health privacy rule', icd10: ['O', ...range('Z', 30, 39)] },
  { code: 'GDIS', display: 'genetic disease information sensitivity', why: 'genetic conditions and test results: GINA and state genetic-privacy laws', icd10: ['E84', 'D57', 'E83.11', 'Q'] },
];

/** Just the codes (what a consent rule filters `_security` on). */
export const SENSITIVE_LABEL_CODES: readonly string[] = SENSITIVE_LABELS.map((l) => l.code);

/** The labels an ICD-10-CM diagnosis carries, in SENSITIVE_LABELS order (none for most codes). */
export function labelsForIcd10(code: string): SensitiveLabel[] {
  return SENSITIVE_LABELS.filter((l) => l.icd10.some((prefix) => code.startsWith(prefix)));
}

/** A `meta.security` Coding for a label code. */
export function securityCoding(code: string): { system: string; code: string; display: string } {
  const label = SENSITIVE_LABELS.find((l) => l.code === code);
  if (!label) throw new Error(`not a sensitive-data label: ${code}`);
  return { system: SECURITY_LABEL_SYSTEM, code: label.code, display: label.display };
}
