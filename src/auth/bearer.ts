/**
 * Bearer-token authentication of FHIR requests (RS-01…RS-04): the token must be ours,
 * unexpired, issued for this tenant's base, and its client still enabled. Client status is
 * cached per process and invalidated through PostgreSQL LISTEN/NOTIFY, so disabling a
 * client stops its tokens at once in every process without a query per request.
 */
import type pg from 'pg';
import { UnauthorizedError } from '../errors.js';
import { Access } from './access.js';
import { InvalidTokenError, verifyAccessToken, type AccessTokenClaims } from './access-token.js';
import { CLIENT_CHANGED_CHANNEL, getClient, type ClientRecord } from './clients.js';
import type { SigningKeys } from './signing-keys.js';

const STATUS_TTL_MS = 30_000;
/** Verified tokens remembered per process; a signature check costs far more than the read it guards. */
const VERIFIED_CACHE_SIZE = 10_000;

function quote(s: string): string {
  return s.replace(/["\\]/g, '');
}

export class BearerAuthenticator {
  /** tenant/client → the client's record while enabled, cached until `until`. */
  private readonly active = new Map<string, { until: number; client: ClientRecord }>();
  /** token text → its verified claims, until the token expires (insertion order = eviction order). */
  private readonly verified = new Map<string, { claims: AccessTokenClaims; access: Access }>();
  private listener: pg.PoolClient | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly keys: SigningKeys,
  ) {}

  /** Subscribes to client changes; while not subscribed, client status is not cached. */
  async start(): Promise<void> {
    if (this.closed) return;
    try {
      const client = await this.pool.connect();
      client.on('notification', (msg) => {
        const { tenant, clientId } = JSON.parse(msg.payload ?? '{}') as { tenant?: string; clientId?: string };
        this.active.delete(`${tenant}/${clientId}`);
      });
      client.on('error', () => {
        this.active.clear();
        this.listener = undefined;
        client.release(true);
        if (!this.closed) setTimeout(() => void this.start(), 2_000).unref();
      });
      await client.query(`LISTEN ${CLIENT_CHANGED_CHANNEL}`);
      this.listener = client;
    } catch {
      if (!this.closed) setTimeout(() => void this.start(), 2_000).unref();
    }
  }

  async stop(): Promise<void> {
    this.closed = true;
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      await l.query(`UNLISTEN ${CLIENT_CHANGED_CHANNEL}`).catch(() => undefined);
      l.release();
    }
  }

  /**
   * The client's record when it exists and is enabled (its limits and allowlist come with it),
   * cached while this process listens for client changes.
   */
  async enabledClient(tenant: string, clientId: string): Promise<ClientRecord | undefined> {
    const key = `${tenant}/${clientId}`;
    const cached = this.active.get(key);
    if (cached && cached.until > Date.now()) return cached.client;
    const client = await getClient(this.pool, tenant, clientId);
    if (!client || client.disabledAt) return undefined;
    if (this.listener) this.active.set(key, { until: Date.now() + STATUS_TTL_MS, client });
    return client;
  }

  /** Authenticates the Authorization header for a request to `tenant` at FHIR base `base`. */
  async authenticate(authorization: string | undefined, t: { tenant: string; base: string; issuer: string }): Promise<Access> {
    const realm = `Bearer realm="${t.base}"`;
    const m = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(authorization ?? '');
    if (!authorization || !/^Bearer\s/i.test(authorization)) throw new UnauthorizedError('An access token is required (Authorization: Bearer …)', realm);
    const fail = (reason: string) => new UnauthorizedError(`Invalid access token: ${reason}`, `${realm}, error="invalid_token", error_description="${quote(reason)}"`);
    if (!m) throw fail('the access token is malformed');
    let entry = this.verified.get(m[1]);
    if (entry && entry.claims.exp * 1000 <= Date.now()) {
      this.verified.delete(m[1]);
      entry = undefined;
    }
    if (!entry) {
      let claims: AccessTokenClaims;
      try {
        claims = await verifyAccessToken(this.keys, m[1], { issuer: t.issuer, audience: t.base });
      } catch (err) {
        if (err instanceof InvalidTokenError) throw fail(err.message);
        throw err;
      }
      entry = { claims, access: new Access(claims.clientId, claims.scope) };
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(m[1], entry);
    }
    // A cached token was verified for its own tenant's issuer and audience; this pins it there.
    if (entry.claims.tenant !== t.tenant) throw fail('the access token is not valid for this tenant');
    // Checked on every request, cached or not: disabling a client must stop its tokens at once.
    const client = await this.enabledClient(t.tenant, entry.claims.clientId);
    if (!client) throw fail('the client has been disabled');
    entry.access.client = client;
    return entry.access;
  }
}
