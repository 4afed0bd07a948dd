// CapabilityStatement at [base]/metadata (CS-01, CS-02, REST-11): public, R4, accurate about
// the interactions the server really performs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

/** FHIR JSON never has empty arrays, empty objects or empty strings (R4 json.html). */
function assertNoEmpties(value: unknown, path = 'CapabilityStatement'): void {
  if (Array.isArray(value)) {
    assert.ok(value.length > 0, `${path} is an empty array`);
    value.forEach((v, i) => assertNoEmpties(v, `${path}[${i}]`));
  } else if (value && typeof value === 'object') {
    assert.ok(Object.keys(value).length > 0, `${path} is an empty object`);
    for (const [k, v] of Object.entries(value)) assertNoEmpties(v, `${path}.${k}`);
  } else {
    assert.ok(value !== '' && value !== null, `${path} is empty`);
  }
}

describe('CapabilityStatement', () => {
  let server: TestServer;
  let base: string;
  let cs: any;
  before(async () => {
    server = await startServer();
    ({ base } = await server.newTenant('caps'));
    // Public: no Authorization header at all.
    const r = await http(`${base}/metadata`, { auth: false });
    assert.equal(r.status, 200, r.text);
    cs = r.json;
  });
  after(() => server.close());

  it('CS-01: public, 200, application/fhir+json, whatever JSON Accept or _format', async () => {
    for (const [query, accept] of [['', undefined], ['?_format=json', undefined], ['?_format=application/json', undefined], ['?_format=application/fhir%2Bjson', undefined], ['', '*/*'], ['', 'application/json'], ['', 'application/fhir+json']] as const) {
      const r = await http(`${base}/metadata${query}`, { headers: accept ? { accept } : {}, auth: false });
      assert.equal(r.status, 200, `${query} ${accept}`);
      assert.match(r.headers.get('content-type')!, /^application\/fhir\+json/);
      assert.equal(r.json.resourceType, 'CapabilityStatement');
    }
  });

  it('CS-02/REST-11: valid R4, fhirVersion 4.0.1, kind instance, implementation.url is the tenant base', () => {
    assertValidR4(cs);
    assertNoEmpties(cs);
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.status, 'active');
    assert.ok(!Number.isNaN(Date.parse(cs.date)));
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.equal(cs.kind, 'instance');
    assert.equal(cs.implementation.url, base);
    assert.ok(cs.implementation.description);
    assert.ok(cs.software.name);
    assert.ok(cs.software.version);
    assert.ok(cs.format.includes('application/fhir+json') || cs.format.includes('json'));
    assert.ok(!cs.format.some((f: string) => /xml/.test(f)), 'XML is not served');
    assert.equal(cs.rest.length, 1);
    assert.equal(cs.rest[0].mode, 'server');
  });

  it('implementation.url follows the tenant, built from PUBLIC_URL', async () => {
    const other = await server.newTenant('caps-other');
    const r = await http(`${other.base}/metadata`);
    assert.equal(r.json.implementation.url, other.base);
    assert.ok(other.base.startsWith(server.config.publicUrl));
  });

  it('system interactions: transaction, batch, history-system', () => {
    const codes = cs.rest[0].interaction.map((i: any) => i.code);
    for (const code of ['transaction', 'batch', 'history-system']) assert.ok(codes.includes(code), code);
  });

  it('Patient is listed with the interactions the server performs — and they work', async () => {
    const patient = cs.rest[0].resource.find((r: any) => r.type === 'Patient');
    assert.ok(patient);
    const codes: string[] = patient.interaction.map((i: any) => i.code);
    for (const code of ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create']) assert.ok(codes.includes(code), code);
    // Nothing is declared that the server does not do.
    const performed = new Set(['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type', 'patch']);
    for (const code of codes) assert.ok(performed.has(code), `declares ${code}`);
    if (!codes.includes('patch')) {
      // patch is not declared; it is indeed not performed.
      const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
      const p = await http(`${base}/Patient/${c.json.id}`, { method: 'PATCH', body: [], headers: { 'content-type': 'application/json-patch+json' } });
      assert.ok(p.status >= 400);
    }

    // create → read → vread → update → history-instance → history-type → delete, as declared.
    const created = await http(`${base}/Patient`, { body: { resourceType: 'Patient', active: true } });
    assert.equal(created.status, 201);
    const id = created.json.id;
    assert.equal((await http(`${base}/Patient/${id}`)).status, 200);
    assert.equal((await http(`${base}/Patient/${id}/_history/1`)).status, 200);
    if (patient.updateCreate) {
      const u = await http(`${base}/Patient/declared-update-create`, { method: 'PUT', body: { resourceType: 'Patient', id: 'declared-update-create' } });
      assert.equal(u.status, 201);
    }
    assert.equal((await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, active: false } })).status, 200);
    const hi = await http(`${base}/Patient/${id}/_history`);
    assert.equal(hi.json.entry.length, 2);
    assertValidR4(hi.json);
    const ht = await http(`${base}/Patient/_history`);
    assert.equal(ht.status, 200);
    if (patient.versioning === 'versioned-update') {
      const stale = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id }, headers: { 'if-match': 'W/"1"' } });
      assert.equal(stale.status, 412);
    }
    if (patient.conditionalCreate) {
      const cc = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { 'if-none-exist': `_id=${id}` } });
      assert.equal(cc.status, 200);
    }
    assert.equal((await http(`${base}/Patient/${id}`, { method: 'DELETE' })).status, 204);
  });

  it('CS-03: instantiates the Bulk Data CapabilityStatement (and the PDex server and ATR producer ones)', () => {
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'));
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/us/davinci-pdex/CapabilityStatement/pdex-server'));
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/us/davinci-atr/CapabilityStatement/atr-producer'));
  });

  it('CMS-0057-F operations with their canonical definitions', () => {
    const ops = (type: string) => Object.fromEntries(cs.rest[0].resource.find((r: any) => r.type === type).operation.map((o: any) => [o.name, o.definition]));
    assert.equal(ops('Patient').everything, 'http://hl7.org/fhir/OperationDefinition/Patient-everything');
    assert.equal(ops('Patient')['member-match'], 'http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match');
    assert.equal(ops('Group')['davinci-data-export'], 'http://hl7.org/fhir/us/davinci-atr/OperationDefinition/davinci-data-export');
    assert.equal(ops('Group')['bulk-member-match'], 'http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/bulk-member-match');
    for (const name of ['member-add', 'member-remove', 'confirm-attribution-list']) assert.equal(ops('Group')[name], `http://hl7.org/fhir/us/davinci-atr/OperationDefinition/${name}`);
  });

  it('CS-04…CS-06b: export operations at system, Patient and Group level with the IG canonicals, under both names', () => {
    const bulk = 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition';
    assert.deepEqual(cs.rest[0].operation[0], { name: 'export', definition: `${bulk}/export` });
    const ops = (type: string) => cs.rest[0].resource.find((r: any) => r.type === type).operation;
    assert.deepEqual(ops('Patient').slice(0, 2), [
      { name: 'export', definition: `${bulk}/patient-export` },
      { name: 'patient-export', definition: `${bulk}/patient-export` },
    ]);
    assert.deepEqual(ops('Group').slice(0, 2), [
      { name: 'export', definition: `${bulk}/group-export` },
      { name: 'group-export', definition: `${bulk}/group-export` },
    ]);
    assert.equal(cs.rest[0].resource.find((r: any) => r.type === 'Observation').operation, undefined);
  });

  it('SQL on FHIR v2: $viewdefinition-export at system level, $run / $viewdefinition-run / $viewdefinition-export on ViewDefinition', () => {
    const sof = 'http://sql-on-fhir.org/OperationDefinition';
    assert.deepEqual(cs.rest[0].operation.slice(1), [{ name: 'viewdefinition-export', definition: `${sof}/$viewdefinition-export` }]);
    const ops = cs.rest[0].resource.find((r: any) => r.type === 'ViewDefinition').operation;
    assert.deepEqual(ops.map((o: any) => o.name), ['run', 'viewdefinition-run', 'viewdefinition-export']);
    assert.ok(cs.rest[0].documentation.includes('$viewdefinition-export'));
  });

  it('CS-09: the export choices are documented (types, _since for late joiners, _typeFilter, expiry, throttling)', () => {
    const doc: string = cs.rest[0].documentation;
    for (const phrase of ['_typeFilter', 'joined a Group after _since', 'expire', '429', 'Patient compartment', 'Provenance']) assert.ok(doc.includes(phrase), phrase);
  });

  it('every listed type is a real R4 resource type and each is listed once', () => {
    const types: string[] = cs.rest[0].resource.map((r: any) => r.type);
    assert.equal(new Set(types).size, types.length);
    for (const t of ['Patient', 'Coverage', 'ExplanationOfBenefit', 'Binary', 'Group']) assert.ok(types.includes(t), t);
  });
});
