/**
 * Fetches clients' registered JWKS URLs (TOK-32): GET with `Accept: application/json`, a
 * timeout and a size limit; cached no longer than the response's Cache-Control allows;
 * re-fetched at most once per interval when an assertion names an unknown `kid`, so key
 * rotation works without re-registration and a flood of bad kids cannot hammer the URL.
 */
import type { Jwks } from './clients.js';

export interface JwksFetcherOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Lifetime when the response carries no Cache-Control max-age. */
  defaultTtlMs: number;
  /** Minimum time between forced re-fetches of one URL. */
  refetchIntervalMs: number;
}

const DEFAULTS: JwksFetcherOptions = { timeoutMs: 5_000, maxBytes: 256 * 1024, defaultTtlMs: 5 * 60_000, refetchIntervalMs: 10_000 };

interface Entry {
  keys: Record<string, unknown>[];
  expires: number;
  /** When the last forced (unknown-kid) re-fetch happened. */
  forcedAt: number;
}

export class JwksFetchError extends Error {}

function cacheLifetime(header: string | null, fallback: number): number {
  if (!header) return fallback;
  const h = header.toLowerCase();
  if (/no-store|no-cache/.test(h)) return 0;
  const m = /max-age=(\d+)/.exec(h);
  return m ? Number(m[1]) * 1000 : fallback;
}

export class JwksFetcher {
  private readonly cache = new Map<string, Entry>();
  private readonly opts: JwksFetcherOptions;

  constructor(opts: Partial<JwksFetcherOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /**
   * The keys at `url`. With `refresh`, bypasses a cached copy unless it was fetched within
   * the re-fetch interval (the unknown-kid path).
   */
  async keys(url: string, refresh = false): Promise<Record<string, unknown>[]> {
    const now = Date.now();
    const cached = this.cache.get(url);
    if (cached) {
      const fresh = cached.expires > now;
      // Forced re-fetches are limited on their own clock, so a rotation right after an ordinary
      // fetch is still seen, while a flood of unknown kids costs at most one fetch per interval.
      const recentlyForced = now - cached.forcedAt < this.opts.refetchIntervalMs;
      if ((fresh && !refresh) || (refresh && recentlyForced)) return cached.keys;
    }
    const { keys, ttl } = await this.fetch(url);
    this.cache.set(url, { keys, expires: now + ttl, forcedAt: refresh ? now : (cached?.forcedAt ?? 0) });
    return keys;
  }

  private async fetch(url: string): Promise<{ keys: Record<string, unknown>[]; ttl: number }> {
    let res: Response;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(this.opts.timeoutMs) });
    } catch {
      throw new JwksFetchError('the registered JWKS URL could not be fetched');
    }
    if (!res.ok) throw new JwksFetchError(`the registered JWKS URL answered HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > this.opts.maxBytes) throw new JwksFetchError('the JWKS document is too large');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > this.opts.maxBytes) throw new JwksFetchError('the JWKS document is too large');
      chunks.push(Buffer.from(chunk));
    }
    let doc: Jwks;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Jwks;
    } catch {
      throw new JwksFetchError('the JWKS document is not JSON');
    }
    if (!doc || !Array.isArray(doc.keys)) throw new JwksFetchError('the JWKS document has no "keys" array');
    return { keys: doc.keys.filter((k) => k && typeof k === 'object'), ttl: cacheLifetime(res.headers.get('cache-control'), this.opts.defaultTtlMs) };
  }
}
