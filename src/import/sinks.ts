/**
 * Where a batch of write requests goes: always `performWrites`, the API's write pipeline.
 *
 * skip mode: each batch is its own database transaction, so a failed batch leaves earlier
 * ones in place. abort mode: a whole file is one transaction, and each batch runs under a
 * savepoint so a failing batch can be searched for its bad resource before everything from
 * the file is rolled back.
 */
import type pg from 'pg';
import { performWrites, type WriteOutcome, type WriteRequest } from '../interactions/writes.js';
import { LoadStatistics } from '../store/statistics.js';
import { isRetryable } from '../store/database.js';

export interface WriteSink {
  /**
   * Writes the requests all or nothing. `retrySafe` asks for fresh copies per attempt: a
   * retried transaction must start from the requests as parsed, since performWrites assigns
   * ids and rewrites `urn:uuid:` references in place.
   */
  write(requests: WriteRequest[], retrySafe: boolean): Promise<WriteOutcome[]>;
}

const ATTEMPTS = 4;

/**
 * The statement that opens a bulk-load transaction (import and seed). Resource JSON is a few
 * kB, so PostgreSQL compresses nearly every row; lz4, where the server has it, costs a
 * fraction of the default pglz, and reads decompress either transparently. Commits do not
 * wait for the WAL flush: the loader calls `flushCommits` before it reports success, so
 * nothing it reported can be lost. SET LOCAL keeps both settings to the transaction.
 */
export async function beginStatement(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ lz4: boolean }>(
    "SELECT 'lz4' = ANY (enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'",
  );
  return `BEGIN; SET LOCAL synchronous_commit = off${rows[0]?.lz4 ? "; SET LOCAL default_toast_compression = 'lz4'" : ''}`;
}

/**
 * Makes every earlier asynchronous commit durable: a synchronous commit waits for the WAL up
 * to its own record, and WAL is flushed in order. txid_current() gives the transaction an id,
 * so it really writes a commit record.
 */
export async function flushCommits(pool: pg.Pool): Promise<void> {
  await pool.query('BEGIN; SET LOCAL synchronous_commit = on; SELECT txid_current(); COMMIT');
}

function copies(requests: WriteRequest[]): WriteRequest[] {
  return requests.map((r) => (r.resource ? { ...r, resource: structuredClone(r.resource) } : { ...r }));
}

/**
 * One transaction per batch, retried on serialization conflicts like an API request
 * (the same rule as store/database.ts inTransaction, with the import's own BEGIN).
 */
export function transactionPerBatch(pool: pg.Pool, tenant: string, begin: string): WriteSink {
  // Committed batches keep the planner's picture of the tenant current while a large load runs.
  const statistics = new LoadStatistics(pool);
  const once = async (requests: WriteRequest[], retrySafe: boolean | undefined): Promise<WriteOutcome[]> => {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query(begin);
        const out = await performWrites(client, tenant, retrySafe ? copies(requests) : requests);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        broken = !(await client.query('ROLLBACK').then(
          () => true,
          () => false,
        ));
        if (attempt < ATTEMPTS && isRetryable(err)) continue;
        throw err;
      } finally {
        client.release(broken || undefined);
      }
    }
  };
  return {
    async write(requests, retrySafe) {
      const out = await once(requests, retrySafe);
      await statistics.wrote(out.length);
      return out;
    },
  };
}

/** Batches inside the caller's open transaction on `client`, each under a savepoint. */
export function savepointPerBatch(client: pg.PoolClient, tenant: string): WriteSink {
  return {
    async write(requests) {
      await client.query('SAVEPOINT import_batch');
      try {
        const out = await performWrites(client, tenant, requests);
        await client.query('RELEASE SAVEPOINT import_batch');
        return out;
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT import_batch').catch(() => undefined);
        throw err;
      }
    },
  };
}
