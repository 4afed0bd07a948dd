// ViewDefinition (SQL on FHIR v2) as a stored resource: create, read, update, delete, search by
// name / url / resource / status, and every invalid view refused with a 400 naming the problem,
// nothing written.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const patients = {
  resourceType: 'ViewDefinition',
  name: 'patient_demographics',
  url: 'https://example.org/views/patient_demographics',
  status: 'active',
  resource: 'Patient',
  select: [{ column: [{ name: 'id', path: 'getResourceKey()', type: 'string' }, { name: 'birth_date', path: 'birthDate', type: 'date' }] }],
};
const claims = {
  resourceType: 'ViewDefinition',
  name: 'claim_lines',
  url: 'https://example.org/views/claim_lines',
  status: 'draft',
  resource: 'ExplanationOfBenefit',
  select: [{ forEach: 'item', column: [{ name: 'seq', path: 'sequence', type: 'positiveInt' }] }],
};

describe('ViewDefinition resource', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startServer();
    ({ base } = await server.newTenant('views'));
  });
  after(() => server.close());

  const count = async () => (await http(`${base}/ViewDefinition?_summary=count`)).json.total as number;

  it('is created, read, updated and searched by name, url, resource and status', async () => {
    const a = await http(`${base}/ViewDefinition`, { body: patients });
    assert.equal(a.status, 201, a.text);
    assert.match(a.headers.get('location')!, /\/ViewDefinition\/[^/]+\/_history\/1$/);
    const b = await http(`${base}/ViewDefinition/claim-lines`, { method: 'PUT', body: { ...claims, id: 'claim-lines' } });
    assert.equal(b.status, 201, b.text);

    const read = await http(`${base}/ViewDefinition/${a.json.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.json.name, 'patient_demographics');
    assert.equal(read.headers.get('etag'), 'W/"1"');

    const ids = async (q: string) => ((await http(`${base}/ViewDefinition?${q}`)).json.entry ?? []).map((e: any) => e.resource.name).sort();
    assert.deepEqual(await ids('name=patient'), ['patient_demographics']);
    assert.deepEqual(await ids(`url=${encodeURIComponent(claims.url)}`), ['claim_lines']);
    assert.deepEqual(await ids('resource=ExplanationOfBenefit'), ['claim_lines']);
    assert.deepEqual(await ids('resource=Patient,ExplanationOfBenefit'), ['claim_lines', 'patient_demographics']);
    assert.deepEqual(await ids('status=active'), ['patient_demographics']);
    assert.deepEqual(await ids('name=nothing-like-it'), []);

    const updated = await http(`${base}/ViewDefinition/claim-lines`, { method: 'PUT', body: { ...claims, id: 'claim-lines', status: 'active' } });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.headers.get('etag'), 'W/"2"');
    assert.deepEqual(await ids('status=active'), ['claim_lines', 'patient_demographics']);
    assert.equal((await http(`${base}/ViewDefinition/claim-lines/_history`)).json.entry.length, 2);
  });

  const invalid: [string, unknown, RegExp, string?][] = [
    ['an unknown FHIRPath function', { ...patients, select: [{ column: [{ name: 'n', path: 'name.count()' }] }] }, /function 'count\(\)'.*outside the FHIRPath subset/, 'ViewDefinition.select[0].column[0].path'],
    ['a path that cannot parse', { ...patients, select: [{ column: [{ name: 'n', path: 'name.where(' }] }] }, /cannot be parsed/, 'ViewDefinition.select[0].column[0].path'],
    ['a bad column name', { ...patients, select: [{ column: [{ name: 'first name', path: 'name.given.first()' }] }] }, /column name "first name".*letters, digits and '_'/, 'ViewDefinition.select[0].column[0].name'],
    ['a column name used twice', { ...patients, select: [{ column: [{ name: 'id', path: 'id' }, { name: 'id', path: 'gender' }] }] }, /column name 'id' is used twice/],
    [
      'unionAll branches with different columns',
      { ...patients, select: [{ unionAll: [{ column: [{ name: 'a', path: 'id' }] }, { column: [{ name: 'b', path: 'id' }] }] }] },
      /branches of 'ViewDefinition.select\[0\].unionAll' must have the same columns.*branch 1 has \(b\)/,
      'ViewDefinition.select[0].unionAll[1]',
    ],
    ['an unknown resource type', { ...patients, resource: 'Member' }, /'Member' is not a FHIR R4 resource type/, 'ViewDefinition.resource'],
    ['no resource', { ...patients, resource: undefined }, /'resource'.*is required/, 'ViewDefinition.resource'],
    ['an undefined constant', { ...patients, select: [{ column: [{ name: 'n', path: 'name.where(use = %use).family' }] }] }, /'%use'.*is not a constant/],
    ['a constant without a value', { ...patients, constant: [{ name: 'use' }] }, /constant 'use' must have exactly one value\[x\]/],
    ['a forEach that is not a path', { ...patients, select: [{ forEach: 1, column: [{ name: 'n', path: 'family' }] }] }, /forEach' must be a FHIRPath expression/],
  ];
  for (const [what, body, message, expression] of invalid) {
    it(`refuses ${what} with 400 naming the problem, and writes nothing`, async () => {
      const before = await count();
      for (const [url, method] of [[`${base}/ViewDefinition`, 'POST'], [`${base}/ViewDefinition/bad-view`, 'PUT']] as const) {
        const r = await http(url, { method, body: method === 'PUT' ? { ...(body as object), id: 'bad-view' } : body });
        assert.equal(r.status, 400, r.text);
        assert.ok(isOperationOutcome(r));
        assert.match(r.json.issue[0].diagnostics, message);
        if (expression) assert.deepEqual(r.json.issue[0].expression, [expression]);
      }
      assert.equal(await count(), before);
      assert.equal((await http(`${base}/ViewDefinition/bad-view`)).status, 404);
    });
  }

  it('needs ViewDefinition scopes like any other type', async () => {
    const { tokenFor } = await import('./helpers/auth.js');
    const { tenant } = await server.newTenant('views-scope');
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/Patient.rs');
    const r = await http(`${server.origin}/payer/system-access/v2/${tenant}/ViewDefinition`, { body: patients, headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 403);
    assert.ok(isOperationOutcome(r));
  });
});
