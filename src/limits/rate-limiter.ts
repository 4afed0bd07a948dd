/**
 * Token buckets shared by every server process. Each request takes one token from each of
 * its buckets (the client's, the tenant's; for the token endpoint the claimed client's and
 * the source address's); a bucket refills at `rate` tokens a second up to `burst`.
 * PostgreSQL holds the buckets by default — one upsert per request computes refill and take
 * atomically under the row lock — and Redis does when REDIS_URL is set (one Lua call).
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
  close(): Promise<void>;
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

export class PgRateLimiter implements RateLimiter {
  constructor(private readonly pool: pg.Pool) {}

  async take(specs: BucketSpec[]): Promise<BucketState[]> {
    if (!specs.length) return [];
    // Keys in a fixed order, so two requests sharing buckets lock them in the same order.
    const sorted = [...specs].sort((a, b) => (a.key < b.key ? -1 : 1));
    const { rows } = await this.pool.query<{ key: string; tokens: number; ok: boolean }>(
      `INSERT INTO rate_bucket AS b (key, rate, burst, tokens, at, ok)
       SELECT key, rate, burst, burst - 1, clock_timestamp(), true FROM unnest($1::text[], $2::float8[], $3::float8[]) AS s(key, rate, burst)
       ON CONFLICT (key) DO UPDATE SET
         rate = EXCLUDED.rate,
         burst = EXCLUDED.burst,
         at = clock_timestamp(),
         ok = least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate) >= 1,
         tokens = least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate)
           - CASE WHEN least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate) >= 1 THEN 1 ELSE 0 END
       RETURNING key, tokens, ok`,
      [sorted.map((s) => s.key), sorted.map((s) => s.rate), sorted.map((s) => s.burst)],
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    return specs.map((s) => {
      const r = byKey.get(s.key)!;
      return stateOf(s, Number(r.tokens), r.ok);
    });
  }

  async close(): Promise<void> {}
}
