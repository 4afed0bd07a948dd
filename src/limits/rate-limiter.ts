/**
 * Token buckets shared by every server process. Each request takes one token from each of
 * its buckets (the client's, the tenant's; for the token endpoint the claimed client's and
 * the source address's); a bucket refills at `rate` tokens a second up to `burst`.
 * PostgreSQL holds the buckets: one upsert computes refill and take atomically under the row
 * lock. So that a busy client's requests do not all queue on that one row, a process claims
 * a small lease of tokens (1/20 of the burst) per round trip and spends it locally for up to a
 * second; with small bursts the lease is one token and the limit is exact across processes.
 */
import type pg from 'pg';

export interface BucketSpec {
  key: string;
  /** Tokens per second. */
  rate: number;
  burst: number;
}

export interface BucketState {
  key: string;
  allowed: boolean;
  limit: number;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds until one token is available (Retry-After when refused). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  take(specs: BucketSpec[]): Promise<BucketState[]>;
}

export function stateOf(spec: BucketSpec, tokens: number, allowed: boolean): BucketState {
  return {
    key: spec.key,
    allowed,
    limit: Math.floor(spec.burst),
    remaining: Math.max(0, Math.floor(tokens)),
    resetSeconds: Math.max(0, Math.ceil((spec.burst - tokens) / spec.rate)),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / spec.rate)),
  };
}

/** A few tokens claimed from a shared bucket and spent locally until used up or stale. */
interface Lease {
  tokens: number;
  /** Shared tokens left when the lease was taken (for RateLimit-Remaining). */
  shared: number;
  expires: number;
}

/** A lease is spent or dropped within this time, so unspent tokens are not held away from other processes for long. */
const LEASE_MS = 1_000;
/** Tokens claimed per round trip: 1/20 of the burst (1 for small bursts, which are then exact). */
export function leaseSize(burst: number): number {
  return Math.max(1, Math.floor(burst / 20));
}

export class PgRateLimiter implements RateLimiter {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly pool: pg.Pool) {}

  async take(specs: BucketSpec[]): Promise<BucketState[]> {
    if (!specs.length) return [];
    const now = Date.now();
    const local = new Map<string, BucketState>();
    const remote: BucketSpec[] = [];
    for (const s of specs) {
      const lease = this.leases.get(s.key);
      if (lease && lease.tokens >= 1 && lease.expires > now) {
        lease.tokens -= 1;
        local.set(s.key, stateOf(s, lease.shared + lease.tokens, true));
      } else {
        remote.push(s);
      }
    }
    if (remote.length) {
      for (const st of await this.claim(remote, now)) local.set(st.key, st);
    }
    return specs.map((s) => local.get(s.key)!);
  }

  /** Claims a lease of tokens for each spec in one statement; one token of each is spent at once. */
  private async claim(specs: BucketSpec[], now: number): Promise<BucketState[]> {
    // Keys in a fixed order, so two requests sharing buckets lock them in the same order.
    const sorted = [...specs].sort((a, b) => (a.key < b.key ? -1 : 1));
    const want = sorted.map((s) => leaseSize(s.burst));
    const { rows } = await this.pool.query<{ key: string; tokens: number; taken: number }>({
      name: 'rate-bucket-claim',
      text: `INSERT INTO rate_bucket AS b (key, rate, burst, tokens, at, taken)
       SELECT key, rate, burst, burst - want, clock_timestamp(), want
         FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[]) AS s(key, rate, burst, want)
       ON CONFLICT (key) DO UPDATE SET
         rate = EXCLUDED.rate,
         burst = EXCLUDED.burst,
         at = clock_timestamp(),
         taken = least(EXCLUDED.taken, floor(least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate))),
         tokens = least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate)
           - least(EXCLUDED.taken, floor(least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate)))
       RETURNING key, tokens, taken`,
      values: [sorted.map((s) => s.key), sorted.map((s) => s.rate), sorted.map((s) => s.burst), want],
    });
    const byKey = new Map(rows.map((r) => [r.key, r]));
    return specs.map((s) => {
      const r = byKey.get(s.key)!;
      const taken = Number(r.taken);
      const shared = Number(r.tokens);
      if (taken >= 1) {
        this.leases.set(s.key, { tokens: taken - 1, shared, expires: now + LEASE_MS });
        if (this.leases.size > 10_000) this.leases.delete(this.leases.keys().next().value!);
        return stateOf(s, shared + taken - 1, true);
      }
      this.leases.delete(s.key);
      return stateOf(s, shared, false);
    });
  }
}
