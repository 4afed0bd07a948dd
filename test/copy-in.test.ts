/**
 * COPY text format (src/store/copy-in.ts), used for the audit trail's appends: every value
 * comes back from PostgreSQL exactly as written, whatever characters it holds, and a bad row
 * fails the whole COPY inside its transaction, leaving nothing behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { copyIn, copyRow } from '../src/store/copy-in.js';
import { inTransaction } from '../src/store/database.js';

describe('COPY FROM STDIN rows', () => {
  let pool: pg.Pool;
  const table = `copy_in_test_${process.pid}`;
  before(async () => {
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    await pool.query(`CREATE TABLE ${table} (n int PRIMARY KEY, t text, b bytea, at timestamptz, big bigint)`);
  });
  after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.end();
  });

  it('text with tabs, newlines, CR, backslashes, \\N and non-ASCII; null; bytea; timestamps; bigints — all round-trip', async () => {
    const texts = ['plain', 'tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash', '\\N', '\\x00', 'Zoë Müller — 患者', '', ' leading space', 'end\\'];
    const at = new Date('2026-11-29T10:11:12.345Z');
    const bytes = Buffer.from([0, 1, 0x5c, 0x09, 0x0a, 0xff]);
    let text = '';
    texts.forEach((t, i) => (text += copyRow([i, t, bytes, at, 2 ** 40 + i])));
    text += copyRow([texts.length, null, null, null, null]);
    await inTransaction(pool, (c) => copyIn(c, `${table} (n, t, b, at, big)`, text));
    const { rows } = await pool.query(`SELECT n, t, b, at, big FROM ${table} ORDER BY n`);
    assert.deepEqual(rows.slice(0, texts.length).map((r) => r.t), texts);
    for (const r of rows.slice(0, texts.length)) {
      assert.deepEqual(r.b, bytes);
      assert.equal((r.at as Date).toISOString(), at.toISOString());
      assert.equal(Number(r.big), 2 ** 40 + r.n);
    }
    assert.deepEqual(rows[texts.length], { n: texts.length, t: null, b: null, at: null, big: null });
  });

  it('a row the table refuses fails the COPY, and the transaction leaves no row', async () => {
    const before = (await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
    const text = copyRow([1000, 'fine', null, null, null]) + copyRow([1000, 'duplicate key', null, null, null]);
    await assert.rejects(inTransaction(pool, (c) => copyIn(c, `${table} (n, t, b, at, big)`, text)), /duplicate key/);
    assert.equal((await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, before);
  });
});
