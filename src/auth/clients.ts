/**
 * The client registry, per tenant, in PostgreSQL (TOK-30). A client authenticates with a
 * private-key JWT (keys from a JWKS URL and/or an inline JWKS) or with a secret, and holds
 * pre-authorized `system/` scopes that bound every grant.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { InvalidError, NotFoundError } from '../errors.js';
import { parseAllowlist } from '../limits/ip-allowlist.js';
import { assertPolicy, type Organization, type PolicyKind } from '../policy/partner-policy.js';
import { parseScopes } from './scopes.js';
import { hashSecret, newSecret } from './secrets.js';

export interface Jwks {
  keys: Record<string, unknown>[];
}

export interface ClientRecord {
  tenant: string;
  clientId: string;
  name: string;
  jwksUrl: string | null;
  jwks: Jwks | null;
  secretHash: string | null;
  scope: string;
  tokenTtl: number | null;
  disabledAt: Date | null;
  createdAt: Date;
  /** Own request rate (per second) and burst; null = the server defaults. */
  ratePerSecond: number | null;
  rateBurst: number | null;
  /** Own limit of concurrently running exports; null = EXPORT_MAX_JOBS_PER_CLIENT. */
  maxExports: number | null;
  /** Own limit of token requests per minute; null = TOKEN_RATE_LIMIT_CLIENT. */
  tokenPerMinute: number | null;
  /** Addresses and CIDR ranges requests may come from; null = anywhere. */
  allowedIps: string[] | null;
  /** The partner access policy its requests are served under, and whom it acts for. */
  policy: PolicyKind;
  organization: Organization | null;
}

/** The limits a client can be given at registration or later (`clients add|update`). */
export interface ClientLimits {
  ratePerSecond?: number | null;
  rateBurst?: number | null;
  maxExports?: number | null;
  tokenPerMinute?: number | null;
  /** Comma-separated addresses/CIDRs; '' or null removes the allowlist. */
  allowedIps?: string | null;
}

export interface NewClient {
  tenant: string;
  name: string;
  jwksUrl?: string;
  jwks?: unknown;
  secret?: boolean;
  scope: string;
  tokenTtl?: number;
  limits?: ClientLimits;
  policy?: PolicyKind;
  organization?: Organization;
}

/** Longest access-token lifetime a client may be given (long-running batch clients). */
export const MAX_TOKEN_TTL = 3600;

/** Channel on which `clients disable` tells every server process to drop cached client state. */
export const CLIENT_CHANGED_CHANNEL = 'payer_fhir_client_changed';

function fromRow(r: Record<string, any>): ClientRecord {
  return {
    tenant: r.tenant,
    clientId: r.client_id,
    name: r.name,
    jwksUrl: r.jwks_url,
    jwks: r.jwks,
    secretHash: r.secret_hash,
    scope: r.scope,
    tokenTtl: r.token_ttl,
    disabledAt: r.disabled_at,
    createdAt: r.created_at,
    ratePerSecond: r.rate_per_second,
    rateBurst: r.rate_burst,
    maxExports: r.max_exports,
    tokenPerMinute: r.token_rate_per_minute ?? null,
    allowedIps: r.allowed_ips,
    policy: r.policy ?? 'internal',
    organization: r.organization_system ? { system: r.organization_system, value: r.organization_value } : null,
  };
}

/** JWKS URLs must be https, except on loopback (local development and tests). */
export function assertJwksUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidError(`JWKS URL '${url}' is not a URL`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new InvalidError('A JWKS URL must use https (http is allowed only on loopback)');
  }
}

