/**
 * The token endpoint `ORIGIN/auth/{tenant}/oauth2/v1/token` (checklist §1.2–1.7):
 * `client_credentials` with a private-key JWT assertion, or a client secret (Basic or
 * form post). Every answer is RFC 6749 JSON with `Cache-Control: no-store` and
 * `Pragma: no-cache`; the error matrix E1–E13 decides status and code.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { noteClient, noteFailure, noteTenant } from '../audit/hooks.js';
import type pg from 'pg';
import type { Config } from '../config.js';
import { FhirError, ResponseTimeoutError } from '../errors.js';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../store/availability.js';
import { fhirBase, tokenUrl } from '../http/urls.js';
import { tenantExists } from '../store/tenants.js';
import { issueAccessToken } from './access-token.js';
import { verifyClientAssertion } from './client-assertion.js';
import { getClient, MAX_TOKEN_TTL, type ClientRecord } from './clients.js';
import type { JwksFetcher } from './jwks-fetcher.js';
import { OAuthError } from './oauth-error.js';
import { fromAllowedAddress, type RequestLimits } from '../limits/enforce.js';
import { recordJti } from './replay.js';
import { grantScopes } from './scopes.js';
import { decoyHash, verifySecret } from './secrets.js';
import type { SigningKeys } from './signing-keys.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TokenDeps {
  config: Config;
  pool: pg.Pool;
  keys: SigningKeys;
  jwks: JwksFetcher;
  limits?: RequestLimits;
  /**
   * A registered, enabled client's record, from the per-process cache that client changes
   * invalidate through LISTEN/NOTIFY (BearerAuthenticator): its own token limit applies at once.
   */
  clients?: (tenant: string, clientId: string) => Promise<ClientRecord | undefined>;
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** Issuer of access tokens for a tenant (checked again when the token is presented). */
export function tokenIssuer(publicUrl: string, tenant: string): string {
  return `${publicUrl}/auth/${tenant}`;
}

/** Reads the form, refusing repeated parameters (TOK-23). */
function parseForm(req: FastifyRequest): Map<string, string> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded' || typeof req.body !== 'string') {
    throw new OAuthError(400, 'invalid_request', 'The token request must be application/x-www-form-urlencoded'); // E2
  }
  const form = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(req.body)) {
    if (form.has(k)) throw new OAuthError(400, 'invalid_request', `Parameter '${k}' is repeated`);
    form.set(k, v);
  }
  return form;
}

/** Secret authentication (TOK-50…52); Basic failures answer 401 with a Basic challenge. */
async function authenticateSecret(deps: TokenDeps, tenant: string, clientId: string, secret: string, basic: boolean): Promise<ClientRecord> {
  const client = await getClient(deps.pool, tenant, clientId);
  // Spend the same time whether or not the client exists, so the answer leaks nothing.
  const ok = await verifySecret(secret, client?.secretHash ?? (await decoyHash()));
  if (!client || !client.secretHash || client.disabledAt || !ok) {
    throw basic
      ? new OAuthError(401, 'invalid_client', 'Client authentication failed', { 'WWW-Authenticate': `Basic realm="${tokenUrl(deps.config.publicUrl, tenant)}"` })
      : new OAuthError(400, 'invalid_client', 'Client authentication failed');
  }
  return client;
}

/**
 * The client a token request claims to be (Basic id, client_id, or the assertion's unverified
 * `sub`), for the audit record of a refused request; authentication decides who it really is.
 */
function claimedClient(authorization: string | undefined, form: Map<string, string>): string | undefined {
  const basic = basicCredentials(authorization);
  if (basic) return basic.id;
  if (form.get('client_id')) return form.get('client_id');
  const assertion = form.get('client_assertion');
  if (!assertion) return undefined;
  try {
    const { sub, iss } = decodeJwt(assertion);
    return typeof sub === 'string' ? sub : typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    return undefined;
  }
}

