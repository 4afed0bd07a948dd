// Prepared search statements (store/statement-names.ts): a shape is named once and reused, the
// number of named shapes is capped, PostgreSQL really keeps and reuses them, and a search gives
// the same exact matches whether PostgreSQL plans it for the values or generically.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { CursorCodec } from '../src/http/cursor.js';
import { search } from '../src/interactions/search.js';
import { loadCursorKey } from '../src/server.js';
import { performWrites } from '../src/interactions/writes.js';
import { inWriteTransaction } from '../src/store/database.js';
import { namedShapes, setStatementShapeLimit, shapedQuery, shapedWrite } from '../src/store/statement-names.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';

describe('prepared search statements', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('shapes'));
    const put = async (r: any) => assert.ok((await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r })).status < 300);
    for (const p of ['p1', 'p2', 'p3']) await put({ resourceType: 'Patient', id: p });
    // Each patient: labs on three dates and one vital sign; p3 has none after 2021.
    for (const [p, years] of [['p1', [2019, 2021, 2023]], ['p2', [2020, 2022, 2024]], ['p3', [2018, 2019, 2020]]] as const) {
      for (const y of years) {
        await put({ resourceType: 'Observation', id: `${p}-lab-${y}`, status: 'final', code: { text: 'lab' }, subject: { reference: `Patient/${p}` }, effectiveDateTime: `${y}-06-01`, category: [{ coding: [{ system: CAT, code: 'laboratory' }] }] });
      }
      await put({ resourceType: 'Observation', id: `${p}-vital`, status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${p}` }, effectiveDateTime: '2023-01-01', category: [{ coding: [{ system: CAT, code: 'vital-signs' }] }] });
    }
  });
  after(() => server.close());

  it('a shape keeps its name; another text gets another; past the cap statements run unnamed; 0 names none', () => {
    setStatementShapeLimit(namedShapes() + 2);
    const a = shapedQuery('SELECT 1 AS a WHERE $1::int > 0', [1]);
    const again = shapedQuery('SELECT 1 AS a WHERE $1::int > 0', [2]);
    const b = shapedQuery('SELECT 2 AS b WHERE $1::int > 0', [1]);
    const c = shapedQuery('SELECT 3 AS c WHERE $1::int > 0', [1]);
    assert.ok(a.name);
    assert.equal(again.name, a.name);
    assert.deepEqual(again.values, [2]);
    assert.ok(b.name && b.name !== a.name);
    assert.equal(c.name, undefined, 'the cap is reached');
    assert.equal(c.text, 'SELECT 3 AS c WHERE $1::int > 0');
    setStatementShapeLimit(0);
    assert.equal(shapedQuery('SELECT 1 AS a WHERE $1::int > 0', [1]).name, undefined);
    setStatementShapeLimit(100);
  });

  async function matches(pool: pg.Pool, pairs: [string, string][]): Promise<string[]> {
    const ctx = { config: server.config, pool, cursors: new CursorCodec(await loadCursorKey(pool)), tenant, base };
    const res = await search(ctx, { type: 'Observation', pairs, strict: true });
    assert.equal(res.status, 200);
    const bundle = JSON.parse(res.body as string);
    return (bundle.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id).sort();
  }

  const cases: [[string, string][], string[]][] = [
    [[['patient', 'p1'], ['category', 'laboratory'], ['date', 'ge2021-01-01']], ['p1-lab-2021', 'p1-lab-2023']],
    [[['patient', 'p2'], ['category', 'laboratory'], ['date', 'ge2021-01-01']], ['p2-lab-2022', 'p2-lab-2024']],
    [[['patient', 'p3'], ['category', 'laboratory'], ['date', 'ge2021-01-01']], []],
    [[['patient', 'p3'], ['category', 'laboratory'], ['date', 'ge2018-01-01']], ['p3-lab-2018', 'p3-lab-2019', 'p3-lab-2020']],
    [[['patient', 'p1'], ['category', 'vital-signs'], ['date', 'ge2000-01-01']], ['p1-vital']],
    [[['patient', 'p2'], ['category', 'laboratory'], ['date', 'lt2021']], ['p2-lab-2020']],
    [[['patient', 'nobody'], ['category', 'laboratory'], ['date', 'ge2000-01-01']], []],
    [[['patient', 'p1'], ['category', 'laboratory'], ['date', 'ge2023-06-01']], ['p1-lab-2023']],
  ];

  it('PostgreSQL keeps one prepared statement per shape and runs it for every set of values, with exact matches each time', async () => {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
    try {
      for (const [pairs, expected] of cases) assert.deepEqual(await matches(pool, pairs), expected, JSON.stringify(pairs));
      // One connection, so these are the statements the searches above prepared: the seven 'ge'
      // searches share a shape (only values differ); 'lt' compares the other way, a second shape.
      const { rows } = await pool.query<{ runs: number }>(
        `SELECT generic_plans + custom_plans AS runs FROM pg_prepared_statements WHERE name LIKE 'shape-%' AND statement LIKE '%search_date%' ORDER BY runs`,
      );
      assert.deepEqual(rows.map((r) => Number(r.runs)), [1, 7]);
    } finally {
      await pool.end();
    }
  });

  it('planned generically (what PostgreSQL may settle on after five runs), every search gives the same exact matches', async () => {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1, options: '-c plan_cache_mode=force_generic_plan' });
    try {
      for (const [pairs, expected] of cases) assert.deepEqual(await matches(pool, pairs), expected, JSON.stringify(pairs));
      const { rows } = await pool.query<{ generic: number; custom: number }>(
        `SELECT sum(generic_plans) AS generic, sum(custom_plans) AS custom FROM pg_prepared_statements WHERE name LIKE 'shape-%'`,
      );
      assert.equal(Number(rows[0].custom), 0);
      assert.ok(Number(rows[0].generic) >= cases.length);
    } finally {
      await pool.end();
    }
  });

  it('write statements are named by shape too, and a generic plan writes every row and index row', async () => {
    const a = shapedWrite('SELECT 1 AS w WHERE $1::int > 0', [1]);
    assert.ok(a.name?.startsWith('write-'));
    assert.equal(shapedWrite('SELECT 1 AS w WHERE $1::int > 0', [2]).name, a.name);
    assert.notEqual(shapedWrite('SELECT 2 AS w WHERE $1::int > 0', [1]).name, a.name);

    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1, options: '-c plan_cache_mode=force_generic_plan' });
    try {
      const ids: string[] = [];
      for (const n of [1, 2, 3, 4, 5, 6, 7]) {
        const observations = Array.from({ length: n }, (_, i) => ({
          method: 'POST' as const,
          type: 'Observation',
          resource: { resourceType: 'Observation', status: 'final', code: { text: `w${n}-${i}` }, subject: { reference: 'Patient/p1' }, effectiveDateTime: `2020-0${n}-01` },
        }));
        const out = await inWriteTransaction(pool, (client, begun) => performWrites(client, tenant, observations, undefined, undefined, begun));
        ids.push(...out.map((o) => o.id));
      }
      // One connection: every batch above ran the one prepared write of its shape (batches of
      // creates of one type write the same tables, whatever their size).
      const { rows } = await pool.query<{ runs: number; generic: number }>(
        `SELECT generic_plans + custom_plans AS runs, generic_plans AS generic FROM pg_prepared_statements WHERE name LIKE 'write-%' AND statement LIKE '%INSERT INTO resource %'`,
      );
      assert.deepEqual(rows.map((r) => [Number(r.runs), Number(r.generic)]), [[7, 7]]);
      const stored = await server.db.pool.query<{ n: number; dated: number; compartment: number }>(
        `SELECT count(*)::int AS n,
                (SELECT count(DISTINCT id)::int FROM search_date WHERE tenant = $1 AND type = 'Observation' AND id = ANY($2) AND param = 'date') AS dated,
                (SELECT count(*)::int FROM resource_compartment WHERE tenant = $1 AND type = 'Observation' AND id = ANY($2) AND patient_id = 'p1') AS compartment
           FROM resource WHERE tenant = $1 AND type = 'Observation' AND id = ANY($2)`,
        [tenant, ids],
      );
      assert.deepEqual(stored.rows[0], { n: 28, dated: 28, compartment: 28 });
      assert.deepEqual((await matches(server.db.pool, [['patient', 'p1'], ['date', 'eq2020-07-01']])).length, 7);
    } finally {
      await pool.end();
    }
  });
});
