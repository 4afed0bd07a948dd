// read and vread (REST-02): ETag, Last-Modified, 404 for unknown, 410 for deleted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('read and vread', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startServer();
    ({ base } = await server.newTenant('read'));
  });
  after(() => server.close());

  it('REST-02: read returns the resource with ETag W/"n" and Last-Modified', async () => {
    const created = await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: 'Read' }] } });
    assert.equal(created.status, 201);
    const id = created.json.id;
    const r = await http(`${base}/Patient/${id}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('etag'), 'W/"1"');
    assert.equal(r.headers.get('last-modified'), new Date(r.json.meta.lastUpdated).toUTCString());
    assert.match(r.headers.get('content-type')!, /^application\/fhir\+json/);
    assert.equal(r.json.id, id);
    assert.equal(r.json.resourceType, 'Patient');
    assert.deepEqual(r.json.name, [{ family: 'Read' }]);
    assertValidR4(r.json);
  });

  it('REST-02: unknown id → 404 OperationOutcome; unknown type → 404', async () => {
    const r = await http(`${base}/Patient/does-not-exist`);
    assert.equal(r.status, 404);
    assert.ok(isOperationOutcome(r));
    assert.equal(r.json.issue[0].code, 'not-found');
    const t = await http(`${base}/Spaceship/1`);
    assert.equal(t.status, 404);
    assert.ok(isOperationOutcome(t));
  });

  it('REST-02: deleted → 410, vread of the earlier version still works', async () => {
    const created = await http(`${base}/Observation`, {
      body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
    });
    const id = created.json.id;
    const del = await http(`${base}/Observation/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    const r = await http(`${base}/Observation/${id}`);
    assert.equal(r.status, 410);
    assert.ok(isOperationOutcome(r));
    const v1 = await http(`${base}/Observation/${id}/_history/1`);
    assert.equal(v1.status, 200);
    assert.equal(v1.json.meta.versionId, '1');
    const v2 = await http(`${base}/Observation/${id}/_history/2`);
    assert.equal(v2.status, 410);
    const v3 = await http(`${base}/Observation/${id}/_history/3`);
    assert.equal(v3.status, 404);
  });
});
