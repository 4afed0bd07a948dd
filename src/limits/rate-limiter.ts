/**
 * Token buckets shared by every server process. Each request takes one token from each of
 * its buckets (the client's, the tenant's; for the token endpoint the claimed client's and
 * the source address's); a bucket refills at `rate` tokens a second up to `burst`.
 * PostgreSQL holds the buckets: one upsert computes refill and take atomically under the row
 * lock. So that a busy client's requests do not all queue on that one row, a process claims
 * a small lease of tokens (1/20 of the burst) per round trip and spends it locally for up to a
 * second; with small bursts the lease is one token and the limit is exact across processes.
 * Unspent tokens always go back (see PgRateLimiter), so leasing never costs a client its rate.
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

/** What one claim round trip got for a key: `taken` tokens (0 when the bucket was empty). */
interface ClaimOutcome {
  taken: number;
  shared: number;
}

/** A lease is spent or handed back within this time, so unspent tokens are not held away from other processes for long. */
const LEASE_MS = 1_000;
/** Tokens claimed per round trip: 1/20 of the burst (1 for small bursts, which are then exact). */
export function leaseSize(burst: number): number {
  return Math.max(1, Math.floor(burst / 20));
}

/**
 * The accounting that keeps the limit honest: every token this process removes from a shared
 * bucket is either spent on exactly one admitted request or handed back. So a process holds at
 * most one lease per key (never two claims in flight for one key: requests that miss while a
 * claim is out wait for it and share what it brings), an expired lease's unspent tokens go back
 * with the next claim or with the sweep that runs every LEASE_MS, and a request refused by one
 * of its buckets returns the tokens it took from the others. Hence a client is never admitted
 * beyond `burst + rate × time`, and is refused at most one lease per process early (the tokens
 * other processes hold at that moment).
 */
