/**
 * Replay protection for client assertions (TOK-47): every accepted (client, jti) is kept
 * in PostgreSQL until the assertion's expiry plus leeway, so a second use is refused by
 * any server process. Expired rows are purged as a side effect of new inserts.
 */
import type pg from 'pg';

let lastPurge = 0;

export async function recordJti(pool: pg.Pool, tenant: string, clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
  const res = await pool.query(
    `INSERT INTO assertion_jti (tenant, client_id, jti, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant, client_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
       WHERE assertion_jti.expires_at < clock_timestamp()`,
    [tenant, clientId, jti, expiresAt],
  );
  if (Date.now() - lastPurge > 60_000) {
    lastPurge = Date.now();
    await pool.query('DELETE FROM assertion_jti WHERE expires_at < clock_timestamp()');
  }
  // An expired record may be reused; a live one means this jti was already accepted.
  return res.rowCount === 1;
}
