// Migration 7: resource JSON large enough to be compressed is compressed with lz4 when the
// PostgreSQL build has it (the embedded one does not, and keeps pglz), in current and history
// rows, and reads back exactly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('resource JSON compression (migration 7)', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('toast'));
  });
  after(() => server.close());

  async function lz4Available(): Promise<boolean> {
    const client = await server.db.pool.connect();
    try {
      await client.query('CREATE TEMP TABLE lz4_probe (c text COMPRESSION lz4)');
      await client.query('DROP TABLE lz4_probe');
      return true;
    } catch (err) {
      assert.equal((err as { code?: string }).code, '0A000', 'only "not supported" may stop the probe');
      return false;
    } finally {
      client.release();
    }
  }

  it('a large resource is stored compressed with lz4 (pglz without lz4 support), before and after an update, and reads back exactly', async () => {
    const expected = (await lz4Available()) ? 'lz4' : 'pglz';
    const { rows: columns } = await server.db.pool.query<{ table: string; method: string }>(
      `SELECT attrelid::regclass::text AS table, attcompression AS method FROM pg_attribute
        WHERE attrelid IN ('resource'::regclass, 'resource_history'::regclass) AND attname = 'content' ORDER BY 1`,
    );
    assert.deepEqual(columns, [
      { table: 'resource', method: expected === 'lz4' ? 'l' : '' },
      { table: 'resource_history', method: expected === 'lz4' ? 'l' : '' },
    ]);

    // About 12 kB of repetitive JSON: well past the 2 kB threshold, and compressible.
    const names = Array.from({ length: 150 }, (_, i) => ({ family: `Family-${i}`, given: ['Given', 'Middle'] }));
    const put = (family: string) => http(`${base}/Patient/big`, { method: 'PUT', body: { resourceType: 'Patient', id: 'big', name: [{ family }, ...names] } });
    assert.equal((await put('First')).status, 201);
    assert.equal((await put('Second')).status, 200);
    const stored = async (table: string) =>
      (await server.db.pool.query<{ method: string; bytes: number; stored: number }>(
        `SELECT pg_column_compression(content) AS method, octet_length(content) AS bytes, pg_column_size(content) AS stored FROM ${table} WHERE tenant = $1 AND type = 'Patient' AND id = 'big'`,
        [tenant],
      )).rows;
    for (const table of ['resource', 'resource_history']) {
      const rows = await stored(table);
      assert.equal(rows.length, 1, table);
      assert.equal(rows[0].method, expected, table);
      assert.ok(rows[0].stored < rows[0].bytes / 2, `${table}: ${rows[0].stored} stored bytes for ${rows[0].bytes}`);
    }
    const read = await http(`${base}/Patient/big`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.json.name, [{ family: 'Second' }, ...names]);
    const first = await http(`${base}/Patient/big/_history/1`);
    assert.deepEqual(first.json.name, [{ family: 'First' }, ...names]);
  });
});
