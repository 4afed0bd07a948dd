// Bulk Data $export end to end on the project's US Core fixtures: system, Patient and Group
// level content compared id for id with what the store holds, the manifest shape (ST-04…
// ST-09), NDJSON hygiene (DL-03…DL-06) and every exported line valid R4.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { refs, loadFixtures, runExport, kickOff, poll } from './helpers/bulk.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('bulk export on the US Core fixtures', () => {
  let server: TestServer;
  let base: string;
  let stored: any[];

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ base } = await server.newTenant('bulk'));
    stored = await loadFixtures(base);
    assert.ok(stored.length > 200);
  });
  after(() => server.close());

  it('KO-01, ST-04…ST-06, DL-03…DL-06: system export holds every stored resource once, latest version, valid R4', async () => {
    const { manifest, status, byType } = await runExport(`${base}/$export`);
    assert.ok((status.headers.get('content-type') ?? '').startsWith('application/json'), 'ST-04');
    assert.ok(status.headers.get('expires'), 'ST-04 Expires');
    for (const key of ['transactionTime', 'request', 'requiresAccessToken', 'output', 'error']) assert.ok(key in manifest, `ST-05 ${key}`);
    assert.equal(manifest.requiresAccessToken, true);
    assert.deepEqual(manifest.error, []);
    assert.equal(manifest.request, `${base}/$export`);
    for (const item of manifest.output) {
      assert.match(item.url, /^https?:\/\//, 'ST-06 absolute URL');
      assert.equal(typeof item.count, 'number');
    }
    const exported = [...byType.entries()].flatMap(([type, list]) => {
      for (const r of list) assert.equal(r.resourceType, type, 'DL-05');
      return list;
    });
    assert.deepEqual(refs(exported), refs(stored));
    for (const r of exported) assertValidR4(r);
  });

  it('DL-07, DL-08: Patient-level export holds the compartment resources and the Patients', async () => {
    const { byType } = await runExport(`${base}/Patient/$export`);
    const patients = byType.get('Patient') ?? [];
    assert.ok(patients.length >= 2, 'DL-08: at least two patients');
    assert.deepEqual(refs(patients), refs(stored.filter((r) => r.resourceType === 'Patient')));
    const observations = refs(byType.get('Observation') ?? []);
    const withSubject = refs(stored.filter((r) => r.resourceType === 'Observation' && /^Patient\//.test(r.subject?.reference ?? '')));
    assert.deepEqual(observations, withSubject);
    // Non-compartment types that compartment resources reference are added (DL-07 MAY).
    const orgs = byType.get('Organization') ?? [];
    assert.ok(orgs.length > 0, 'referenced organizations are included');
  });

  it('KO-03: an unknown Group is a 404 OperationOutcome', async () => {
    const r = await kickOff(`${base}/Group/no-such-group/$export`);
    assert.equal(r.status, 404);
    assert.ok(isOperationOutcome(r));
  });

  it('Group export: members only, nested groups, inactive members and periods honoured', async () => {
    const put = (g: any) => http(`${base}/Group/${g.id}`, { method: 'PUT', body: g });
    assert.equal((await put({ resourceType: 'Group', id: 'inner', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/child' } }] })).status, 201);
    const outer = {
      resourceType: 'Group',
      id: 'outer',
      type: 'person',
      actual: true,
      member: [
        { entity: { reference: 'Patient/adult' } },
        { entity: { reference: 'Group/inner' } },
        { entity: { reference: 'Patient/infant' }, inactive: true },
        { entity: { reference: 'Patient/deceased' }, period: { end: '2001-01-01' } },
      ],
    };
    assert.equal((await put(outer)).status, 201);
    const { byType } = await runExport(`${base}/Group/outer/$export`);
    assert.deepEqual(refs(byType.get('Patient') ?? []), ['Patient/adult', 'Patient/child']);
    const members = new Set(['Patient/adult', 'Patient/child']);
    for (const [type, list] of byType) {
      if (['Patient', 'Organization', 'Practitioner', 'PractitionerRole', 'Location', 'Medication', 'Device', 'Provenance', 'Group', 'InsurancePlan', 'OrganizationAffiliation'].includes(type)) continue;
      for (const r of list) {
        const text = JSON.stringify(r);
        assert.ok([...members].some((m) => text.includes(`"${m}"`)), `${type}/${r.id} belongs to a member`);
      }
    }
    const conditions = refs(byType.get('Condition') ?? []);
    const expected = refs(stored.filter((r) => r.resourceType === 'Condition' && members.has(r.subject?.reference)));
    assert.deepEqual(conditions, expected);
  });

  it('ST-20, ST-21: DELETE → 202, then the status URL is 404 OperationOutcome', async () => {
    const k = await kickOff(`${base}/$export?_type=Patient`);
    assert.equal(k.status, 202);
    const url = k.headers.get('content-location')!;
    const del = await http(url, { method: 'DELETE', headers: { accept: 'application/json' } });
    assert.equal(del.status, 202);
    // Inferno and BDT poll with Accept: application/json; the OperationOutcome comes in that type.
    const after = await http(url, { headers: { accept: 'application/json' } });
    assert.equal(after.status, 404);
    assert.match(after.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(after.json.resourceType, 'OperationOutcome');
    assert.equal(after.json.issue[0].code, 'not-found');
    assert.ok(isOperationOutcome(await http(url, { headers: { accept: 'application/fhir+json' } })), 'application/fhir+json when asked for');
    assert.equal((await http(url, { method: 'DELETE' })).status, 404, 'ST-22: a second DELETE is 404');
  });

  it('DL-01: files need the bearer token (401 without)', async () => {
    const { manifest } = await runExport(`${base}/$export?_type=Patient`);
    const r = await http(manifest.output[0].url, { auth: false });
    assert.equal(r.status, 401);
  });

  it('_type and _typeFilter (several filters OR-ed)', async () => {
    const { byType } = await runExport(
      `${base}/$export?_type=Observation,Condition&_typeFilter=${encodeURIComponent('Observation?category=laboratory')},${encodeURIComponent('Observation?code=http://loinc.org|29463-7')}`,
    );
    assert.deepEqual([...byType.keys()].sort(), ['Condition', 'Observation']);
    const oracle = stored.filter(
      (r) =>
        r.resourceType === 'Observation' &&
        (JSON.stringify(r.category ?? []).includes('"laboratory"') || (r.code?.coding ?? []).some((c: any) => c.system === 'http://loinc.org' && c.code === '29463-7')),
    );
    assert.deepEqual(refs(byType.get('Observation')!), refs(oracle));
    assert.equal(byType.get('Condition')!.length, stored.filter((r) => r.resourceType === 'Condition').length);
  });

  it('poll() sees 202 with Retry-After and X-Progress first', async () => {
    const k = await kickOff(`${base}/$export`);
    const first = await http(k.headers.get('content-location')!, { headers: { accept: 'application/json' } });
    assert.ok([200, 202].includes(first.status));
    if (first.status === 202) assert.ok(first.headers.get('x-progress'));
    assert.equal((await poll(k.headers.get('content-location')!)).status, 200);
  });
});
