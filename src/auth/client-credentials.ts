/**
 * The client side of SMART Backend Services: sign a client assertion with a private JWK and
 * exchange it for an access token. Used by `payer-fhir token` (and the export client later).
 */
import crypto from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

/** Signs an RFC 7523 client assertion: iss = sub = client id, aud = token URL, 5-minute expiry, fresh jti. */
export async function signClientAssertion(privateJwk: JWK & { kid?: string; alg?: string }, clientId: string, tokenUrl: string): Promise<string> {
  const alg = privateJwk.alg ?? (privateJwk.kty === 'EC' ? 'ES384' : 'RS384');
  if (!privateJwk.kid) throw new Error('the private key has no "kid"');
  const key = await importJWK(privateJwk, alg);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid: privateJwk.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 300)
    .setJti(crypto.randomUUID())
    .sign(key);
}

/** Requests an access token with a private-key JWT; throws with the server's OAuth error text. */
export async function fetchAccessToken(tokenUrl: string, clientId: string, privateJwk: JWK, scope: string): Promise<TokenResponse> {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await signClientAssertion(privateJwk, clientId, tokenUrl),
  });
  const res = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
  const json = (await res.json().catch(() => ({}))) as Partial<TokenResponse> & { error?: string; error_description?: string };
  if (res.status !== 200 || !json.access_token) {
    throw new Error(`token request failed (HTTP ${res.status}): ${json.error ?? 'unknown error'}${json.error_description ? ` — ${json.error_description}` : ''}`);
  }
  return json as TokenResponse;
}
