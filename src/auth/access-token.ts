/**
 * Access tokens: JWTs signed with the server's keys (TOK-75), carrying tenant, client,
 * granted scopes, audience (the tenant's FHIR base), expiry and a jti. Verified on every
 * request by signature, issuer, audience and expiry.
 */
import crypto from 'node:crypto';
import { SignJWT, decodeProtectedHeader, jwtVerify } from 'jose';
import { TOKEN_ALG, type SigningKeys } from './signing-keys.js';

export interface AccessTokenClaims {
  tenant: string;
  clientId: string;
  scope: string;
  exp: number;
  jti: string;
}

export async function issueAccessToken(
  keys: SigningKeys,
  t: { issuer: string; audience: string; tenant: string; clientId: string; scope: string; ttlSeconds: number },
): Promise<string> {
  const key = await keys.signingKey();
  return new SignJWT({ scope: t.scope, tenant: t.tenant, client_id: t.clientId })
    .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(t.issuer)
    .setAudience(t.audience)
    .setSubject(t.clientId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + t.ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key.privateKey);
}

export class InvalidTokenError extends Error {}

/** Verifies a bearer token for one tenant; throws InvalidTokenError with a safe reason. */
export async function verifyAccessToken(keys: SigningKeys, token: string, expected: { issuer: string; audience: string }): Promise<AccessTokenClaims> {
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw new InvalidTokenError('the access token is malformed');
  }
  const key = kid ? await keys.verificationKey(kid) : undefined;
  if (!key) throw new InvalidTokenError('the access token was not issued by this server');
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: [TOKEN_ALG], issuer: expected.issuer, audience: expected.audience, typ: 'at+jwt' });
    if (typeof payload.tenant !== 'string' || typeof payload.client_id !== 'string' || typeof payload.scope !== 'string') {
      throw new InvalidTokenError('the access token lacks required claims');
    }
    return { tenant: payload.tenant, clientId: payload.client_id, scope: payload.scope, exp: payload.exp!, jti: payload.jti! };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') throw new InvalidTokenError('the access token has expired');
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw new InvalidTokenError('the access token is not valid for this tenant');
    throw new InvalidTokenError('the access token is not valid');
  }
}
