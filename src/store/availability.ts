/**
 * Whether a failure means "the database is away" — shut down, restarting, unreachable, out of
 * connections — rather than anything wrong with the request. The one classification every
 * edge uses: FHIR answers (src/http/outcome.ts), the token endpoint, readiness, export workers
 * and metrics. Such failures are answered 503 with Retry-After; the pool reconnects by itself
 * once PostgreSQL is back, so nothing needs restarting.
 */
import { UnavailableError } from '../errors.js';

/**
 * SQLSTATEs: class 08 (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown,
 * 57P03 cannot_connect_now (starting up or shutting down), 53300 too_many_connections.
 */
const SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/;

/** Socket errors on the way to the database. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EAI_AGAIN']);

/** pg and pg-pool report lost connections and connect timeouts by message only. */
const MESSAGE = /Connection terminated|timeout exceeded when trying to connect|is not queryable/i;

/** Seconds a client is asked to wait before retrying while the database is away. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** True when `err` (or, for a connection attempt to several addresses, any of its causes) says the database is unreachable. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (SQLSTATE.test(e.code) || NETWORK.has(e.code))) return true;
  if (typeof e.message === 'string' && MESSAGE.test(e.message)) return true;
  return Array.isArray(e.errors) && e.errors.some(isDatabaseUnavailable);
}

/** The typed 503 for a failure that means the database is away; undefined for any other failure. */
export function databaseUnavailable(err: unknown): UnavailableError | undefined {
  return isDatabaseUnavailable(err) ? new UnavailableError('The database is unavailable; retry shortly', DATABASE_RETRY_AFTER_SECONDS) : undefined;
}
