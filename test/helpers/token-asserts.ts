/** Shared assertions for token-endpoint answers (checklist §1.6, §1.7). */
import assert from 'node:assert/strict';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TokenResult {
  status: number;
  headers: Headers;
  json: any;
}

/** Every token-endpoint answer is JSON and never cached (TOK-71, §1.7). */
export function assertNoStore(r: { headers: Headers }, label = ''): void {
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `${label}: content-type`);
  assert.equal(r.headers.get('cache-control'), 'no-store', `${label}: cache-control`);
  assert.equal(r.headers.get('pragma'), 'no-cache', `${label}: pragma`);
}

/** An RFC 6749 §5.2 error answer with the given status and code, leaking no internals. */
export function assertOAuthError(r: TokenResult, status: number, error: string, label = ''): void {
  assert.equal(r.status, status, `${label}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json?.error, error, `${label}: ${JSON.stringify(r.json)}`);
  assert.equal(typeof r.json.error_description, 'string', `${label}: error_description`);
  assert.ok(r.json.error_description.length > 0, `${label}: error_description empty`);
  const text = JSON.stringify(r.json);
  assert.doesNotMatch(text, /\bSELECT\b|\bINSERT\b|\bFROM client\b|\/work\/|node_modules|\bat [\w.<>]+ \(|\.ts:\d+|\.js:\d+/, `${label}: leaks internals: ${text}`);
  assertNoStore(r, label);
}

/** A successful token answer (TOK-70…TOK-74). */
export function assertTokenResponse(r: TokenResult, label = ''): void {
  assert.equal(r.status, 200, `${label}: ${JSON.stringify(r.json)}`);
  assertNoStore(r, label);
  assert.equal(typeof r.json.access_token, 'string', label);
  assert.ok(r.json.access_token.length > 0, label);
  assert.equal(String(r.json.token_type).toLowerCase(), 'bearer', label);
  assert.equal(typeof r.json.expires_in, 'number', label);
  assert.ok(r.json.expires_in > 0, label);
  assert.equal(typeof r.json.scope, 'string', label);
  assert.ok(r.json.scope.length > 0, label);
  assert.equal(r.json.refresh_token, undefined, `${label}: no refresh_token (TOK-74)`);
}
