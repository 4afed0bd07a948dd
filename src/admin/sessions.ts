/**
 * Console sessions, in PostgreSQL so any server process serves any request. The cookie holds
 * a random token; the table holds only its SHA-256, the person's role and tenant as of
 * sign-in, a CSRF token, and the idle and absolute deadlines. Every request moves the idle
 * deadline (at most once a minute, to spare writes); past either deadline the session is gone.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import type { AdminConfig } from '../config.js';
import type { Principal, Role } from './roles.js';

export interface Session extends Principal {
  tokenHash: Buffer;
  accountId: number | null;
  csrfToken: string;
  mustChangePassword: boolean;
  createdAt: Date;
  lastSeen: Date;
  expiresAt: Date;
}

const hashToken = (token: string): Buffer => crypto.createHash('sha256').update(token).digest();

function fromRow(r: Record<string, any>): Session {
  return {
    tokenHash: r.token_hash, accountId: r.account_id === null ? null : Number(r.account_id), email: r.email, role: r.role as Role,
    tenant: r.tenant, source: r.source, csrfToken: r.csrf_token, mustChangePassword: r.must_change_password,
    createdAt: r.created_at, lastSeen: r.last_seen, expiresAt: r.expires_at,
  };
}

export interface NewSession extends Principal {
  accountId: number | null;
  mustChangePassword: boolean;
}

/** Starts a session; returns the cookie's token (shown to nobody else) and the session. */
export async function createSession(pool: pg.Pool, s: NewSession, cfg: AdminConfig): Promise<{ token: string; session: Session }> {
  const token = crypto.randomBytes(32).toString('base64url');
  const { rows } = await pool.query(
    `INSERT INTO admin_session (token_hash, account_id, email, role, tenant, source, csrf_token, must_change_password, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(hours => $9)) RETURNING *`,
    [hashToken(token), s.accountId, s.email, s.role, s.tenant, s.source, crypto.randomBytes(32).toString('base64url'), s.mustChangePassword, cfg.sessionMaxHours],
  );
  return { token, session: fromRow(rows[0]) };
}

/**
 * The live session of a cookie token, its idle deadline moved on; undefined when unknown,
 * idle too long or past its absolute end (and then removed).
 */
export async function touchSession(pool: pg.Pool, token: string, cfg: AdminConfig): Promise<Session | undefined> {
  const hash = hashToken(token);
  const { rows } = await pool.query(
    `UPDATE admin_session SET last_seen = CASE WHEN last_seen < now() - interval '1 minute' THEN now() ELSE last_seen END
      WHERE token_hash = $1 AND expires_at > now() AND last_seen > now() - make_interval(mins => $2)
      RETURNING *`,
    [hash, cfg.sessionIdleMinutes],
  );
  if (rows[0]) return fromRow(rows[0]);
  await pool.query('DELETE FROM admin_session WHERE token_hash = $1', [hash]);
  return undefined;
}

export async function endSession(pool: pg.Pool, tokenHash: Buffer): Promise<void> {
  await pool.query('DELETE FROM admin_session WHERE token_hash = $1', [tokenHash]);
}

/** Ends every session of an account but one (after a password change). */
export async function endOtherSessions(pool: pg.Pool, accountId: number, keep: Buffer): Promise<void> {
  await pool.query('DELETE FROM admin_session WHERE account_id = $1 AND token_hash <> $2', [accountId, keep]);
}

export async function clearMustChange(pool: pg.Pool, tokenHash: Buffer): Promise<void> {
  await pool.query('UPDATE admin_session SET must_change_password = false WHERE token_hash = $1', [tokenHash]);
}

/** Removes sessions past either deadline (run now and then; a stale row is refused anyway). */
export async function sweepSessions(pool: pg.Pool, cfg: AdminConfig): Promise<void> {
  await pool.query(`DELETE FROM admin_session WHERE expires_at < now() OR last_seen < now() - make_interval(mins => $1)`, [cfg.sessionIdleMinutes]);
  await pool.query(`DELETE FROM admin_oidc_state WHERE created_at < now() - interval '10 minutes'`);
}

/** Constant-time comparison of the CSRF token a request carries with the session's. */
export function csrfMatches(session: Session, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
