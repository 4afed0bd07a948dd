/**
 * A tenant's Postman collection and environment (Postman format v2.1): the token request by
 * client credentials with a signed assertion (a pre-request script signs it with the partner's
 * private JWK, held in the environment as a secret), read and search examples, and the bulk
 * export sequence — kick-off, poll the status URL, download a file — each request storing what
 * the next one needs.
 */
import crypto from 'node:crypto';
import { fhirBase, tokenUrl } from '../http/urls.js';

export const COLLECTION_SCHEMA = 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json';

type Item = Record<string, unknown>;

function request(name: string, method: string, url: string, o: { headers?: [string, string][]; description: string; test?: string[]; prerequest?: string[]; body?: Record<string, unknown>; noauth?: boolean }): Item {
  const events = [
    ...(o.prerequest ? [{ listen: 'prerequest', script: { type: 'text/javascript', exec: o.prerequest } }] : []),
    ...(o.test ? [{ listen: 'test', script: { type: 'text/javascript', exec: o.test } }] : []),
  ];
  return {
    name,
    ...(events.length ? { event: events } : {}),
    request: {
      method,
      ...(o.noauth ? { auth: { type: 'noauth' } } : {}),
      header: (o.headers ?? []).map(([key, value]) => ({ key, value })),
      ...(o.body ? { body: o.body } : {}),
      url: { raw: url, host: [url.split('/')[0]], path: url.split('?')[0].split('/').slice(1), ...(url.includes('?') ? { query: [...new URLSearchParams(url.split('?')[1])].map(([key, value]) => ({ key, value })) } : {}) },
      description: o.description,
    },
  };
}

/** Signs the client assertion (SMART Backend Services) in Postman's sandbox, with jsrsasign from Postman's package library. */
const SIGN_ASSERTION = [
  "// Signs a client assertion with your private JWK (environment variable private_jwk, as written by `payer-fhir keys generate`).",
  "// Paste an assertion into client_assertion instead to skip signing here.",
  "const jwkText = pm.environment.get('private_jwk');",
  "if (jwkText) {",
  "  const { KJUR, KEYUTIL } = pm.require('npm:jsrsasign@11.1.0');",
  "  const jwk = JSON.parse(jwkText);",
  "  const clientId = pm.environment.get('client_id');",
  "  const now = Math.floor(Date.now() / 1000);",
  "  const header = { alg: jwk.alg || 'ES384', kid: jwk.kid, typ: 'JWT' };",
  "  const claims = { iss: clientId, sub: clientId, aud: pm.environment.get('token_url'), exp: now + 240, jti: pm.variables.replaceIn('{{$guid}}') };",
  "  pm.environment.set('client_assertion', KJUR.jws.JWS.sign(header.alg, JSON.stringify(header), JSON.stringify(claims), KEYUTIL.getKey(jwk)));",
  "}",
];

