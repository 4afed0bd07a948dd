/**
 * Local console accounts (embedded and demo mode; a payer's staff normally sign in through
 * OpenID Connect). Passwords are kept under scrypt with costlier parameters than client
 * secrets (auth/secrets.ts); a generated one-time password must be changed at first sign-in;
 * failed sign-ins in a row lock the account for a while.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { hashSecret, PASSWORD_PARAMS, verifySecret } from '../auth/secrets.js';
import type { AdminConfig } from '../config.js';
import { InvalidError, NotFoundError } from '../errors.js';
import { assertTenantId, tenantExists } from '../store/tenants.js';
import { isRole, type Role } from './roles.js';

export interface Account {
  id: number;
  email: string;
  role: Role;
  tenant: string | null;
  mustChangePassword: boolean;
  lockedUntil: Date | null;
  lastSignin: Date | null;
  createdAt: Date;
}

const EMAIL = /^[^\s@<>"']{1,64}@[^\s@<>"']{1,190}$/;
export const MIN_PASSWORD_LENGTH = 12;

function fromRow(r: Record<string, any>): Account {
  return {
    id: Number(r.id), email: r.email, role: r.role, tenant: r.tenant, mustChangePassword: r.must_change_password,
    lockedUntil: r.locked_until, lastSignin: r.last_signin, createdAt: r.created_at,
  };
}

export function assertPassword(password: string): void {
  if (typeof password !== 'string' || [...password].length < MIN_PASSWORD_LENGTH) throw new InvalidError(`A password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > 1024) throw new InvalidError('A password may have at most 1024 characters');
}

/** A one-time password: 18 random bytes, easy to copy (base64url). */
export function generatePassword(): string {
  return crypto.randomBytes(18).toString('base64url');
}

export interface NewAccount {
  email: string;
  role: string;
  tenant?: string | null;
  /** When absent a one-time password is generated, returned, and must be changed at first sign-in. */
  password?: string;
}

/** Creates an account; returns the generated one-time password when none was given. */
export async function addAccount(pool: pg.Pool, a: NewAccount): Promise<{ id: number; oneTimePassword?: string }> {
  if (!EMAIL.test(a.email)) throw new InvalidError(`'${a.email}' is not an email address`);
  if (!isRole(a.role)) throw new InvalidError('The role must be admin, operator or auditor');
  if (a.tenant) {
    assertTenantId(a.tenant);
    if (!(await tenantExists(pool, a.tenant))) throw new NotFoundError(`No tenant ${a.tenant}`);
  }
  const oneTimePassword = a.password === undefined ? generatePassword() : undefined;
  const password = a.password ?? oneTimePassword!;
  assertPassword(password);
  const hash = await hashSecret(password, PASSWORD_PARAMS);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO admin_account (email, role, tenant, password_hash, must_change_password) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING id`,
    [a.email, a.role, a.tenant || null, hash, oneTimePassword !== undefined],
  );
  if (!rows[0]) throw new InvalidError(`An account for ${a.email} exists already`);
  return { id: Number(rows[0].id), ...(oneTimePassword ? { oneTimePassword } : {}) };
}

export async function findAccount(pool: pg.Pool, email: string): Promise<Account | undefined> {
  const { rows } = await pool.query('SELECT * FROM admin_account WHERE lower(email) = lower($1)', [email]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function listAccounts(pool: pg.Pool): Promise<Account[]> {
  return (await pool.query('SELECT * FROM admin_account ORDER BY lower(email)')).rows.map(fromRow);
}

/** A hash to check unknown emails against, so they take as long as known ones. */
let decoy: Promise<string> | undefined;
function decoyHash(): Promise<string> {
  decoy ??= hashSecret(generatePassword(), PASSWORD_PARAMS);
  return decoy;
}

export type SignInResult = { ok: true; account: Account } | { ok: false; reason: 'invalid' | 'locked'; account?: Account };

/**
 * Checks an email and password. An unknown email costs the same scrypt as a known one. A
 * failure counts towards the lockout; a success resets the count.
 */
export async function checkPassword(pool: pg.Pool, email: string, password: string, cfg: AdminConfig): Promise<SignInResult> {
  const { rows } = await pool.query('SELECT * FROM admin_account WHERE lower(email) = lower($1)', [email]);
  const row = rows[0];
  const ok = await verifySecret(String(password).slice(0, 1024), row?.password_hash ?? (await decoyHash()));
  if (!row) return { ok: false, reason: 'invalid' };
  const account = fromRow(row);
  if (account.lockedUntil && account.lockedUntil > new Date()) return { ok: false, reason: 'locked', account };
  if (!ok) {
    const { rows: upd } = await pool.query(
      `UPDATE admin_account SET failed_signins = failed_signins + 1,
              locked_until = CASE WHEN failed_signins + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
        WHERE id = $1 RETURNING locked_until`,
      [account.id, cfg.lockoutFailures, cfg.lockoutMinutes],
    );
    const locked = upd[0]?.locked_until && upd[0].locked_until > new Date();
    return { ok: false, reason: locked ? 'locked' : 'invalid', account };
  }
  await pool.query('UPDATE admin_account SET failed_signins = 0, locked_until = NULL, last_signin = now() WHERE id = $1', [account.id]);
  return { ok: true, account };
}

/** Sets a new password (the old one checked by the caller); clears the must-change flag. */
export async function setPassword(pool: pg.Pool, accountId: number, password: string): Promise<void> {
  assertPassword(password);
  const hash = await hashSecret(password, PASSWORD_PARAMS);
  await pool.query('UPDATE admin_account SET password_hash = $2, must_change_password = false WHERE id = $1', [accountId, hash]);
}
