// Validation of every write against the R4 schema: each kind of schema error → 400 with an
// OperationOutcome whose issue.expression names the element, and nothing written.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer, tenantRowCount } from './helpers/server.js';

describe('bad input is rejected with the element named', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let existingId: string;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('badinput'));
    existingId = (await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'other' } })).json.id;
  });
  after(() => server.close());

  const rowCount = () => tenantRowCount(server.db, tenant);

  /** Sends `resource` by POST, by PUT to the existing id, and inside a transaction; each must be refused. */
  async function assertRejected(resource: Record<string, unknown>, expression: string, code?: string): Promise<void> {
    const before = await rowCount();
    const label = JSON.stringify(resource);
    const post = await http(`${base}/Patient`, { body: resource });
    const put = await http(`${base}/Patient/${existingId}`, { method: 'PUT', body: { ...resource, id: existingId } });
    for (const [how, r] of [['POST', post], ['PUT', put]] as const) {
      assert.equal(r.status, 400, `${how} ${label}: ${r.text}`);
      assert.ok(isOperationOutcome(r), `${how} ${label}`);
      assertValidR4(r.json);
      const expressions = r.json.issue.flatMap((i: any) => i.expression ?? []);
      assert.ok(expressions.includes(expression), `${how} ${label}: expected ${expression} in ${JSON.stringify(expressions)}`);
      if (code) assert.ok(r.json.issue.some((i: any) => i.code === code), `${how} ${label}: code ${code} in ${r.text}`);
      for (const i of r.json.issue) assert.equal(i.severity, 'error');
    }
    const tx = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource, request: { method: 'POST', url: 'Patient' } },
        ],
      },
    });
    assert.equal(tx.status, 400, `transaction ${label}`);
    const txExpressions = tx.json.issue.flatMap((i: any) => i.expression ?? []);
    const inEntry = expression.replace(/^Patient/, 'Bundle.entry[1].resource');
    assert.ok(
      txExpressions.includes(inEntry) || (expression === 'resourceType' && txExpressions.some((e: string) => e.startsWith('Bundle.entry[1]'))),
      `transaction ${label}: expected ${inEntry} in ${JSON.stringify(txExpressions)}`,
    );
    assert.equal(await rowCount(), before, `${label}: something was written`);
    const cur = await http(`${base}/Patient/${existingId}`);
    assert.equal(cur.json.meta.versionId, '1');
  }

  it('unknown element', async () => {
    await assertRejected({ resourceType: 'Patient', favouriteColour: 'blue' }, 'Patient.favouriteColour');
  });

  it('unknown element nested in a datatype', async () => {
    await assertRejected({ resourceType: 'Patient', name: [{ family: 'X', nickname: 'Y' }] }, 'Patient.name[0].nickname');
  });

  it('wrong type: boolean given as a string', async () => {
    await assertRejected({ resourceType: 'Patient', active: 'yes' }, 'Patient.active');
  });

  it('wrong type: a single value where an array belongs', async () => {
    await assertRejected({ resourceType: 'Patient', name: { family: 'NotAnArray' } }, 'Patient.name');
  });

  it('wrong type: an array where a single value belongs', async () => {
    await assertRejected({ resourceType: 'Patient', gender: ['male'] }, 'Patient.gender');
  });

  it('bad date format', async () => {
    await assertRejected({ resourceType: 'Patient', birthDate: '31/12/1990' }, 'Patient.birthDate');
    await assertRejected({ resourceType: 'Patient', birthDate: '1990-13-01' }, 'Patient.birthDate');
  });

  it('bad dateTime inside a nested element', async () => {
    await assertRejected({ resourceType: 'Patient', name: [{ family: 'P', period: { start: 'last tuesday' } }] }, 'Patient.name[0].period.start');
  });

  it('invalid enum code: Patient.gender robot', async () => {
    await assertRejected({ resourceType: 'Patient', gender: 'robot' }, 'Patient.gender');
  });

  it('empty strings, empty arrays, empty objects and nulls are not FHIR JSON', async () => {
    await assertRejected({ resourceType: 'Patient', name: [{ family: '' }] }, 'Patient.name[0].family');
    await assertRejected({ resourceType: 'Patient', name: [] }, 'Patient.name');
    await assertRejected({ resourceType: 'Patient', name: [{}] }, 'Patient.name[0]');
    await assertRejected({ resourceType: 'Patient', maritalStatus: {} }, 'Patient.maritalStatus');
    await assertRejected({ resourceType: 'Patient', maritalStatus: null }, 'Patient.maritalStatus');
    await assertRejected({ resourceType: 'Patient', name: [null] }, 'Patient.name[0]');
    await assertRejected({ resourceType: 'Patient', name: [{ given: ['A', null] }] }, 'Patient.name[0].given[1]');
  });

  it('unknown resourceType → 400 naming resourceType', async () => {
    await assertRejected({ resourceType: 'Spaceship' }, 'resourceType');
  });

  it('missing resourceType → 400 naming resourceType', async () => {
    await assertRejected({ name: [{ family: 'NoType' }] }, 'resourceType');
  });

  it('resourceType that does not match the URL → 400, nothing written', async () => {
    const before = await rowCount();
    const post = await http(`${base}/Patient`, { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } });
    assert.equal(post.status, 400);
    assert.ok(isOperationOutcome(post));
    assert.deepEqual(post.json.issue[0].expression, ['resourceType']);
    const put = await http(`${base}/Patient/${existingId}`, { method: 'PUT', body: { resourceType: 'Observation', id: existingId, status: 'final', code: { text: 'x' } } });
    assert.equal(put.status, 400);
    assert.ok(isOperationOutcome(put));
    assert.equal(await rowCount(), before);
  });

  it('invalid id in the body → 400 naming Patient.id', async () => {
    const before = await rowCount();
    for (const id of ['has space', 'x'.repeat(65), 'under_score', 42]) {
      const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient', id } });
      assert.equal(r.status, 400, String(id));
      assert.ok(isOperationOutcome(r));
      assert.deepEqual(r.json.issue[0].expression, ['Patient.id']);
    }
    assert.equal(await rowCount(), before);
  });

  it('a missing required complex element (Observation.code) → 400 naming it', async () => {
    // (Required primitives such as Observation.status are not enforced by the R4 JSON schema,
    // which allows the value to be carried by `_status` instead.)
    const before = await rowCount();
    const r = await http(`${base}/Observation`, { body: { resourceType: 'Observation', status: 'final' } });
    assert.equal(r.status, 400);
    assert.ok(isOperationOutcome(r));
    const expressions = r.json.issue.flatMap((i: any) => i.expression ?? []);
    assert.ok(expressions.includes('Observation.code'), JSON.stringify(expressions));
    assert.equal(await rowCount(), before);
  });

  it('several errors are all reported, each with its own expression', async () => {
    const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'robot', active: 'yes', birthDate: 'soon', colour: 'red' } });
    assert.equal(r.status, 400);
    assertValidR4(r.json);
    const expressions = new Set(r.json.issue.flatMap((i: any) => i.expression ?? []));
    for (const e of ['Patient.gender', 'Patient.active', 'Patient.birthDate', 'Patient.colour']) assert.ok(expressions.has(e), `${e} in ${[...expressions]}`);
  });
});