/** An inline JWKS holds public verification keys only (TOK-31). */
export function assertPublicJwks(value: unknown): Jwks {
  const keys = (value as Jwks | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new InvalidError('A JWKS must be an object with a non-empty "keys" array');
  for (const k of keys) {
    if (!k || typeof k !== 'object' || typeof k.kty !== 'string' || typeof k.kid !== 'string') {
      throw new InvalidError('Every JWK needs "kty" and "kid"');
    }
    if ('d' in k) throw new InvalidError(`JWK '${k.kid}' contains private key material; register the public key only`);
  }
  return { keys };
}

export async function addClient(pool: pg.Pool, c: NewClient): Promise<{ client_id: string; client_secret?: string }> {
  const methods = [c.jwksUrl, c.jwks, c.secret].filter(Boolean).length;
  if (methods !== 1) throw new InvalidError('Give exactly one of a JWKS URL, a JWKS file or --secret');
  if (c.jwksUrl) assertJwksUrl(c.jwksUrl);
  const jwks = c.jwks ? assertPublicJwks(c.jwks) : null;
  const scopes = parseScopes(c.scope);
  if (scopes.length === 0 || scopes.some((s) => s.context !== 'system')) {
    throw new InvalidError('Scopes must be SMART system/ scopes, e.g. "system/*.rs" or "system/Patient.read"');
  }
  if (c.tokenTtl !== undefined && (!Number.isInteger(c.tokenTtl) || c.tokenTtl < 30 || c.tokenTtl > MAX_TOKEN_TTL)) {
    throw new InvalidError(`Token lifetime must be 30–${MAX_TOKEN_TTL} seconds`);
  }
  const limits = limitColumns(c.limits ?? {});
  assertPolicy(c.policy ?? 'internal', c.organization);
  const clientId = crypto.randomUUID();
  const secret = c.secret ? newSecret() : undefined;
  await pool.query(
    `INSERT INTO client (tenant, client_id, name, jwks_url, jwks, secret_hash, scope, token_ttl, rate_per_second, rate_burst, max_exports, allowed_ips,
       token_rate_per_minute, policy, organization_system, organization_value)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [c.tenant, clientId, c.name, c.jwksUrl ?? null, jwks, secret ? await hashSecret(secret) : null, c.scope, c.tokenTtl ?? null,
      limits.rate_per_second ?? null, limits.rate_burst ?? null, limits.max_exports ?? null, limits.allowed_ips ?? null, limits.token_rate_per_minute ?? null,
      c.policy ?? 'internal', c.organization?.system ?? null, c.organization?.value ?? null],
  );
  return { client_id: clientId, ...(secret ? { client_secret: secret } : {}) };
}

/** Checks limits and turns them into column values (only those given). */
function limitColumns(l: ClientLimits): Record<string, unknown> {
  const cols: Record<string, unknown> = {};
  if (l.ratePerSecond !== undefined) {
    if (l.ratePerSecond !== null && !(Number.isFinite(l.ratePerSecond) && l.ratePerSecond > 0)) throw new InvalidError('--rate must be a positive number of requests per second');
    cols.rate_per_second = l.ratePerSecond;
  }
  if (l.rateBurst !== undefined) {
    if (l.rateBurst !== null && !(Number.isInteger(l.rateBurst) && l.rateBurst >= 1)) throw new InvalidError('--burst must be a positive whole number of requests');
    cols.rate_burst = l.rateBurst;
  }
  if (l.maxExports !== undefined) {
    if (l.maxExports !== null && !(Number.isInteger(l.maxExports) && l.maxExports >= 1)) throw new InvalidError('--max-exports must be a positive whole number');
    cols.max_exports = l.maxExports;
  }
  if (l.tokenPerMinute !== undefined) {
    if (l.tokenPerMinute !== null && !(Number.isInteger(l.tokenPerMinute) && l.tokenPerMinute >= 1 && l.tokenPerMinute <= 100_000)) {
      throw new InvalidError('--token-rate must be a whole number of token requests per minute, 1–100000');
    }
    cols.token_rate_per_minute = l.tokenPerMinute;
  }
  if (l.allowedIps !== undefined) cols.allowed_ips = l.allowedIps ? parseAllowlist(l.allowedIps) : null;
  return cols;
}

/** Changes a client's limits; every server process picks them up at once. */
export async function updateClientLimits(pool: pg.Pool, tenant: string, clientId: string, limits: ClientLimits): Promise<void> {
  const cols = limitColumns(limits);
  const names = Object.keys(cols);
  if (!names.length) throw new InvalidError('Nothing to change: give --rate, --burst, --token-rate, --max-exports or --allow-ip');
  const res = await pool.query(
    `UPDATE client SET ${names.map((n, i) => `${n} = $${i + 3}`).join(', ')} WHERE tenant = $1 AND client_id = $2`,
    [tenant, clientId, ...names.map((n) => cols[n])],
  );
  if (res.rowCount !== 1) throw new NotFoundError(`No client ${clientId} in tenant ${tenant}`);
  await pool.query('SELECT pg_notify($1, $2)', [CLIENT_CHANGED_CHANNEL, JSON.stringify({ tenant, clientId })]);
}

/**
 * Changes the partner access policy a client is served under, and whom it acts for (given
 * parts only); every server process applies it from the next request.
 */
export async function updateClientPolicy(pool: pg.Pool, tenant: string, clientId: string, change: { policy?: PolicyKind; organization?: Organization }): Promise<void> {
  const current = await getClient(pool, tenant, clientId);
  if (!current) throw new NotFoundError(`No client ${clientId} in tenant ${tenant}`);
  const policy = change.policy ?? current.policy;
  const organization = change.organization ?? current.organization ?? undefined;
  assertPolicy(policy, organization);
  await pool.query('UPDATE client SET policy = $3, organization_system = $4, organization_value = $5 WHERE tenant = $1 AND client_id = $2', [
    tenant, clientId, policy, organization?.system ?? null, organization?.value ?? null,
  ]);
  await pool.query('SELECT pg_notify($1, $2)', [CLIENT_CHANGED_CHANNEL, JSON.stringify({ tenant, clientId })]);
}

export async function getClient(db: pg.Pool | pg.PoolClient, tenant: string, clientId: string): Promise<ClientRecord | undefined> {
  const { rows } = await db.query('SELECT * FROM client WHERE tenant = $1 AND client_id = $2', [tenant, clientId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function listClients(pool: pg.Pool, tenant: string): Promise<ClientRecord[]> {
  const { rows } = await pool.query('SELECT * FROM client WHERE tenant = $1 ORDER BY created_at, client_id', [tenant]);
  return rows.map(fromRow);
}

/** Disables a client; its tokens stop working at once in every server process. */
export async function disableClient(pool: pg.Pool, tenant: string, clientId: string): Promise<void> {
  const res = await pool.query('UPDATE client SET disabled_at = coalesce(disabled_at, now()) WHERE tenant = $1 AND client_id = $2', [tenant, clientId]);
  if (res.rowCount !== 1) throw new NotFoundError(`No client ${clientId} in tenant ${tenant}`);
  await pool.query('SELECT pg_notify($1, $2)', [CLIENT_CHANGED_CHANNEL, JSON.stringify({ tenant, clientId })]);
}

/** Enables a disabled client again; it may request tokens at once. */
export async function enableClient(pool: pg.Pool, tenant: string, clientId: string): Promise<void> {
  const res = await pool.query('UPDATE client SET disabled_at = NULL WHERE tenant = $1 AND client_id = $2', [tenant, clientId]);
  if (res.rowCount !== 1) throw new NotFoundError(`No client ${clientId} in tenant ${tenant}`);
  await pool.query('SELECT pg_notify($1, $2)', [CLIENT_CHANGED_CHANNEL, JSON.stringify({ tenant, clientId })]);
}

/** Issues a new secret for a secret client; the old one stops working. */
export async function rotateSecret(pool: pg.Pool, tenant: string, clientId: string): Promise<string> {
  const client = await getClient(pool, tenant, clientId);
  if (!client) throw new NotFoundError(`No client ${clientId} in tenant ${tenant}`);
  if (!client.secretHash) throw new InvalidError('This client authenticates with keys, not a secret');
  const secret = newSecret();
  await pool.query('UPDATE client SET secret_hash = $3 WHERE tenant = $1 AND client_id = $2', [tenant, clientId, await hashSecret(secret)]);
  return secret;
}
