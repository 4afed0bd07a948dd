/**
 * SMART discovery, `BASE/.well-known/smart-configuration` (TOK-01…TOK-12): what this
 * authorization server really supports — backend services only, so no authorization
 * endpoint and no grants beyond client_credentials (P1: we do not advertise what we lack).
 */
import { ASSERTION_ALGORITHMS } from './client-assertion.js';

export const SCOPES_SUPPORTED = ['system/*.read', 'system/*.rs', 'system/*.r', 'system/*.s', 'system/*.write', 'system/*.cud', 'system/*.cruds', 'system/*.*'];

export function smartConfiguration(tokenEndpoint: string): Record<string, unknown> {
  return {
    token_endpoint: tokenEndpoint,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    scopes_supported: SCOPES_SUPPORTED,
    capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v1', 'permission-v2'],
    // Required by SMART 2.2.0's discovery table even for servers without App Launch (TOK-10).
    code_challenge_methods_supported: ['S256'],
  };
}

/** CapabilityStatement.rest.security for a SMART server (with the oauth-uris extension). */
export function restSecurity(tokenEndpoint: string): Record<string, unknown> {
  return {
    cors: true,
    service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }], text: 'SMART Backend Services (OAuth 2.0 client credentials)' }],
    extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: tokenEndpoint }] }],
    description: 'Backend systems authenticate with a private-key JWT (RS384/ES384) or a client secret and receive system/ scopes.',
  };
}
