/**
 * Streams an export statement's rows out of PostgreSQL with `COPY (…) TO STDOUT`, as whole
 * lines, so a unit never holds more than one chunk in memory. Shared by the Bulk export units
 * and the view export units (src/views/export-unit.ts).
 */
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { LineBuffer } from './ndjson-writer.js';
import type { Statement } from './unit-query.js';

/** A PostgreSQL array literal (text form) for a text[] value. */
function arrayLiteral(items: unknown[]): string {
  return `{${items.map((s) => `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/**
 * COPY takes no bind parameters, so each `$n` becomes a literal, quoted by the driver's
 * escapeLiteral (the same quoting rules PostgreSQL documents for literals). Literals rather
 * than settings read with current_setting() matter: the planner sees the real tenant, type
 * and key range and estimates them, instead of guessing and choosing nested loops over
 * whole tables.
 */
function inlineLiterals(client: pg.PoolClient, st: Statement): string {
  const literal = (v: unknown): string => {
    if (v instanceof Date) return client.escapeLiteral(v.toISOString());
    if (Array.isArray(v)) return client.escapeLiteral(arrayLiteral(v));
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error('non-finite number in an export statement');
      return String(v);
    }
    if (typeof v === 'string') return client.escapeLiteral(v);
    throw new Error(`unsupported value in an export statement: ${typeof v}`);
  };
  return st.sql.replace(/\$(\d+)/g, (_, n: string) => literal(st.values[Number(n) - 1]));
}

/** Streams the statement's rows as lines ('\n'-terminated; columns separated by \x02) to `onLines`. */
export async function copyLines(pool: pg.Pool, st: Statement, signal: AbortSignal, onLines: (lines: Buffer) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  let copying = false;
  try {
    await client.query('BEGIN READ ONLY');
    await client.query('SET LOCAL statement_timeout = 0');
    const sql = inlineLiterals(client, st);
    // CSV with control characters as delimiter and quote: stored JSON never contains a raw
    // control character, so nothing is quoted or escaped and each row is its JSON verbatim.
    const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`));
    const lines = new LineBuffer();
    const onAbort = () => stream.destroy(new Error('export unit lost its lease'));
    signal.addEventListener('abort', onAbort, { once: true });
    copying = true;
    try {
      for await (const chunk of stream) {
        const complete = lines.push(chunk as Buffer);
        if (complete) await onLines(complete);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    copying = false;
    if (lines.rest.length) throw new Error('COPY output ended mid-line');
    await client.query('COMMIT');
  } catch (err) {
    // A COPY stopped midway leaves the connection mid-protocol: a ROLLBACK would queue behind
    // rows nobody reads and wait forever (the backend stuck writing to us). Closing the
    // connection instead ends the backend's transaction.
    if (!copying) await client.query('ROLLBACK').catch(() => undefined);
    client.release(err as Error);
    throw err;
  }
  client.release();
}
