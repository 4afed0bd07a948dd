/**
 * Verifies a `private_key_jwt` client assertion (RFC 7523, SMART Backend Services): the
 * checks TOK-40…TOK-49. Every failure is an `invalid_client` OAuthError (TOK-49).
 */
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type pg from 'pg';
import { getClient, type ClientRecord } from './clients.js';
import { JwksFetchError, type JwksFetcher } from './jwks-fetcher.js';
import { OAuthError } from './oauth-error.js';

/** Algorithms accepted for client assertions; advertised in discovery (TOK-08, TOK-41). */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384', 'RS256', 'RS512', 'ES256', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

/** Clock leeway both ways (P5: kits set exp = now + 300 s exactly). */
export const LEEWAY_SECONDS = 60;
/** An assertion may live at most this long (TOK-46). */
export const MAX_ASSERTION_LIFETIME = 300;

const EC_CURVES: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

function invalid(description: string): OAuthError {
  return new OAuthError(400, 'invalid_client', description);
}

/** TOK-42 (3): the key family must match the algorithm, and a JWK `alg` must equal it. */
function keyFits(jwk: Record<string, unknown>, kid: string, alg: string): boolean {
  if (jwk.kid !== kid) return false;
  if ('d' in jwk) return false; // never a private key
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return false;
  if (alg.startsWith('ES')) return jwk.kty === 'EC' && jwk.crv === EC_CURVES[alg];
  return jwk.kty === 'RSA';
}

export interface AssertionContext {
  pool: pg.Pool;
  jwks: JwksFetcher;
  tenant: string;
  /** The token URL exactly as advertised in discovery (TOK-45). */
  tokenUrl: string;
  /** Records (client, jti) until `expiresAt`; false when it was already recorded (replay). */
  recordJti(clientId: string, jti: string, expiresAt: Date): Promise<boolean>;
}

async function candidateKeys(ctx: AssertionContext, client: ClientRecord, kid: string, alg: string, jku: string | undefined): Promise<Record<string, unknown>[]> {
  if (jku !== undefined && jku !== client.jwksUrl) throw invalid('jku does not match the JWKS URL registered for this client');
  const pick = async (refresh: boolean) => {
    const remote = client.jwksUrl ? await ctx.jwks.keys(client.jwksUrl, refresh) : [];
    const inline = jku === undefined ? (client.jwks?.keys ?? []) : [];
    return [...remote, ...inline].filter((k) => keyFits(k, kid, alg));
  };
  try {
    let keys = await pick(false);
    // Unknown kid: the client may have rotated its keys; look once more (rate-limited).
    if (keys.length === 0 && client.jwksUrl) keys = await pick(true);
    return keys;
  } catch (err) {
    if (err instanceof JwksFetchError) throw invalid(err.message);
    throw err;
  }
}

/** Authenticates the client behind an assertion; returns its registry record. */
export async function verifyClientAssertion(ctx: AssertionContext, assertion: string, clientIdParam: string | undefined): Promise<ClientRecord> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    claims = decodeJwt(assertion);
  } catch {
    throw invalid('client_assertion is not a well-formed JWT'); // TOK-40
  }
  if (assertion.split('.').length !== 3) throw invalid('client_assertion must be a compact JWS');
  if (header.typ !== undefined && String(header.typ).toUpperCase() !== 'JWT') throw invalid('client_assertion typ must be JWT');
  const alg = header.alg;
  if (!alg || !(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) throw invalid(`alg '${alg ?? ''}' is not accepted; use RS384 or ES384`); // TOK-41
  if (typeof header.kid !== 'string' || !header.kid) throw invalid('client_assertion header has no kid');

  // TOK-44: iss = sub = a registered client (and = client_id when the form sends one).
  if (typeof claims.iss !== 'string' || typeof claims.sub !== 'string' || claims.iss !== claims.sub) throw invalid('iss and sub must both be the client_id');
  if (clientIdParam !== undefined && clientIdParam !== claims.sub) throw invalid('client_id does not match the assertion');
  const client = await getClient(ctx.pool, ctx.tenant, claims.sub);
  if (!client || client.disabledAt || (!client.jwksUrl && !client.jwks)) throw invalid('unknown or disabled client');

  const keys = await candidateKeys(ctx, client, header.kid, alg, header.jku); // TOK-42
  if (keys.length !== 1) throw invalid(keys.length === 0 ? `no registered key matches kid '${header.kid}' and alg ${alg}` : `several registered keys match kid '${header.kid}'`);

  let payload: JWTPayload;
  try {
    const key = await importJWK(keys[0] as JWK, alg);
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [alg],
      audience: ctx.tokenUrl, // TOK-45
      clockTolerance: LEEWAY_SECONDS,
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') throw invalid('client_assertion has expired');
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw invalid(`client_assertion claim check failed: ${(err as { claim?: string }).claim ?? 'claim'}`);
    throw invalid('client_assertion signature is not valid for the registered key');
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.exp !== 'number' || payload.exp > now + MAX_ASSERTION_LIFETIME + LEEWAY_SECONDS) throw invalid('exp must be at most 5 minutes ahead'); // TOK-46
  if (typeof payload.iat === 'number' && payload.iat > now + LEEWAY_SECONDS) throw invalid('iat is in the future'); // TOK-48
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 255) throw invalid('jti is required');
  const keepUntil = new Date((payload.exp + LEEWAY_SECONDS) * 1000);
  if (!(await ctx.recordJti(client.clientId, payload.jti, keepUntil))) throw invalid('this client_assertion jti was already used'); // TOK-47
  return client;
}
