// Writes over plain HTTP: create, update (create-on-update, versioning), conditional create
// (If-None-Exist), delete, optimistic locking (If-Match), Prefer, and concurrent writers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer, tenantRowCount } from './helpers/server.js';

describe('create, update, delete', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('write'));
  });
  after(() => server.close());

  const rowCount = () => tenantRowCount(server.db, tenant);

  async function versionsOf(type: string, id: string): Promise<number[]> {
    const { rows } = await server.db.pool.query<{ version: number }>(
      `SELECT version FROM resource WHERE tenant = $1 AND type = $2 AND id = $3
       UNION ALL SELECT version FROM resource_history WHERE tenant = $1 AND type = $2 AND id = $3 ORDER BY 1`,
      [tenant, type, id],
    );
    return rows.map((r) => r.version);
  }

  it('REST-02 create: server-assigned id, body id ignored, Location/ETag/Last-Modified', async () => {
    const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient', id: 'client-chosen', name: [{ family: 'Create' }] } });
    assert.equal(r.status, 201);
    assertValidR4(r.json);
    assert.equal(r.json.resourceType, 'Patient');
    assert.notEqual(r.json.id, 'client-chosen');
    assert.match(r.json.id, /^[A-Za-z0-9\-.]{1,64}$/);
    assert.equal(r.json.meta.versionId, '1');
    assert.equal(r.headers.get('location'), `${base}/Patient/${r.json.id}/_history/1`);
    assert.equal(r.headers.get('etag'), 'W/"1"');
    assert.equal(r.headers.get('last-modified'), new Date(r.json.meta.lastUpdated).toUTCString());
    assert.match(r.headers.get('content-type')!, /^application\/fhir\+json/);
    assert.deepEqual(r.json.name, [{ family: 'Create' }]);
    // Nothing was stored under the id the client sent.
    assert.equal((await http(`${base}/Patient/client-chosen`)).status, 404);
    const back = await http(`${base}/Patient/${r.json.id}`);
    assert.equal(back.status, 200);
    assert.deepEqual(back.json, r.json);
  });

  it('create keeps client meta elements and replaces versionId/lastUpdated', async () => {
    const r = await http(`${base}/Patient`, {
      body: { resourceType: 'Patient', meta: { versionId: '99', lastUpdated: '2001-01-01T00:00:00Z', tag: [{ system: 'urn:t', code: 'x' }] } },
    });
    assert.equal(r.status, 201);
    assertValidR4(r.json);
    assert.equal(r.json.meta.versionId, '1');
    assert.notEqual(r.json.meta.lastUpdated, '2001-01-01T00:00:00Z');
    assert.deepEqual(r.json.meta.tag, [{ system: 'urn:t', code: 'x' }]);
  });

  it('update: every write is a new version; vread returns each', async () => {
    const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient', active: true } });
    const id = c.json.id;
    for (const v of [2, 3]) {
      const u = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, active: v === 3 } });
      assert.equal(u.status, 200);
      assertValidR4(u.json);
      assert.equal(u.json.meta.versionId, String(v));
      assert.equal(u.headers.get('etag'), `W/"${v}"`);
      assert.equal(u.headers.get('location'), `${base}/Patient/${id}/_history/${v}`);
    }
    // Identical content still makes a new version.
    const same = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, active: true } });
    assert.equal(same.json.meta.versionId, '4');
    assert.deepEqual(await versionsOf('Patient', id), [1, 2, 3, 4]);
    const v2 = await http(`${base}/Patient/${id}/_history/2`);
    assert.equal(v2.status, 200);
    assert.equal(v2.json.active, false);
    assert.equal(v2.headers.get('etag'), 'W/"2"');
    assertValidR4(v2.json);
  });

  it('update with a new client id creates it: 201, version 1', async () => {
    const id = `client-${Date.now()}`;
    const r = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, gender: 'female' } });
    assert.equal(r.status, 201);
    assertValidR4(r.json);
    assert.equal(r.json.id, id);
    assert.equal(r.json.meta.versionId, '1');
    assert.equal(r.headers.get('location'), `${base}/Patient/${id}/_history/1`);
    const back = await http(`${base}/Patient/${id}`);
    assert.equal(back.json.gender, 'female');
  });

  it('update without id or with a different id → 400, nothing written', async () => {
    const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
    const id = c.json.id;
    const before = await rowCount();
    const missing = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', active: true } });
    assert.equal(missing.status, 400);
    assert.ok(isOperationOutcome(missing));
    assert.deepEqual(missing.json.issue[0].expression, ['Patient.id']);
    const other = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id: 'someone-else', active: true } });
    assert.equal(other.status, 400);
    assert.ok(isOperationOutcome(other));
    assert.deepEqual(other.json.issue[0].expression, ['Patient.id']);
    const fresh = await http(`${base}/Patient/brand-new-${Date.now()}`, { method: 'PUT', body: { resourceType: 'Patient', id: 'not-the-url' } });
    assert.equal(fresh.status, 400);
    assert.equal(await rowCount(), before);
    assert.equal((await http(`${base}/Patient/${id}`)).json.meta.versionId, '1');
    assert.equal((await http(`${base}/Patient/someone-else`)).status, 404);
  });

  it('conditional create on identifier: 0 matches → 201, 1 → 200 and nothing written, >1 → 412', async () => {
    const system = 'http://example.org/member-id';
    const body = { resourceType: 'Patient', identifier: [{ system, value: 'M-1' }] };
    const first = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': `identifier=${system}|M-1` } });
    assert.equal(first.status, 201);
    assertValidR4(first.json);
    const before = await rowCount();
    for (const criteria of [`identifier=${system}|M-1`, 'identifier=M-1', `Patient?identifier=${encodeURIComponent(`${system}|M-1`)}`]) {
      const again = await http(`${base}/Patient`, { body: { ...body, active: true }, headers: { 'if-none-exist': criteria } });
      assert.equal(again.status, 200, criteria);
      assertValidR4(again.json);
      assert.equal(again.json.id, first.json.id);
      assert.equal(again.json.meta.versionId, '1');
      assert.equal(again.json.active, undefined);
      assert.equal(again.headers.get('etag'), 'W/"1"');
    }
    assert.equal(await rowCount(), before);

    // A second resource with the same identifier (plain create) makes the criteria ambiguous.
    const dup = await http(`${base}/Patient`, { body });
    assert.equal(dup.status, 201);
    const countAfterDup = await rowCount();
    const ambiguous = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': `identifier=${system}|M-1` } });
    assert.equal(ambiguous.status, 412);
    assert.ok(isOperationOutcome(ambiguous));
    assert.equal(await rowCount(), countAfterDup);

    // The identifier of an Observation does not match Patients, nor another system.
    const other = await http(`${base}/Patient`, { body, headers: { 'if-none-exist': 'identifier=http://other|M-1' } });
    assert.equal(other.status, 201);
  });

  it('conditional create on _id', async () => {
    const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
    const before = await rowCount();
    const hit = await http(`${base}/Patient`, { body: { resourceType: 'Patient', active: true }, headers: { 'if-none-exist': `_id=${c.json.id}` } });
    assert.equal(hit.status, 200);
    assert.equal(hit.json.id, c.json.id);
    assert.equal(await rowCount(), before);
    const miss = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { 'if-none-exist': '_id=nobody-has-this' } });
    assert.equal(miss.status, 201);
    assert.notEqual(miss.json.id, 'nobody-has-this');
    assertValidR4(miss.json);
  });

  it('conditional create with criteria the server cannot evaluate → 4xx OperationOutcome, nothing written', async () => {
    const before = await rowCount();
    const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { 'if-none-exist': 'not-a-search-param=smith' } });
    assert.ok(r.status >= 400 && r.status < 500, String(r.status));
    assert.ok(isOperationOutcome(r));
    assert.equal(await rowCount(), before);
  });

  it('delete: 204, then read 410, history keeps the versions; delete again and delete of unknown → 204', async () => {
    const c = await http(`${base}/Observation`, { body: { resourceType: 'Observation', status: 'final', code: { text: 'bp' } } });
    const id = c.json.id;
    await http(`${base}/Observation/${id}`, { method: 'PUT', body: { ...c.json, status: 'amended' } });
    const del = await http(`${base}/Observation/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    const gone = await http(`${base}/Observation/${id}`);
    assert.equal(gone.status, 410);
    assert.ok(isOperationOutcome(gone));
    assertValidR4(gone.json);
    const h = await http(`${base}/Observation/${id}/_history`);
    assert.equal(h.status, 200);
    assertValidR4(h.json);
    assert.deepEqual(
      h.json.entry.map((e: any) => [e.request.method, e.response.etag]),
      [['DELETE', 'W/"3"'], ['PUT', 'W/"2"'], ['POST', 'W/"1"']],
    );
    const before = await rowCount();
    assert.equal((await http(`${base}/Observation/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await http(`${base}/Observation/never-existed`, { method: 'DELETE' })).status, 204);
    assert.equal(await rowCount(), before);
    // Writing a deleted id revives it with the next version.
    const revived = await http(`${base}/Observation/${id}`, { method: 'PUT', body: { resourceType: 'Observation', id, status: 'final', code: { text: 'bp' } } });
    assert.equal(revived.status, 201);
    assert.equal(revived.json.meta.versionId, '4');
    assert.equal((await http(`${base}/Observation/${id}`)).status, 200);
  });

  it('If-Match: current version → 200; stale → 412 and nothing written; malformed → 400', async () => {
    const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
    const id = c.json.id;
    const ok = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, active: true }, headers: { 'if-match': 'W/"1"' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.meta.versionId, '2');
    const before = await rowCount();
    const stale = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, active: false }, headers: { 'if-match': 'W/"1"' } });
    assert.equal(stale.status, 412);
    assert.ok(isOperationOutcome(stale));
    assertValidR4(stale.json);
    for (const bad of ['1', 'W/1', 'W/"one"', '*x']) {
      const r = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, active: false }, headers: { 'if-match': bad } });
      assert.equal(r.status, 400, bad);
      assert.ok(isOperationOutcome(r));
    }
    const staleDelete = await http(`${base}/Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"1"' } });
    assert.equal(staleDelete.status, 412);
    assert.ok(isOperationOutcome(staleDelete));
    const badDelete = await http(`${base}/Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'nope' } });
    assert.equal(badDelete.status, 400);
    assert.equal(await rowCount(), before);
    const cur = await http(`${base}/Patient/${id}`);
    assert.equal(cur.json.meta.versionId, '2');
    assert.equal(cur.json.active, true);
    // The strong form "2" is accepted as well.
    const strong = await http(`${base}/Patient/${id}`, { method: 'DELETE', headers: { 'if-match': '"2"' } });
    assert.equal(strong.status, 204);
  });

  it('If-Match on a resource that does not exist → 412, nothing written', async () => {
    const id = `ifmatch-new-${Date.now()}`;
    const before = await rowCount();
    const r = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id }, headers: { 'if-match': 'W/"1"' } });
    assert.equal(r.status, 412);
    assert.ok(isOperationOutcome(r));
    assert.equal(await rowCount(), before);
  });

  it('20 concurrent updates of one resource lose no version', async () => {
    const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient' } });
    const id = c.json.id;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name: [{ family: `Writer${i}` }] } }),
      ),
    );
    for (const r of results) assert.equal(r.status, 200, r.text);
    assert.deepEqual(results.map((r) => Number(r.json.meta.versionId)).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 2));
    const cur = await http(`${base}/Patient/${id}`);
    assert.equal(cur.json.meta.versionId, '21');
    const h = await http(`${base}/Patient/${id}/_history?_count=100`);
    assertValidR4(h.json);
    const versions = h.json.entry.map((e: any) => Number(e.resource.meta.versionId));
    assert.equal(versions.length, 21);
    assert.equal(new Set(versions).size, 21);
    assert.deepEqual(versions, Array.from({ length: 21 }, (_, i) => 21 - i));
    // Each writer's content is in exactly one version.
    const families = h.json.entry.slice(0, 20).map((e: any) => e.resource.name[0].family).sort();
    assert.deepEqual(families, Array.from({ length: 20 }, (_, i) => `Writer${i}`).sort());
    assert.deepEqual(await versionsOf('Patient', id), Array.from({ length: 21 }, (_, i) => i + 1));
  });

  it('20 concurrent create-on-update PUTs of one new id: one 201, versions 1..20', async () => {
    const id = `race-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name: [{ family: `R${i}` }] } })),
    );
    for (const r of results) assert.ok(r.status === 200 || r.status === 201, `${r.status} ${r.text}`);
    assert.equal(results.filter((r) => r.status === 201).length, 1);
    assert.equal(results.find((r) => r.status === 201)!.json.meta.versionId, '1');
    assert.deepEqual(results.map((r) => Number(r.json.meta.versionId)).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual(await versionsOf('Patient', id), Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('Prefer: return=minimal → no body; return=OperationOutcome → an OperationOutcome', async () => {
    const min = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { prefer: 'return=minimal' } });
    assert.equal(min.status, 201);
    assert.equal(min.text, '');
    const location = min.headers.get('location')!;
    assert.match(location, new RegExp(`^${base}/Patient/[^/]+/_history/1$`));
    assert.equal(min.headers.get('etag'), 'W/"1"');
    const id = location.split('/').at(-3)!;
    assert.equal((await http(`${base}/Patient/${id}`)).status, 200);

    const upd = await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id }, headers: { prefer: 'return=minimal' } });
    assert.equal(upd.status, 200);
    assert.equal(upd.text, '');
    assert.equal(upd.headers.get('etag'), 'W/"2"');

    const oo = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { prefer: 'return=OperationOutcome' } });
    assert.equal(oo.status, 201);
    assert.ok(isOperationOutcome(oo));
    assertValidR4(oo.json);
    assert.match(oo.headers.get('location')!, /\/_history\/1$/);

    const rep = await http(`${base}/Patient`, { body: { resourceType: 'Patient' }, headers: { prefer: 'return=representation' } });
    assert.equal(rep.status, 201);
    assert.equal(rep.json.resourceType, 'Patient');
  });
});