async function handleToken(deps: TokenDeps, req: FastifyRequest<{ Params: { tenant: string } }>, reply: FastifyReply): Promise<Record<string, unknown>> {
  const { tenant } = req.params;
  if (!(await tenantExists(deps.pool, tenant).catch((err) => (isDatabaseUnavailable(err) ? Promise.reject(err) : false)))) throw new OAuthError(404, 'invalid_request', `Unknown tenant '${tenant}'`);
  noteTenant(req, tenant);
  const form = parseForm(req);
  const claimed = claimedClient(req.headers.authorization, form);
  noteClient(req, claimed);
  if (deps.limits) {
    // The claimed client's own limit, if it has one; the claim is checked only later, so a
    // caller naming another client spends that client's allowance, as it always has.
    const own = claimed && deps.clients ? await deps.clients(tenant, claimed) : undefined;
    await deps.limits.enforceToken(reply, tenant, claimed, req.ip, own?.tokenPerMinute);
  }
  const grantType = form.get('grant_type');
  if (!grantType) throw new OAuthError(400, 'invalid_request', 'grant_type is required'); // E3
  if (grantType !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', 'Only client_credentials is supported'); // E4

  const authHeader = req.headers.authorization;
  const basic = authHeader !== undefined && /^Basic\s/i.test(authHeader);
  const assertionType = form.get('client_assertion_type');
  const assertion = form.get('client_assertion');
  const postSecret = form.get('client_secret');
  const mechanisms = [basic, assertion !== undefined || assertionType !== undefined, postSecret !== undefined].filter(Boolean).length;
  if (mechanisms > 1) throw new OAuthError(400, 'invalid_request', 'Use exactly one client authentication method'); // TOK-23
  if (req.query && Object.keys(req.query as object).some((k) => k === 'client_secret' || k === 'client_assertion')) {
    throw new OAuthError(400, 'invalid_request', 'Credentials are never accepted in the query string'); // TOK-51
  }

  let client: ClientRecord;
  if (basic) {
    const creds = basicCredentials(authHeader);
    if (!creds) throw new OAuthError(401, 'invalid_client', 'Malformed Basic credentials', { 'WWW-Authenticate': `Basic realm="${tokenUrl(deps.config.publicUrl, tenant)}"` });
    if (form.has('client_id') && form.get('client_id') !== creds.id) throw new OAuthError(400, 'invalid_request', 'client_id does not match the Basic credentials');
    client = await authenticateSecret(deps, tenant, creds.id, creds.secret, true);
  } else if (postSecret !== undefined) {
    const id = form.get('client_id');
    if (!id) throw new OAuthError(400, 'invalid_request', 'client_id is required with client_secret');
    client = await authenticateSecret(deps, tenant, id, postSecret, false);
  } else {
    if (assertionType !== JWT_BEARER) {
      if (assertionType === undefined && assertion === undefined) throw new OAuthError(400, 'invalid_request', 'Client authentication is required (client_assertion)');
      if (assertionType === undefined) throw new OAuthError(400, 'invalid_request', 'client_assertion_type is required');
      throw new OAuthError(400, 'invalid_client', `client_assertion_type must be ${JWT_BEARER}`); // E5
    }
    if (!assertion) throw new OAuthError(400, 'invalid_request', 'client_assertion is required'); // E6
    client = await verifyClientAssertion(
      {
        pool: deps.pool,
        jwks: deps.jwks,
        tenant,
        tokenUrl: tokenUrl(deps.config.publicUrl, tenant),
        recordJti: (clientId, jti, expiresAt) => recordJti(deps.pool, tenant, clientId, jti, expiresAt),
      },
      assertion,
      form.get('client_id'),
    );
  }

  if (!fromAllowedAddress(client, req.ip)) {
    throw new OAuthError(403, 'unauthorized_client', `Token requests for this client are not accepted from ${req.ip}`);
  }

  const requested = form.get('scope');
  if (!requested || !requested.trim()) throw new OAuthError(400, 'invalid_scope', 'scope is required'); // E12
  const granted = grantScopes(requested, client.scope);
  if (granted.scopes.length === 0) {
    const unknown = granted.unknownTypes.length ? `; not R4 resource types: ${granted.unknownTypes.slice(0, 5).join(', ')}` : '';
    throw new OAuthError(400, 'invalid_scope', `None of the requested scopes can be granted to this client${unknown}`); // TOK-64
  }

  const ttl = Math.min(client.tokenTtl ?? deps.config.accessTokenTtl, MAX_TOKEN_TTL);
  const accessToken = await issueAccessToken(deps.keys, {
    issuer: tokenIssuer(deps.config.publicUrl, tenant),
    audience: fhirBase(deps.config.publicUrl, tenant),
    tenant,
    clientId: client.clientId,
    scope: granted.text,
    ttlSeconds: ttl,
  });
  noteClient(req, client.clientId);
  req.log.info({ tenant, clientId: client.clientId, scope: granted.text }, 'access token issued');
  return { access_token: accessToken, token_type: 'bearer', expires_in: ttl, scope: granted.text }; // TOK-72
}

function sendOAuthError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  let e: OAuthError;
  if (err instanceof OAuthError) e = err;
  else if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new OAuthError(413, 'invalid_request', 'The request body is too large');
  else if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = new OAuthError(400, 'invalid_request', 'The token request must be application/x-www-form-urlencoded');
  else if (isDatabaseUnavailable(err) || err instanceof ResponseTimeoutError) {
    req.log.warn({ err }, 'token endpoint unavailable');
    e = new OAuthError(503, 'temporarily_unavailable', 'The token service is temporarily unavailable; retry shortly', { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) });
  } else if (err instanceof FhirError && err.status < 500) {
    // Request limits enforced before routing (query length, parameter count, timeouts) speak OAuth here.
    e = new OAuthError(err.status, 'invalid_request', err.issues[0]?.diagnostics ?? 'The request was refused', err.headers);
  } else {
    req.log.error({ err }, 'token endpoint failure');
    e = new OAuthError(500, 'server_error', 'The token could not be issued; try again'); // E13
  }
  noteFailure(req, `${e.error}: ${e.description}`);
  if (e.status < 500) req.log.info({ error: e.error, reason: e.description }, 'token request refused');
  return reply.code(e.status).headers({ ...NO_STORE, ...e.headers }).type('application/json').send({ error: e.error, error_description: e.description });
}

export function registerTokenEndpoint(app: FastifyInstance, deps: TokenDeps): void {
  const url = '/auth/:tenant/oauth2/v1/token';
  app.route<{ Params: { tenant: string } }>({
    method: 'POST',
    url,
    errorHandler: (err, req, reply) => sendOAuthError(req, reply, err),
    handler: async (req, reply) => reply.code(200).headers(NO_STORE).type('application/json').send(await handleToken(deps, req, reply)),
  });
  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url,
    handler: async (req, reply) => sendOAuthError(req, reply.header('Allow', 'POST'), new OAuthError(405, 'invalid_request', 'Use POST')), // E1
  });
}
