/**
 * Client secrets: shown once, stored only as a slow salted hash (scrypt), compared in
 * constant time (TOK-52).
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;
const PARAMS = { N: 16384, r: 8, p: 1 };
/** Memory each hash takes (128·N·r bytes), with headroom: past Node's 32 MiB default for stronger params. */
const maxmem = (N: number, r: number) => 256 * N * r;

/** Passwords (people choose them, unlike secrets): a costlier scrypt, 64 MiB per hash. */
export const PASSWORD_PARAMS = { N: 65536, r: 8, p: 1 };
const KEY_LENGTH = 32;

export function newSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** `scrypt$N$r$p$salt$hash`, all base64url. */
export async function hashSecret(secret: string, params: { N: number; r: number; p: number } = PARAMS): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(secret, salt, KEY_LENGTH, { ...params, maxmem: maxmem(params.N, params.r) });
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Verifies a secret against its stored hash; the comparison is constant-time. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: maxmem(Number(n), Number(r)) });
  return crypto.timingSafeEqual(actual, expected);
}

/** A hash of a random secret, to spend the same time when the client is unknown. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashSecret(newSecret());
  return decoy;
}
