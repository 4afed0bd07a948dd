// batch and transaction Bundles posted to the base: urn:uuid references, all-or-nothing
// transactions, per-entry batch outcomes, GET entries, and Bundle-level rejections.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer, tenantRowCount } from './helpers/server.js';

const PATIENT_URN = 'urn:uuid:0b6f8e2e-3c36-4bb0-9d0a-4b3ef1e8c001';
const COVERAGE_URN = 'urn:uuid:0b6f8e2e-3c36-4bb0-9d0a-4b3ef1e8c002';

describe('batch and transaction', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('bundle'));
  });
  after(() => server.close());

  const rowCount = () => tenantRowCount(server.db, tenant);

  it('transaction: urn:uuid references are rewritten to the assigned ids', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: COVERAGE_URN,
          resource: {
            resourceType: 'Coverage',
            status: 'active',
            beneficiary: { reference: PATIENT_URN },
            payor: [{ reference: 'Organization/plan-org' }],
          },
          request: { method: 'POST', url: 'Coverage' },
        },
        {
          fullUrl: PATIENT_URN,
          resource: { resourceType: 'Patient', name: [{ family: 'Tx' }], generalPractitioner: [{ reference: 'Practitioner/gp-1' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { resourceType: 'Organization', id: 'plan-org', name: 'Plan' },
          request: { method: 'PUT', url: 'Organization/plan-org' },
        },
      ],
    };
    const before = await rowCount();
    const r = await http(base, { body: bundle });
    assert.equal(r.status, 200, r.text);
    assertValidR4(r.json);
    assert.equal(r.json.type, 'transaction-response');
    assert.equal(r.json.entry.length, 3);
    assert.equal(await rowCount(), before + 3);
    const [cov, pat, org] = r.json.entry;
    assert.match(cov.response.status, /^201/);
    assert.match(pat.response.status, /^201/);
    assert.match(org.response.status, /^201/);
    const patientId = pat.response.location.split('/')[1];
    const coverageId = cov.response.location.split('/')[1];
    assert.equal(pat.fullUrl, `${base}/Patient/${patientId}`);
    assert.equal(pat.response.location, `Patient/${patientId}/_history/1`);
    assert.equal(pat.response.etag, 'W/"1"');
    assert.notEqual(patientId, PATIENT_URN);

    const coverage = await http(`${base}/Coverage/${coverageId}`);
    assert.equal(coverage.status, 200);
    assertValidR4(coverage.json);
    assert.equal(coverage.json.beneficiary.reference, `Patient/${patientId}`);
    assert.equal(coverage.json.payor[0].reference, 'Organization/plan-org');
    const patient = await http(`${base}/Patient/${patientId}`);
    assertValidR4(patient.json);
    assert.equal(patient.json.generalPractitioner[0].reference, 'Practitioner/gp-1');
    const orgRead = await http(`${base}/Organization/plan-org`);
    assert.equal(orgRead.json.name, 'Plan');
  });

  it('transaction: one invalid entry → 400 naming Bundle.entry[i], nothing written', async () => {
    const before = await rowCount();
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Ok' }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Organization', name: 'Ok' }, request: { method: 'POST', url: 'Organization' } },
          { resource: { resourceType: 'Patient', gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    assert.equal(r.status, 400);
    assert.ok(isOperationOutcome(r));
    assertValidR4(r.json);
    const expressions = r.json.issue.flatMap((i: any) => i.expression ?? []);
    assert.ok(expressions.some((e: string) => e.startsWith('Bundle.entry[2]')), JSON.stringify(expressions));
    assert.ok(expressions.includes('Bundle.entry[2].resource.gender'), JSON.stringify(expressions));
    assert.equal(await rowCount(), before);
  });

  it('transaction: an unresolvable urn:uuid reference → 400, nothing written', async () => {
    const before = await rowCount();
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Coverage', status: 'active', beneficiary: { reference: 'urn:uuid:7c1d6d0e-0000-4000-8000-000000000000' }, payor: [{ display: 'x' }] },
            request: { method: 'POST', url: 'Coverage' },
          },
        ],
      },
    });
    assert.equal(r.status, 400);
    assert.ok(isOperationOutcome(r));
    assert.deepEqual(r.json.issue[0].expression, ['Bundle.entry[1].resource']);
    assert.equal(await rowCount(), before);
  });

  it('transaction: a failing write late in the transaction rolls back the earlier ones', async () => {
    // Entry 0 is a valid create; entry 1 updates with a stale If-Match. The 412 comes from the
    // database step, after entry 0 has been written inside the transaction.
    const org = await http(`${base}/Organization`, { body: { resourceType: 'Organization', name: 'v1' } });
    await http(`${base}/Organization/${org.json.id}`, { method: 'PUT', body: { ...org.json, name: 'v2' } });
    const before = await rowCount();
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Rolled back' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Organization', id: org.json.id, name: 'v3' },
            request: { method: 'PUT', url: `Organization/${org.json.id}`, ifMatch: 'W/"1"' },
          },
        ],
      },
    });
    assert.equal(r.status, 412);
    assert.ok(isOperationOutcome(r));
    assertValidR4(r.json);
    assert.equal(await rowCount(), before);
    const cur = await http(`${base}/Organization/${org.json.id}`);
    assert.equal(cur.json.name, 'v2');
    assert.equal(cur.json.meta.versionId, '2');
  });

  it('transaction: matching If-Match, DELETE and GET entries; GET sees the transaction\'s writes', async () => {
    const a = await http(`${base}/Patient`, { body: { resourceType: 'Patient', active: false } });
    const b = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'GET', url: `Patient/${a.json.id}` } },
          { resource: { resourceType: 'Patient', id: a.json.id, active: true }, request: { method: 'PUT', url: `Patient/${a.json.id}`, ifMatch: 'W/"1"' } },
          { request: { method: 'DELETE', url: `Patient/${b.json.id}` } },
          { request: { method: 'GET', url: `Patient/${a.json.id}/_history/1` } },
        ],
      },
    });
    assert.equal(r.status, 200, r.text);
    assertValidR4(r.json);
    const [get, put, del, vget] = r.json.entry;
    assert.match(get.response.status, /^200/);
    assert.equal(get.resource.active, true);
    assert.equal(get.resource.meta.versionId, '2');
    assertValidR4(get.resource);
    assert.match(put.response.status, /^200/);
    assert.equal(put.response.etag, 'W/"2"');
    assert.match(del.response.status, /^204/);
    assert.equal(vget.resource.active, false);
    assert.equal((await http(`${base}/Patient/${b.json.id}`)).status, 410);
  });

  it('transaction: the same resource written twice → 400, nothing written', async () => {
    const before = await rowCount();
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', id: 'twice' }, request: { method: 'PUT', url: 'Patient/twice' } },
          { resource: { resourceType: 'Patient', id: 'twice', active: true }, request: { method: 'PUT', url: 'Patient/twice' } },
        ],
      },
    });
    assert.equal(r.status, 400);
    assert.ok(isOperationOutcome(r));
    assert.deepEqual(r.json.issue[0].expression, ['Bundle.entry[1].request.url']);
    assert.equal(await rowCount(), before);
  });

  it('transaction: conditional create (ifNoneExist) resolves to the existing resource', async () => {
    const system = 'http://example.org/npi';
    const existing = await http(`${base}/Practitioner`, { body: { resourceType: 'Practitioner', identifier: [{ system, value: '123' }] } });
    const before = await rowCount();
    const urn = 'urn:uuid:3f7d5b30-1111-4222-8333-444455556666';
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: urn,
            resource: { resourceType: 'Practitioner', identifier: [{ system, value: '123' }] },
            request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${system}|123` },
          },
          {
            resource: { resourceType: 'PractitionerRole', practitioner: { reference: urn } },
            request: { method: 'POST', url: 'PractitionerRole' },
          },
        ],
      },
    });
    assert.equal(r.status, 200, r.text);
    assertValidR4(r.json);
    assert.match(r.json.entry[0].response.status, /^200/);
    assert.equal(await rowCount(), before + 1);
    const roleId = r.json.entry[1].response.location.split('/')[1];
    const role = await http(`${base}/PractitionerRole/${roleId}`);
    assert.equal(role.json.practitioner.reference, `Practitioner/${existing.json.id}`);
  });

  it('batch: a bad entry gets its own 4xx outcome, the others are written', async () => {
    const before = await rowCount();
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Batch0' }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', birthDate: 'not-a-date' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Organization', name: 'Batch2' }, request: { method: 'POST', url: 'Organization' } },
          { request: { method: 'GET', url: 'Patient/not-there' } },
          { resource: { resourceType: 'Patient', id: 'batch-put' }, request: { method: 'PUT', url: 'Patient/batch-put', ifMatch: 'W/"7"' } },
        ],
      },
    });
    assert.equal(r.status, 200, r.text);
    assertValidR4(r.json);
    assert.equal(r.json.type, 'batch-response');
    const e = r.json.entry;
    assert.equal(e.length, 5);
    assert.match(e[0].response.status, /^201/);
    assert.match(e[1].response.status, /^400/);
    assert.equal(e[1].response.outcome.resourceType, 'OperationOutcome');
    assertValidR4(e[1].response.outcome);
    assert.ok(e[1].response.outcome.issue.some((i: any) => (i.expression ?? []).includes('Bundle.entry[1].resource.birthDate')), JSON.stringify(e[1].response.outcome));
    assert.match(e[2].response.status, /^201/);
    assert.match(e[3].response.status, /^404/);
    assert.equal(e[3].response.outcome.resourceType, 'OperationOutcome');
    assert.match(e[4].response.status, /^412/);
    assert.equal(await rowCount(), before + 2);
    const p = await http(`${base}/Patient/${e[0].response.location.split('/')[1]}`);
    assert.equal(p.json.name[0].family, 'Batch0');
    const o = await http(`${base}/Organization/${e[2].response.location.split('/')[1]}`);
    assert.equal(o.json.name, 'Batch2');
  });

  it('batch: GET entries read resources and versions', async () => {
    const p = await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'male' } });
    // Version 2 is current, so the read and the vread of version 1 are two distinct entries
    // (the same fullUrl twice with the same meta.versionId would break R4's bdl-7).
    const u = await http(`${base}/Patient/${p.json.id}`, { method: 'PUT', body: { resourceType: 'Patient', id: p.json.id, gender: 'male', active: true } });
    assert.equal(u.status, 200);
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${p.json.id}` } },
          { request: { method: 'GET', url: `${base}/Patient/${p.json.id}/_history/1` } },
        ],
      },
    });
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    for (const [i, e] of r.json.entry.entries()) {
      assert.match(e.response.status, /^200/);
      assert.equal(e.resource.id, p.json.id);
      assert.equal(e.resource.gender, 'male');
      assert.equal(e.response.etag, i === 0 ? 'W/"2"' : 'W/"1"');
      assert.equal(e.fullUrl, `${base}/Patient/${p.json.id}`);
      assertValidR4(e.resource);
    }
  });

  it('Prefer: return=representation puts the written resources in the response', async () => {
    const r = await http(base, {
      headers: { prefer: 'return=representation' },
      body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } }] },
    });
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    assert.equal(r.json.entry[0].resource.active, true);
    assert.equal(r.json.entry[0].resource.meta.versionId, '1');
  });

  it('wrong Bundle.type, a non-Bundle, or malformed entries → 400, nothing written', async () => {
    const before = await rowCount();
    const entry = [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }];
    const bodies: unknown[] = [
      { resourceType: 'Bundle', type: 'collection', entry },
      { resourceType: 'Bundle', type: 'searchset', entry },
      { resourceType: 'Bundle', entry },
      { resourceType: 'Patient' },
      { resourceType: 'Bundle', type: 'transaction', entry: {} },
      { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' } }] },
      { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Spaceship' } }] },
      { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Observation' }, request: { method: 'POST', url: 'Patient' } }] },
      { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', id: 'a' }, request: { method: 'PUT', url: 'Patient/b' } }] },
      [entry],
    ];
    for (const body of bodies) {
      const r = await http(base, { body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(isOperationOutcome(r), r.text);
      assertValidR4(r.json);
    }
    assert.equal(await rowCount(), before);
  });

  it('an empty transaction → 200 with no entries', async () => {
    const r = await http(base, { body: { resourceType: 'Bundle', type: 'transaction' } });
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    assert.equal(r.json.type, 'transaction-response');
  });
});
