// The ordinary paths through a real FHIR client library (fhir-kit-client): capabilities,
// create, read, update, vread, history at every level, transaction, batch, delete.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'fhir-kit-client';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('fhir-kit-client', () => {
  let server: TestServer;
  let client: Client;
  let base: string;
  before(async () => {
    server = await startServer();
    const t: { base: string; token?: string } = await server.newTenant('client');
    base = t.base;
    client = new Client({ baseUrl: base, ...(t.token ? { bearerToken: t.token } : {}) });
  });
  after(() => server.close());

  it('capabilityStatement', async () => {
    const cs: any = await client.capabilityStatement();
    assertValidR4(cs);
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.equal(cs.implementation.url, base);
  });

  it('create, read, update, vread, history, delete', async () => {
    const created: any = await client.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', name: [{ family: 'Kit', given: ['Fhir'] }], birthDate: '1980-02-29' },
    });
    assertValidR4(created);
    assert.equal(created.meta.versionId, '1');
    const id = created.id;

    const read: any = await client.read({ resourceType: 'Patient', id });
    assertValidR4(read);
    assert.deepEqual(read, created);

    const updated: any = await client.update({ resourceType: 'Patient', id, body: { ...read, active: true } });
    assertValidR4(updated);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.active, true);

    const v1: any = await client.vread({ resourceType: 'Patient', id, version: '1' });
    assertValidR4(v1);
    assert.equal(v1.active, undefined);
    assert.equal(v1.meta.versionId, '1');

    const instance: any = await client.resourceHistory({ resourceType: 'Patient', id });
    assertValidR4(instance);
    assert.equal(instance.type, 'history');
    assert.deepEqual(instance.entry.map((e: any) => e.resource.meta.versionId), ['2', '1']);

    const type: any = await client.typeHistory({ resourceType: 'Patient' });
    assertValidR4(type);
    assert.ok(type.entry.some((e: any) => e.resource?.id === id));

    const system: any = await client.systemHistory();
    assertValidR4(system);
    assert.ok(system.entry.length >= 2);

    await client.delete({ resourceType: 'Patient', id });
    await assert.rejects(client.read({ resourceType: 'Patient', id }), (err: any) => {
      assert.equal(err.response.status, 410);
      assert.equal(err.response.data.resourceType, 'OperationOutcome');
      assertValidR4(err.response.data);
      return true;
    });
    const after: any = await client.resourceHistory({ resourceType: 'Patient', id });
    assert.equal(after.entry.length, 3);
    assert.equal(after.entry[0].request.method, 'DELETE');
  });

  it('errors surface as OperationOutcome', async () => {
    await assert.rejects(client.read({ resourceType: 'Patient', id: 'missing' }), (err: any) => {
      assert.equal(err.response.status, 404);
      assert.equal(err.response.data.resourceType, 'OperationOutcome');
      return true;
    });
    await assert.rejects(client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', gender: 'robot' } }), (err: any) => {
      assert.equal(err.response.status, 400);
      assert.deepEqual(err.response.data.issue[0].expression, ['Patient.gender']);
      return true;
    });
  });

  it('transaction with urn:uuid references, then batch reads', async () => {
    const patientUrn = 'urn:uuid:5a1f2d3c-0000-4000-8000-00000000aaaa';
    const response: any = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: patientUrn, resource: { resourceType: 'Patient', name: [{ family: 'Member' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Coverage', status: 'active', beneficiary: { reference: patientUrn }, payor: [{ display: 'Plan' }] },
            request: { method: 'POST', url: 'Coverage' },
          },
        ],
      },
    });
    assertValidR4(response);
    assert.equal(response.type, 'transaction-response');
    const [patientLoc, coverageLoc] = response.entry.map((e: any) => e.response.location as string);
    const patientId = patientLoc.split('/')[1];
    const coverageId = coverageLoc.split('/')[1];
    const coverage: any = await client.read({ resourceType: 'Coverage', id: coverageId });
    assertValidR4(coverage);
    assert.equal(coverage.beneficiary.reference, `Patient/${patientId}`);

    const batch: any = await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: `Patient/${patientId}` } }, { request: { method: 'GET', url: `Coverage/${coverageId}` } }],
      },
    });
    assertValidR4(batch);
    assert.equal(batch.type, 'batch-response');
    assert.deepEqual(batch.entry.map((e: any) => e.resource.resourceType), ['Patient', 'Coverage']);
  });

  it('history paging with nextPage', async () => {
    const { base: pbase, token } = (await server.newTenant('client-pages')) as { base: string; token?: string };
    const paged = new Client({ baseUrl: pbase, ...(token ? { bearerToken: token } : {}) });
    for (let i = 0; i < 5; i++) await paged.create({ resourceType: 'Organization', body: { resourceType: 'Organization', name: `Org ${i}` } });
    let page: any = await paged.request('_history?_count=2');
    const names: string[] = [];
    for (;;) {
      assertValidR4(page);
      names.push(...page.entry.map((e: any) => e.resource.name));
      const next = paged.nextPage({ bundle: page });
      if (!next) break;
      page = await next;
    }
    assert.deepEqual(names.sort(), ['Org 0', 'Org 1', 'Org 2', 'Org 3', 'Org 4']);
  });
});
