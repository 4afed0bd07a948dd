// Conditional writes through the search engine: If-None-Exist with any search criteria,
// conditional references in transactions (`Patient?identifier=…`), and characters
// PostgreSQL cannot store answered 400, not 500.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('conditional writes', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  const count = async (type: string) =>
    (await server.db.pool.query('SELECT count(*)::int AS n FROM resource WHERE tenant = $1 AND type = $2', [tenant, type])).rows[0].n as number;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('cond'));
  });
  after(() => server.close());

  it('If-None-Exist with general search criteria (family + birthdate) matches through the search engine', async () => {
    const body = { resourceType: 'Patient', name: [{ family: 'Quintero' }], birthDate: '1971-02-03' };
    const first = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': 'family=Quintero&birthdate=1971-02-03' } });
    assert.equal(first.status, 201);
    const again = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': 'family=Quintero&birthdate=1971-02-03' } });
    assert.equal(again.status, 200);
    assert.equal(again.json.id, first.json.id);
    const other = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': 'family=Quintero&birthdate=1980-01-01' } });
    assert.equal(other.status, 201);
    assert.equal(await count('Patient'), 2);
    const bad = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': 'no-such-param=1' } });
    assert.equal(bad.status, 400);
    assert.ok(isOperationOutcome(bad));
    assert.equal(await count('Patient'), 2);
  });

  it('conditional references in a transaction resolve to the one match; none or several → error, nothing written', async () => {
    const org = await http(`${base}/Organization`, { body: { resourceType: 'Organization', identifier: [{ system: 'urn:npi', value: '111' }], name: 'One' } });
    assert.equal(org.status, 201);
    const tx = (ref: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ fullUrl: 'urn:uuid:6a1c0c8e-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', managingOrganization: { reference: ref } }, request: { method: 'POST', url: 'Patient' } }],
    });
    const before = await count('Patient');
    const ok = await http(base, { body: tx('Organization?identifier=urn:npi|111') });
    assert.equal(ok.status, 200);
    const id = ok.json.entry[0].response.location.split('/')[1];
    const read = await http(`${base}/Patient/${id}`);
    assert.equal(read.json.managingOrganization.reference, `Organization/${org.json.id}`);

    const none = await http(base, { body: tx('Organization?identifier=urn:npi|999') });
    assert.equal(none.status, 400);
    assert.ok(isOperationOutcome(none));
    await http(`${base}/Organization`, { body: { resourceType: 'Organization', identifier: [{ system: 'urn:npi', value: '222' }], name: 'Two' } });
    await http(`${base}/Organization`, { body: { resourceType: 'Organization', identifier: [{ system: 'urn:npi', value: '222' }], name: 'Two again' } });
    const several = await http(base, { body: tx('Organization?identifier=urn:npi|222') });
    assert.equal(several.status, 412);
    assert.equal(await count('Patient'), before + 1);
  });

  it('a NUL character in a value → 400 OperationOutcome, nothing written', async () => {
    const before = await count('Patient');
    const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: 'Nul\u0000Byte' }] } });
    assert.equal(r.status, 400);
    assert.ok(isOperationOutcome(r));
    assert.equal(await count('Patient'), before);
  });
});
