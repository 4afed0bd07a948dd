/**
 * Where limits meet requests: the client's network allowlist, then its token buckets (and
 * its tenant's), with RateLimit-* headers on every answer and 429 + Retry-After beyond.
 * The token endpoint has buckets of its own, per claimed client and per source address,
 * counted before authentication so that guessing credentials is slowed as well.
 */
import type net from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Access } from '../auth/access.js';
import type { ClientRecord } from '../auth/clients.js';
import { OAuthError } from '../auth/oauth-error.js';
import type { LimitsConfig } from '../config.js';
import { ForbiddenError, ThrottledError } from '../errors.js';
import { allowed, toBlockList } from './ip-allowlist.js';
import type { BucketSpec, BucketState, RateLimiter } from './rate-limiter.js';

const lists = new WeakMap<ClientRecord, net.BlockList>();

/** Whether the client may be reached from `ip` (no allowlist: from anywhere). */
export function fromAllowedAddress(client: ClientRecord, ip: string | undefined): boolean {
  if (!client.allowedIps?.length) return true;
  let list = lists.get(client);
  if (!list) lists.set(client, (list = toBlockList(client.allowedIps)));
  return allowed(list, ip);
}

function setHeaders(reply: FastifyReply, states: BucketState[]): void {
  // The bucket closest to empty is the one the client should pace itself by.
  const s = states.reduce((a, b) => (b.remaining < a.remaining || (!b.allowed && a.allowed) ? b : a));
  reply.header('RateLimit-Limit', String(s.limit)).header('RateLimit-Remaining', String(s.remaining)).header('RateLimit-Reset', String(s.resetSeconds));
}

export class RequestLimits {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly config: LimitsConfig,
  ) {}

  /**
   * For an authenticated FHIR request: 403 from an address outside the client's allowlist,
   * 429 beyond its rate. `counted` is false for export status polls, which the job's own
   * Retry-After cadence governs (ST-02) and which are never throttled here.
   */
  async enforce(req: FastifyRequest, reply: FastifyReply, tenant: string, access: Access, counted: boolean): Promise<void> {
    const client = access.client;
    if (client && !fromAllowedAddress(client, req.ip)) {
      throw new ForbiddenError(`Requests for this client are not accepted from ${req.ip}`);
    }
    if (!counted) return;
    const specs: BucketSpec[] = [
      { key: `c:${tenant}/${access.clientId}`, rate: client?.ratePerSecond ?? this.config.clientRate, burst: client?.rateBurst ?? this.config.clientBurst },
    ];
    if (this.config.tenantRate > 0) specs.push({ key: `t:${tenant}`, rate: this.config.tenantRate, burst: this.config.tenantBurst });
    if (specs[0].rate <= 0) specs.shift();
    if (!specs.length) return;
    const states = await this.limiter.take(specs);
    setHeaders(reply, states);
    const refused = states.filter((s) => !s.allowed);
    if (refused.length) {
      const wait = Math.max(...refused.map((s) => s.retryAfterSeconds));
      const which = refused[0].key.startsWith('t:') ? 'this tenant' : 'this client';
      throw new ThrottledError(`Too many requests for ${which} (limit ${refused[0].limit} burst, refilling per second); retry after ${wait} s`, wait);
    }
  }

  /**
   * Token endpoint: per claimed client and per source address, per minute. `clientPerMinute` is
   * the claimed client's own limit (`clients update --token-rate`), when it is a registered
   * client that has one; otherwise TOKEN_RATE_LIMIT_CLIENT applies.
   */
  async enforceToken(reply: FastifyReply, tenant: string, claimedClient: string | undefined, ip: string | undefined, clientPerMinute?: number | null): Promise<void> {
    const perMinute = (n: number) => ({ rate: n / 60, burst: n });
    // Per tenant and address: one tenant's partners behind a shared address never lock out another's.
    const specs: BucketSpec[] = [{ key: `ti:${tenant}/${ip ?? '?'}`, ...perMinute(this.config.tokenPerMinuteIp) }];
    if (claimedClient) specs.push({ key: `tc:${tenant}/${claimedClient}`, ...perMinute(clientPerMinute ?? this.config.tokenPerMinuteClient) });
    const states = await this.limiter.take(specs);
    setHeaders(reply, states);
    const refused = states.filter((s) => !s.allowed);
    if (refused.length) {
      const wait = Math.max(...refused.map((s) => s.retryAfterSeconds));
      throw new OAuthError(429, 'temporarily_unavailable', `Too many token requests; retry after ${wait} s`, { 'Retry-After': String(wait) });
    }
  }
}
