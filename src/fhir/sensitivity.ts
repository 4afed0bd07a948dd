/**
 * Security labels that mark data U.S. law treats as sensitive (42 CFR Part 2 substance use
 * disorder records, behavioral and mental health, HIV/AIDS and other sexually transmitted
 * infections, reproductive and sexual health, genetic information). They are codes of the HL7
 * v3 ActCode system's InformationSensitivityPolicy concepts, carried in `meta.security`.
 * A Payer-to-Payer consent under the HRex `#regular` policy withholds every resource labelled
 * with one of them; `#sensitive` releases them too.
 */
export const SECURITY_LABEL_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

export const SENSITIVE_LABELS: readonly { code: string; display: string }[] = [
  { code: 'ETH', display: 'substance abuse information sensitivity' },
  { code: 'SUD', display: 'substance use disorder information sensitivity' },
  { code: 'BH', display: 'behavioral health information sensitivity' },
  { code: 'MH', display: 'mental health information sensitivity' },
  { code: 'PSY', display: 'psychiatry disorder information sensitivity' },
  { code: 'HIV', display: 'HIV/AIDS information sensitivity' },
  { code: 'STD', display: 'sexually transmitted disease information sensitivity' },
  { code: 'SEX', display: 'sexuality and reproductive health information sensitivity' },
  { code: 'GDIS', display: 'genetic disease information sensitivity' },
];

export const SENSITIVE_CODES: readonly string[] = SENSITIVE_LABELS.map((l) => l.code);
