// The stored date of service (resource.service_date, migration 18) that partner policies check
// (src/policy/conditions.ts): it follows every version, it equals what the migration's backfill
// and a reindex compute from the indexed dates, and a row whose value is not known (written by
// a process older than the migration) gets the same answer from the dates themselves.
// Real HTTP, PostgreSQL and tokens, on the partner-world plan.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encounter } from './fixtures/partner-world.js';
import { http } from './helpers/http.js';
import { entryKeys as ids, partnerWorldTenant, type Partner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';
import { backfillServiceDates, serviceDatesSql } from '../src/store/service-date-backfill.js';
import { reindex } from '../src/store/search-index.js';


describe('stored date of service (partner policies)', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let provider: Partner;

  before(async () => {
    server = await startServer();
    ({ tenant, base, provider } = await partnerWorldTenant(server, 'service-date'));
  });
  after(() => server.close());

  const get = (path: string) => http(`${base}/${path}`, { headers: provider.auth });
  const stored = async (): Promise<Map<string, string | null>> => {
    const { rows } = await server.db.pool.query<{ key: string; d: string | null }>(
      `SELECT type || '/' || id AS key, service_date::text AS d FROM resource WHERE tenant = $1 AND NOT deleted ORDER BY 1`,
      [tenant],
    );
    return new Map(rows.map((r) => [r.key, r.d]));
  };
  /** What provider-access sees of pa1's Encounters: by read, by a search naming the member, and by an unbounded search. */
  const seen = async (id: string) => ({
    read: (await get(`Encounter/${id}`)).status,
    byPatient: ids((await get('Encounter?patient=pa1&_count=50')).json).includes(`Encounter/${id}`),
    all: ids((await get('Encounter?_count=50')).json).includes(`Encounter/${id}`),
  });

  it('is written with each version and follows it across the 2016 floor', async () => {
    const put = (start: string) => http(`${base}/Encounter/enc-moving`, { method: 'PUT', body: encounter('enc-moving', 'pa1', start) });
    assert.equal((await put('2015-12-31')).status, 201);
    assert.equal((await stored()).get('Encounter/enc-moving'), '2016-01-01 00:00:00+00', 'the end of the day 2015-12-31 (exclusive)');
    assert.deepEqual(await seen('enc-moving'), { read: 404, byPatient: false, all: false });
    assert.equal((await put('2020-07-01')).status, 200);
    assert.equal((await stored()).get('Encounter/enc-moving'), '2020-07-02 00:00:00+00');
    assert.deepEqual(await seen('enc-moving'), { read: 200, byPatient: true, all: true });
    assert.equal((await put('2014-03-03')).status, 200);
    assert.deepEqual(await seen('enc-moving'), { read: 404, byPatient: false, all: false });
    // Deleted: no stored date; and gone for the partner as for everyone.
    assert.equal((await http(`${base}/Encounter/enc-moving`, { method: 'DELETE' })).status, 204);
    const { rows } = await server.db.pool.query(`SELECT service_date FROM resource WHERE tenant = $1 AND type = 'Encounter' AND id = 'enc-moving'`, [tenant]);
    assert.equal(rows[0].service_date, null);
  });

  it('takes the latest of several dates, an open end as infinity, none as -infinity; undated types store nothing', async () => {
    const condition = { resourceType: 'Condition', id: 'cond-dates', subject: { reference: 'Patient/pa1' }, code: { text: 'x' }, onsetDateTime: '2010-01-01', recordedDate: '2019-05-05' };
    const open = { ...encounter('enc-open', 'pa1', '2012-01-01'), period: { start: '2012-01-01' } };
    const undated = { resourceType: 'Condition', id: 'cond-undated', subject: { reference: 'Patient/pa1' }, code: { text: 'y' } };
    for (const r of [condition, open, undated]) assert.equal((await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r })).status, 201);
    const s = await stored();
    assert.equal(s.get('Condition/cond-dates'), '2019-05-06 00:00:00+00');
    assert.equal(s.get('Encounter/enc-open'), 'infinity');
    assert.equal(s.get('Condition/cond-undated'), '-infinity');
    assert.equal(s.get('Patient/pa1'), null);
    assert.equal(s.get('Coverage/cov-pa1'), null);
    assert.equal((await get('Condition/cond-dates')).status, 200);
    assert.equal((await get('Encounter/enc-open')).status, 200, 'an encounter still open is current');
    assert.equal((await get('Condition/cond-undated')).status, 404, 'nothing shows it is recent');
  });

  it("the migration's background backfill and a reindex compute what the write path stored", async () => {
    const written = await stored();
    await server.db.pool.query(`UPDATE resource SET service_date = NULL WHERE tenant = $1`, [tenant]);
    // As a server start runs it: once per database (the record of a former run removed here).
    await server.db.pool.query(`DELETE FROM server_setting WHERE name = 'service_date_backfill_done'`);
    const log: string[] = [];
    await backfillServiceDates(server.db.pool, (m) => log.push(m));
    assert.deepEqual(await stored(), written);
    assert.match(log.join('\n'), /stored the date of service of \d+ resources/);
    assert.equal((await server.db.pool.query(`SELECT 1 FROM server_setting WHERE name = 'service_date_backfill_done'`)).rowCount, 1);
    await server.db.pool.query(`UPDATE resource SET service_date = NULL WHERE tenant = $1`, [tenant]);
    await reindex(server.db.pool, tenant);
    assert.deepEqual(await stored(), written);
  });

  it('a row whose date is not known yet gets the same answer from its indexed dates', async () => {
    const before = { recent: await seen('enc-pa1-2021'), old: await seen('enc-pa1-2015') };
    assert.deepEqual(before, { recent: { read: 200, byPatient: true, all: true }, old: { read: 404, byPatient: false, all: false } });
    await server.db.pool.query(`UPDATE resource SET service_date = NULL WHERE tenant = $1 AND type = 'Encounter'`, [tenant]);
    assert.deepEqual({ recent: await seen('enc-pa1-2021'), old: await seen('enc-pa1-2015') }, before);
    await server.db.pool.query(serviceDatesSql('c.tenant = $1'), [tenant]);
  });
});
