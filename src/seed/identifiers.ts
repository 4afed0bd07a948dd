/**
 * Identifiers the population carries: resource ids (readable, derived from positions in the
 * generated set, so the same seed and size always give the same ids), NPIs with a valid check
 * digit, a NAIC company code, and member ids that are never shaped like a Social Security number.
 */

/** Luhn check digit for a digit string (the digit that would be appended to it). */
export function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

/**
 * A 10-digit NPI from a 9-digit base: per the NPI standard the check digit is the Luhn digit of
 * the base prefixed with 80840 (the ISO 7812 issuer prefix for US health applications).
 */
export function npiFromBase(base9: number): string {
  const base = String(base9).padStart(9, '0');
  if (base.length !== 9 || (base[0] !== '1' && base[0] !== '2')) throw new Error(`NPI base must be 9 digits starting with 1 or 2, got ${base}`);
  return base + luhnCheckDigit(`80840${base}`);
}

export function isValidNpi(npi: string): boolean {
  return /^[12]\d{9}$/.test(npi) && luhnCheckDigit(`80840${npi.slice(0, 9)}`) === Number(npi[9]);
}

/**
 * The i-th NPI of a kind (1: individuals, 2: organisations) for a seed offset. A stride coprime
 * with 10^8 walks the whole space without repeats, so NPIs stay unique and look unordered.
 */
export function npi(kind: 1 | 2, offset: number, i: number): string {
  const body = (offset + i * 7_919_041) % 100_000_000;
  return npiFromBase(kind * 100_000_000 + body);
}

export function pad(n: number, width = 6): string {
  return String(n).padStart(width, '0');
}

/** Member number printed on the card: plan prefix, 8 digits, 2-digit person suffix (01 = subscriber). */
export function memberNumber(prefix: string, household: number, person: number): string {
  return `${prefix}${pad(household * 7 + 10_000_000, 8)}${pad(person + 1, 2)}`;
}

/** Subscriber id (the card's family number, shared by the household). */
export function subscriberNumber(prefix: string, household: number): string {
  return `${prefix}${pad(household * 7 + 10_000_000, 8)}`;
}

/** An employer identification number shaped as the IRS writes it (NN-NNNNNNN). */
export function ein(offset: number, i: number): string {
  const n = (offset + i * 104_729) % 10_000_000;
  return `${20 + ((offset + i) % 70)}-${pad(n, 7)}`;
}

/** Identifier systems the payer mints under its own domain. */
export function payerSystems(domain: string) {
  return {
    member: `https://${domain}/fhir/sid/member-id`,
    uniqueMember: `https://${domain}/fhir/sid/unique-member-id`,
    claim: `https://${domain}/fhir/sid/claim-id`,
    coverage: `https://${domain}/fhir/sid/coverage-id`,
    encounter: `https://${domain}/fhir/sid/encounter-id`,
    employerGroup: `https://${domain}/fhir/sid/employer-group`,
    plan: `https://${domain}/fhir/sid/plan-id`,
    document: `https://${domain}/fhir/sid/document-id`,
    priorAuth: `https://${domain}/fhir/sid/prior-auth-id`,
    contract: `https://${domain}/fhir/sid/provider-contract-id`,
  };
}
export type PayerSystems = ReturnType<typeof payerSystems>;
