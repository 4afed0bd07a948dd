/**
 * `COPY … FROM STDIN` in PostgreSQL's text format, for appends where a multi-row INSERT's
 * parameter handling would cost more than the rows themselves (the audit trail: the driver
 * escaped twenty arrays element by element, and the server parsed them back).
 */
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** One field in COPY text format: `\N` for null; backslash, tab, newline and CR escaped. */
export function copyField(v: string | number | bigint | boolean | Date | Buffer | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  // bytea in hex form; its leading backslash is itself escaped in the text format.
  if (Buffer.isBuffer(v)) return `\\\\x${v.toString('hex')}`;
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

/** One row: its fields tab-separated, newline-terminated. */
export function copyRow(fields: Parameters<typeof copyField>[0][]): string {
  return `${fields.map(copyField).join('\t')}\n`;
}

/**
 * Sends `text` (whole rows) through `COPY <target> FROM STDIN` on `client`, which should be
 * inside the caller's transaction so a failure leaves nothing behind.
 */
export async function copyIn(client: pg.PoolClient, target: string, text: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
  stream.end(text);
  await finished(stream);
}