export class PgRateLimiter implements RateLimiter {
  private readonly leases = new Map<string, Lease>();
  /** The claim in flight per key, at most one. */
  private readonly claims = new Map<string, Promise<ClaimOutcome>>();
  /** Keys waiting for the next claim statement (gathered over one turn of the event loop). */
  private pending = new Map<string, { spec: BucketSpec; give: number; settle: (o: ClaimOutcome) => void; fail: (e: unknown) => void }>();
  /** Tokens owed back to a bucket whose lease was already handed back (refunds that arrived late). */
  private readonly owed = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly pool: pg.Pool) {
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), LEASE_MS);
    this.sweeper.unref();
  }

  async take(specs: BucketSpec[]): Promise<BucketState[]> {
    if (!specs.length) return [];
    const got = await Promise.all(specs.map((s) => this.takeOne(s)));
    if (got.some((g) => !g.state.allowed)) {
      // All or nothing: a request refused by one bucket does not spend the others' tokens.
      for (const g of got) if (g.state.allowed && g.lease) this.refund(g.spec.key, g.lease);
    }
    return got.map((g) => g.state);
  }

  /** Hands every unspent token back (server shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.allSettled(this.claims.values());
    for (const [key, lease] of this.leases) this.owe(key, lease.tokens);
    this.leases.clear();
    await this.flushOwed();
  }

  private async takeOne(spec: BucketSpec): Promise<{ spec: BucketSpec; lease?: Lease; state: BucketState }> {
    for (;;) {
      const lease = this.leases.get(spec.key);
      if (lease && lease.tokens >= 1 && lease.expires > Date.now()) {
        lease.tokens -= 1;
        return { spec, lease, state: stateOf(spec, lease.shared + lease.tokens, true) };
      }
      const outcome = await (this.claims.get(spec.key) ?? this.claim(spec));
      // An empty bucket refuses everyone who waited on that claim; otherwise try the new lease
      // (others waiting on the same claim may have spent it, then claim again).
      if (outcome.taken < 1) return { spec, state: stateOf(spec, outcome.shared, false) };
    }
  }

  /** Starts the one claim for `spec.key`; claims started in the same turn share one statement. */
  private claim(spec: BucketSpec): Promise<ClaimOutcome> {
    const old = this.leases.get(spec.key);
    this.leases.delete(spec.key);
    const give = (old?.tokens ?? 0) + this.takeOwed(spec.key);
    const promise = new Promise<ClaimOutcome>((settle, fail) => {
      // A microtask: the buckets of one request (client, tenant) are claimed in one statement.
      if (!this.pending.size) queueMicrotask(() => void this.flushClaims());
      this.pending.set(spec.key, { spec, give, settle, fail });
    });
    this.claims.set(spec.key, promise);
    const done = () => {
      if (this.claims.get(spec.key) === promise) this.claims.delete(spec.key);
    };
    promise.then(done, done);
    return promise;
  }

  private async flushClaims(): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    // Keys in a fixed order, so two statements sharing buckets lock them in the same order.
    batch.sort((a, b) => (a.spec.key < b.spec.key ? -1 : 1));
    try {
      const { rows } = await this.pool.query<{ key: string; tokens: number; taken: number }>({
        name: 'rate-bucket-claim',
        text: `WITH s AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) AS s(key, rate, burst, want, give))
         INSERT INTO rate_bucket AS b (key, rate, burst, tokens, at, taken)
         SELECT key, rate, burst, burst - want, clock_timestamp(), want FROM s
         ON CONFLICT (key) DO UPDATE SET
           rate = EXCLUDED.rate,
           burst = EXCLUDED.burst,
           at = clock_timestamp(),
           taken = least(EXCLUDED.taken, floor(least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate + (SELECT give FROM s WHERE s.key = b.key)))),
           tokens = least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate + (SELECT give FROM s WHERE s.key = b.key))
             - least(EXCLUDED.taken, floor(least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * EXCLUDED.rate + (SELECT give FROM s WHERE s.key = b.key))))
         RETURNING key, tokens, taken`,
        values: [batch.map((c) => c.spec.key), batch.map((c) => c.spec.rate), batch.map((c) => c.spec.burst), batch.map((c) => leaseSize(c.spec.burst)), batch.map((c) => c.give)],
      });
      const now = Date.now();
      const byKey = new Map(rows.map((r) => [r.key, r]));
      for (const c of batch) {
        const r = byKey.get(c.spec.key)!;
        const outcome = { taken: Number(r.taken), shared: Number(r.tokens) };
        if (outcome.taken >= 1) this.leases.set(c.spec.key, { tokens: outcome.taken, shared: outcome.shared, expires: now + LEASE_MS });
        c.settle(outcome);
      }
    } catch (err) {
      // The statement changed nothing: the tokens meant to go back are still owed.
      for (const c of batch) {
        this.owe(c.spec.key, c.give);
        c.fail(err);
      }
    }
  }

  /** A token taken for a request that was refused elsewhere goes back to its lease, or is owed. */
  private refund(key: string, lease: Lease): void {
    if (this.leases.get(key) === lease) lease.tokens += 1;
    else this.owe(key, 1);
  }

  private owe(key: string, n: number): void {
    if (n > 0) this.owed.set(key, (this.owed.get(key) ?? 0) + n);
  }

  private takeOwed(key: string): number {
    const n = this.owed.get(key) ?? 0;
    this.owed.delete(key);
    return n;
  }

  /** Hands back the unspent tokens of leases that expired with no request to claim again. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [key, lease] of this.leases) {
      if (lease.expires <= now && !this.claims.has(key)) {
        this.leases.delete(key);
        this.owe(key, lease.tokens);
      }
    }
    await this.flushOwed();
  }

  private async flushOwed(): Promise<void> {
    const keys = [...this.owed.keys()].filter((k) => !this.claims.has(k)).sort();
    if (!keys.length) return;
    const give = keys.map((k) => this.takeOwed(k));
    try {
      await this.pool.query({
        name: 'rate-bucket-give-back',
        text: `UPDATE rate_bucket AS b
            SET tokens = least(b.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.at) * b.rate + s.give), at = clock_timestamp()
           FROM unnest($1::text[], $2::float8[]) AS s(key, give)
          WHERE b.key = s.key`,
        values: [keys, give],
      });
    } catch {
      keys.forEach((k, i) => this.owe(k, give[i]));
    }
  }
}
