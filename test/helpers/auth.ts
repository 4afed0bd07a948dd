/**
 * Real SMART Backend Services credentials for tests: key pairs made with jose, clients
 * registered in the real registry, assertions really signed, tokens really issued by the
 * token endpoint over HTTP. Nothing is bypassed.
 */
import crypto from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type pg from 'pg';
import { addClient, type NewClient } from '../../src/auth/clients.js';

export interface KeyPair {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKeyPair(alg: 'RS384' | 'ES384' | 'RS256' | 'ES256' | 'PS384' | 'RS512' | 'ES512' | 'PS256' | 'PS512' = 'ES384', kid: string = crypto.randomUUID()): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig', key_ops: ['verify'], ext: true } };
}

/** A client assertion as SMART Backend Services clients sign it (overrides for negative tests). */
export async function signAssertion(
  key: KeyPair,
  clientId: string,
  tokenUrl: string,
  o: { iss?: string; sub?: string; aud?: string | string[]; expIn?: number; jti?: string | null; header?: Record<string, unknown>; iat?: number; nbf?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (o.jti !== null) claims.jti = o.jti ?? crypto.randomUUID();
  if (o.iat !== undefined) claims.iat = o.iat;
  if (o.nbf !== undefined) claims.nbf = o.nbf;
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...(o.header ?? {}) })
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? tokenUrl);
  if (o.expIn !== Number.NEGATIVE_INFINITY) jwt = jwt.setExpirationTime(now + (o.expIn ?? 240));
  return jwt.sign(key.privateKey);
}

export function tokenUrlFor(origin: string, tenant: string): string {
  return `${origin}/auth/${tenant}/oauth2/v1/token`;
}

export async function requestToken(tokenUrl: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Registers an asymmetric client with an inline JWKS and returns it with its key. */
export async function registerKeyClient(
  pool: pg.Pool,
  tenant: string,
  scope: string,
  alg: Parameters<typeof makeKeyPair>[0] = 'ES384',
  partner: Pick<NewClient, 'policy' | 'organization'> = {},
): Promise<{ clientId: string; key: KeyPair }> {
  const key = await makeKeyPair(alg);
  const { client_id } = await addClient(pool, { tenant, name: `test ${alg}`, jwks: { keys: [key.publicJwk] }, scope, ...partner });
  return { clientId: client_id, key };
}

/** Gets a real access token for a new client holding `scope` (registered under a partner policy when given). */
export async function tokenFor(
  pool: pg.Pool,
  origin: string,
  tenant: string,
  scope = 'system/*.cruds',
  partner: Pick<NewClient, 'policy' | 'organization'> = {},
): Promise<{ token: string; clientId: string; key: KeyPair }> {
  const { clientId, key } = await registerKeyClient(pool, tenant, scope, 'ES384', partner);
  const url = tokenUrlFor(origin, tenant);
  const res = await requestToken(url, {
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await signAssertion(key, clientId, url),
  });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.json)}`);
  return { token: res.json.access_token, clientId, key };
}
