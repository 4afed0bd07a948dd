/** What every interaction needs: the database, configuration, and the tenant it serves. */
import type pg from 'pg';
import type { Access } from '../auth/access.js';
import type { Issue } from '../errors.js';
import type { Config } from '../config.js';
import type { CursorCodec } from '../http/cursor.js';
import type { CurrentReads } from '../store/current-reads.js';
import type { RestrictingPolicy } from '../policy/partner-policy.js';

export interface ServerContext {
  config: Config;
  pool: pg.Pool;
  cursors: CursorCodec;
  /**
   * The HTTP server's read coalescing, used only while `pool` is the pool it serves (a context
   * whose `pool` is a transaction's connection reads directly); import, seed and benches have none.
   */
  reads?: CurrentReads<RestrictingPolicy>;
}

export interface TenantContext extends ServerContext {
  tenant: string;
  /** Absolute FHIR base URL of the tenant. */
  base: string;
  /**
   * The caller's granted scopes. Every HTTP request has one; only trusted in-process callers
   * (import, seed) run without, and then nothing is restricted.
   */
  access?: Access;
}

/**
 * An interaction's answer, independent of the HTTP framework: the route adapter sends it,
 * and batch/transaction processing embeds it in a response Bundle entry.
 */
export interface FhirResponse {
  status: number;
  /** FHIR JSON text (or raw bytes for Binary served as its own type). */
  body?: string | Buffer;
  contentType?: string;
  etag?: string;
  lastModified?: Date;
  location?: string;
  headers?: Record<string, string>;
  /** Resources in the body, for the audit record (search matches and includes). */
  resources?: number;
  /**
   * Warnings about a written resource (warning-severity invariants), answered in the
   * OperationOutcome a client asks for with `Prefer: return=OperationOutcome`.
   */
  issues?: Issue[];
}
