/**
 * Rows a caller writes alongside resources (performWrites' `alongside`, used by `$member-match`
 * for its member_match row): they land in the same statement as the resources, are told the
 * id each request wrote — a new id, or the one a conditional create matched (then nothing else
 * is written) — and roll back with the resources.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { performWrites } from '../src/interactions/writes.js';
import { inTransaction } from '../src/store/database.js';
import { addMatchRows } from '../src/store/member-matches.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('writes with rows alongside', () => {
  let server: TestServer;
  let tenant: string;
  const matchRows = async () => (await server.db.pool.query('SELECT patient_id, consent_id FROM member_match WHERE tenant = $1 AND client_id = $2 ORDER BY patient_id', [tenant, 'c1'])).rows;
  const consent = (patient: string) => ({ resourceType: 'Consent', status: 'active', identifier: [{ system: 'urn:test', value: patient }], scope: { text: 'x' }, category: [{ text: 'x' }], patient: { reference: `Patient/${patient}` } });

  before(async () => {
    server = await startServer();
    ({ tenant } = await server.newTenant('along'));
  });
  after(async () => server.close());

  it('the rows name the ids written, or matched by a conditional create', async () => {
    const [made] = await inTransaction(server.db.pool, (client) =>
      performWrites(client, tenant, [{ method: 'POST', type: 'Consent', resource: consent('p1') }], undefined, (stmt, ids) =>
        addMatchRows(stmt, 'c1', [{ patientId: 'p1', consentId: ids[0], coverageToLink: null }]),
      ),
    );
    assert.equal(made.outcome, 'created');
    assert.deepEqual(await matchRows(), [{ patient_id: 'p1', consent_id: made.id }]);
    assert.equal((await server.db.pool.query("SELECT count(*)::int AS n FROM search_token WHERE tenant = $1 AND type = 'Consent' AND id = $2", [tenant, made.id])).rows[0].n > 0, true, 'indexed in the same statement');

    // Nothing to write: the conditional create finds the Consent, the rows still land, naming it.
    const [found] = await inTransaction(server.db.pool, (client) =>
      performWrites(client, tenant, [{ method: 'POST', type: 'Consent', resource: consent('p1'), ifNoneExist: 'identifier=urn:test|p1' }], undefined, (stmt, ids) =>
        addMatchRows(stmt, 'c1', [{ patientId: 'p2', consentId: ids[0], coverageToLink: null }]),
      ),
    );
    assert.equal(found.outcome, 'exists');
    assert.deepEqual(await matchRows(), [{ patient_id: 'p1', consent_id: made.id }, { patient_id: 'p2', consent_id: made.id }]);
  });

  it('a failed transaction keeps neither the resources nor the rows', async () => {
    const before = (await server.db.pool.query('SELECT count(*)::int AS n FROM resource WHERE tenant = $1', [tenant])).rows[0].n;
    await assert.rejects(
      inTransaction(server.db.pool, async (client) => {
        await performWrites(client, tenant, [{ method: 'POST', type: 'Consent', resource: consent('p3') }], undefined, (stmt, ids) =>
          addMatchRows(stmt, 'c1', [{ patientId: 'p3', consentId: ids[0], coverageToLink: null }]),
        );
        throw new Error('later step failed');
      }),
      /later step failed/,
    );
    assert.equal((await server.db.pool.query('SELECT count(*)::int AS n FROM resource WHERE tenant = $1', [tenant])).rows[0].n, before);
    assert.equal((await matchRows()).some((r) => r.patient_id === 'p3'), false);
  });
});
