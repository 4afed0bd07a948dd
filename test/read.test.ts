// read and vread (REST-02): ETag, Last-Modified, 404 for unknown, 410 for deleted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CurrentReads } from '../src/store/current-reads.js';
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

  it('reads arriving together share one statement per tenant, and each gets its own answer (tenants, types, deleted, unknown)', async () => {
    const other = await server.newTenant('read-b');
    for (const [b, family] of [[base, 'Alpha'], [other.base, 'Beta']] as const) {
      assert.equal((await http(`${b}/Patient/same-id`, { method: 'PUT', body: { resourceType: 'Patient', id: 'same-id', name: [{ family }] } })).status, 201);
      assert.equal((await http(`${b}/Organization/same-id`, { method: 'PUT', body: { resourceType: 'Organization', id: 'same-id', name: `${family} Org` } })).status, 201);
    }
    assert.equal((await http(`${base}/Patient/gone-id`, { method: 'PUT', body: { resourceType: 'Patient', id: 'gone-id' } })).status, 201);
    assert.equal((await http(`${base}/Patient/gone-id`, { method: 'DELETE' })).status, 204);
    const tenantA = base.split('/').pop()!;
    // Directly: twenty reads queued in one turn → one statement for each of the two tenants.
    const statements: string[] = [];
    const counting = new Proxy(server.db.pool, {
      get(target, prop, receiver) {
        if (prop === 'query') return (q: any, v?: unknown[]) => (statements.push(typeof q === 'string' ? q : q.text), target.query(q, v));
        return Reflect.get(target, prop, receiver);
      },
    });
    const reads = new CurrentReads(counting);
    const keys = Array.from({ length: 20 }, (_, i) => [[tenantA, 'Patient', 'same-id'], [other.tenant, 'Organization', 'same-id'], [tenantA, 'Patient', 'gone-id'], [other.tenant, 'Patient', 'no-such-id']][i % 4]);
    const found = await Promise.all(keys.map(([t, type, id]) => reads.read(t, type, id)));
    assert.equal(statements.length, 2, statements.join('\n'));
    found.forEach((v, i) => {
      const [, type, id] = keys[i];
      if (id === 'no-such-id') return assert.equal(v, undefined);
      assert.equal(v!.type, type);
      assert.equal(v!.id, id);
      if (id === 'gone-id') return assert.equal(v!.deleted, true);
      assert.deepEqual(JSON.parse(v!.content!).name, type === 'Patient' ? [{ family: 'Alpha' }] : 'Beta Org');
    });
    // Over HTTP, fired together: every answer is its own tenant's resource, 410 or 404.
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => {
      const b = i % 2 ? other.base : base;
      const path = ['Patient/same-id', 'Organization/same-id', 'Patient/gone-id', 'Patient/no-such-id'][Math.floor(i / 2) % 4];
      return http(`${b}/${path}`).then((r) => ({ i, b, path, r }));
    }));
    for (const { b, path, r } of answers) {
      const family = b === base ? 'Alpha' : 'Beta';
      if (path === 'Patient/no-such-id' || (path === 'Patient/gone-id' && b !== base)) assert.equal(r.status, 404, `${b}/${path}`);
      else if (path === 'Patient/gone-id') assert.equal(r.status, 410);
      else if (path === 'Patient/same-id') assert.deepEqual(r.json.name, [{ family }]);
      else assert.equal(r.json.name, `${family} Org`);
    }
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
