/** Absolute URLs, always built from PUBLIC_URL, never from the request's Host header. */

export const FHIR_BASE_PATH = '/payer/system-access/v2';

export function fhirBase(publicUrl: string, tenant: string): string {
  return `${publicUrl}${FHIR_BASE_PATH}/${tenant}`;
}

export function tokenUrl(publicUrl: string, tenant: string): string {
  return `${publicUrl}/auth/${tenant}/oauth2/v1/token`;
}
