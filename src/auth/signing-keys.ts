/**
 * Keys that sign access tokens, kept in PostgreSQL so every server process signs and
 * verifies with the same set. `keys rotate-server` adds a new key and retires the old one;
 * a retired key still verifies until the longest-lived token it could have signed expires.
 */
import crypto from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type pg from 'pg';
import { MAX_TOKEN_TTL } from './clients.js';

export const TOKEN_ALG = 'ES256';

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  createdAt: Date;
  retiredAt: Date | null;
}

async function insertKey(db: pg.Pool | pg.PoolClient): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
  const kid = crypto.randomUUID();
  const priv = { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALG };
  const pub = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' };
  await db.query('INSERT INTO signing_key (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3, $4)', [kid, TOKEN_ALG, priv, pub]);
  return kid;
}

/** Adds a new signing key and retires the others; returns the new kid. */
export async function rotateSigningKey(pool: pg.Pool): Promise<string> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('UPDATE signing_key SET retired_at = clock_timestamp() WHERE retired_at IS NULL');
    const kid = await insertKey(client);
    await client.query('COMMIT');
    return kid;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private lastLoad = 0;

  constructor(private readonly pool: pg.Pool) {}

  /** Loads the keys, creating the first one if there is none yet. */
  async load(): Promise<void> {
    const { rows } = await this.pool.query(
      `SELECT kid, private_jwk, public_jwk, created_at, retired_at FROM signing_key
        WHERE retired_at IS NULL OR retired_at > clock_timestamp() - make_interval(secs => $1)
        ORDER BY created_at`,
      [MAX_TOKEN_TTL + 120],
    );
    if (rows.length === 0) {
      // Two processes starting at once may each create one; both keys are then valid.
      await insertKey(this.pool);
      return this.load();
    }
    const next = new Map<string, LoadedKey>();
    for (const r of rows) {
      next.set(r.kid, {
        kid: r.kid,
        privateKey: (await importJWK(r.private_jwk as JWK, TOKEN_ALG)) as CryptoKey,
        publicKey: (await importJWK(r.public_jwk as JWK, TOKEN_ALG)) as CryptoKey,
        createdAt: r.created_at,
        retiredAt: r.retired_at,
      });
    }
    this.keys = next;
    this.lastLoad = Date.now();
  }

  /** The newest unretired key, which signs new tokens. */
  async signingKey(): Promise<LoadedKey> {
    if (Date.now() - this.lastLoad > 60_000 || this.keys.size === 0) await this.load();
    const active = [...this.keys.values()].filter((k) => !k.retiredAt);
    const pool = active.length ? active : [...this.keys.values()];
    return pool[pool.length - 1];
  }

  /** The verification key for a kid; reloads (at most every few seconds) for kids another process created. */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.lastLoad > 5_000) {
      await this.load();
      key = this.keys.get(kid);
    }
    if (!key) return undefined;
    if (key.retiredAt && key.retiredAt.getTime() + (MAX_TOKEN_TTL + 120) * 1000 < Date.now()) return undefined;
    return key.publicKey;
  }
}