export function postmanCollection(publicUrl: string, tenant: string): Record<string, unknown> {
  const kickoff = [['Accept', 'application/fhir+json'], ['Prefer', 'respond-async']] as [string, string][];
  return {
    info: {
      _postman_id: crypto.createHash('sha256').update(`collection:${publicUrl}:${tenant}`).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5'),
      name: `payer-fhir ${tenant} — Payer System Access API`,
      description: `SMART Backend Services and FHIR R4 requests for tenant ${tenant}. Import the environment too (${publicUrl}/developers/${tenant}/postman-environment.json), fill in client_id and private_jwk, then run the requests in order. Guide: ${publicUrl}/developers/${tenant}`,
      schema: COLLECTION_SCHEMA,
    },
    auth: { type: 'bearer', bearer: [{ key: 'token', value: '{{access_token}}', type: 'string' }] },
    item: [
      {
        name: '1. Authorize',
        item: [
          request('Get an access token (client credentials, signed assertion)', 'POST', '{{token_url}}', {
            noauth: true,
            description: 'private_key_jwt: a JWT signed with your private key, iss = sub = client_id, aud = the token URL, exp within 5 minutes, a fresh jti.',
            headers: [['Content-Type', 'application/x-www-form-urlencoded'], ['Accept', 'application/json']],
            body: {
              mode: 'urlencoded',
              urlencoded: [
                { key: 'grant_type', value: 'client_credentials' },
                { key: 'scope', value: '{{scope}}' },
                { key: 'client_assertion_type', value: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' },
                { key: 'client_assertion', value: '{{client_assertion}}' },
              ],
            },
            prerequest: SIGN_ASSERTION,
            test: ["pm.test('token issued', () => pm.response.to.have.status(200));", "pm.environment.set('access_token', pm.response.json().access_token);"],
          }),
          request('SMART configuration', 'GET', '{{base}}/.well-known/smart-configuration', { noauth: true, description: 'Token URL, algorithms and scopes this server supports.' }),
          request('CapabilityStatement', 'GET', '{{base}}/metadata', { noauth: true, description: 'What this FHIR server supports.', headers: [['Accept', 'application/fhir+json']] }),
        ],
      },
      {
        name: '2. Read and search',
        item: [
          request('Search members', 'GET', '{{base}}/Patient?_count=10', { description: 'A page of Patient resources; follow the Bundle\'s next link for more.', headers: [['Accept', 'application/fhir+json']], test: ["const b = pm.response.json(); if (b.entry && b.entry.length) pm.environment.set('patient_id', b.entry[0].resource.id);"] }),
          request('Read a member', 'GET', '{{base}}/Patient/{{patient_id}}', { description: 'One Patient by id.', headers: [['Accept', 'application/fhir+json']] }),
          request('Coverage of a member', 'GET', '{{base}}/Coverage?patient={{patient_id}}', { description: 'Search by patient.', headers: [['Accept', 'application/fhir+json']] }),
          request('Claims (EOB) with their coverage', 'GET', '{{base}}/ExplanationOfBenefit?patient={{patient_id}}&_include=ExplanationOfBenefit:coverage', { description: 'CARIN Blue Button explanations of benefit.', headers: [['Accept', 'application/fhir+json']] }),
        ],
      },
      {
        name: '3. Bulk export',
        item: [
          request('Kick off a Patient-level export', 'GET', '{{base}}/Patient/$export?_type=Patient,Coverage,ExplanationOfBenefit', {
            description: 'Answers 202 with the status URL in Content-Location.',
            headers: kickoff,
            test: ["pm.test('accepted', () => pm.response.to.have.status(202));", "pm.environment.set('status_url', pm.response.headers.get('Content-Location'));"],
          }),
          request('Poll the export status', 'GET', '{{status_url}}', {
            description: '202 with Retry-After while running (wait that long, then send again); 200 with the manifest when done.',
            headers: [['Accept', 'application/json']],
            test: ["if (pm.response.code === 200) { const out = pm.response.json().output || []; if (out.length) pm.environment.set('file_url', out[0].url); }"],
          }),
          request('Download an export file', 'GET', '{{file_url}}', { description: 'NDJSON, with the same bearer token.', headers: [['Accept', 'application/fhir+ndjson']] }),
          request('Cancel the export', 'DELETE', '{{status_url}}', { description: 'Deletes the job and its files.' }),
        ],
      },
    ],
    variable: [{ key: 'fhir_base', value: fhirBase(publicUrl, tenant) }],
  };
}

export function postmanEnvironment(publicUrl: string, tenant: string): Record<string, unknown> {
  const v = (key: string, value: string, type: 'default' | 'secret' = 'default') => ({ key, value, type, enabled: true });
  return {
    id: crypto.createHash('sha256').update(`environment:${publicUrl}:${tenant}`).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5'),
    name: `payer-fhir ${tenant}`,
    values: [
      v('base', fhirBase(publicUrl, tenant)),
      v('token_url', tokenUrl(publicUrl, tenant)),
      v('client_id', ''),
      v('private_jwk', '', 'secret'),
      v('scope', 'system/*.rs'),
      v('client_assertion', '', 'secret'),
      v('access_token', '', 'secret'),
      v('patient_id', ''),
      v('status_url', ''),
      v('file_url', ''),
    ],
    _postman_variable_scope: 'environment',
  };
}
