/**
 * Opens the one PostgreSQL the process works against: `DATABASE_URL` when given, else the
 * embedded server for DATA_DIR. Migrations run before the pool is handed out.
 */
import pg from 'pg';
import type { Config } from '../config.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './embedded.js';
import { migrate } from './migrations.js';

export interface Database {
  pool: pg.Pool;
  embedded?: EmbeddedDatabase;
  /** Closes the pool and stops the embedded server if this process owns it. */
  close(): Promise<void>;
}

const MIN_SERVER_VERSION = 150000;

export async function openDatabase(config: Config, log: (msg: string) => void = () => {}): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedDatabase(config.dataDir, log);
    url = embedded.url;
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: config.db.poolMax,
    connectionTimeoutMillis: config.db.connectTimeoutMs,
    statement_timeout: config.db.statementTimeoutMs || undefined,
    application_name: 'payer-fhir',
    // A peer that vanished without closing (network partition) is noticed instead of waited on.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', (err) => log(`idle database connection lost: ${err.message}`));
  // Nor may a checked-out client losing it between two queries of a transaction: the error
  // event has no other listener then; the next query (or release) reports the failure.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const close = async () => {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
  };
  try {
    const { rows } = await pool.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    if (Number(rows[0].v) < MIN_SERVER_VERSION) {
      throw new Error(`PostgreSQL 15 or newer is required (server reports ${rows[0].v})`);
    }
    await migrate(pool);
  } catch (err) {
    await close();
    throw err;
  }
  return { pool, embedded, close };
}

/** Runs `fn` in a transaction, retrying when PostgreSQL or the store reports a retryable conflict. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, attempts = 4): Promise<T> {
  return transaction(pool, async (client) => {
    await client.query('BEGIN');
  }, fn, attempts);
}

/**
 * The first statement of a write transaction: its transaction id assigned, then the clock read
 * (the order export kick-off relies on, src/store/resources.ts writeResources).
 */
export const WRITE_CLOCK_SQL = 'SELECT pg_current_xact_id() AS xid, clock_timestamp() AS now';

/**
 * inTransaction for a transaction that creates resources: BEGIN travels with WRITE_CLOCK_SQL
 * as one simple query, and `fn` gets that clock for writeResources (one round trip fewer per
 * transaction, which is most of a small write's cost on a busy host).
 */
export async function inWriteTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient, clock: Date) => Promise<T>, attempts = 4): Promise<T> {
  let clock!: Date;
  return transaction(pool, async (client) => {
    const results = (await client.query(`BEGIN; ${WRITE_CLOCK_SQL}`)) as unknown as pg.QueryResult<{ now: Date }>[];
    clock = results[1].rows[0].now;
  }, (client) => fn(client, clock), attempts);
}

async function transaction<T>(pool: pg.Pool, begin: (client: pg.PoolClient) => Promise<void>, fn: (client: pg.PoolClient) => Promise<T>, attempts: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await begin(client);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (attempt < attempts && isRetryable(err)) continue;
      throw err;
    } finally {
      client.release();
    }
  }
}

/** Serialization failure, deadlock, or a concurrent create of the same id (see store/resources.ts). */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string; retryable?: boolean }).code;
  return code === '40001' || code === '40P01' || (err as { retryable?: boolean }).retryable === true;
}
