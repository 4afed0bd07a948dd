/**
 * The CMS look-back limits on dates of service (which dates count per type:
 * src/fhir/service-dates.ts; the condition: src/policy/conditions.ts).
 */
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
