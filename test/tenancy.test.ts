// Tenancy: one tenant's resources never show through another's base, the same id lives
// independently in each tenant, and an unknown tenant is 404 on every route.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';
import { FHIR_BASE_PATH } from '../src/http/urls.js';

describe('tenancy', () => {
  let server: TestServer;
  let a: { tenant: string; base: string };
  let b: { tenant: string; base: string };
  const system = 'http://example.org/member';
  let created: any;
  before(async () => {
    server = await startServer();
    a = await server.newTenant('tenant-a');
    b = await server.newTenant('tenant-b');
    created = (await http(`${a.base}/Patient`, { body: { resourceType: 'Patient', identifier: [{ system, value: 'A-1' }], name: [{ family: 'OnlyInA' }] } })).json;
    await http(`${a.base}/Patient/${created.id}`, { method: 'PUT', body: { ...created, active: true } });
    await http(`${a.base}/Patient/shared-id`, { method: 'PUT', body: { resourceType: 'Patient', id: 'shared-id', gender: 'female' } });
  });
  after(() => server.close());

  it("read, vread and instance history of A's resource through B → 404", async () => {
    assert.equal((await http(`${a.base}/Patient/${created.id}`)).status, 200);
    for (const path of [`Patient/${created.id}`, `Patient/${created.id}/_history/1`, `Patient/${created.id}/_history/2`, `Patient/${created.id}/_history`]) {
      const r = await http(`${b.base}/${path}`);
      assert.equal(r.status, 404, path);
      assert.ok(isOperationOutcome(r));
      assertValidR4(r.json);
      assert.ok(!r.text.includes('OnlyInA'));
    }
  });

  it("type and system history in B do not list A's versions", async () => {
    const bOwn = await http(`${b.base}/Organization`, { body: { resourceType: 'Organization', name: 'B org' } });
    for (const path of ['Patient/_history', '_history', '_history?_count=1']) {
      const r = await http(`${b.base}/${path}`);
      assert.equal(r.status, 200, path);
      assertValidR4(r.json);
      assert.ok(!r.text.includes('OnlyInA'), path);
      assert.ok(!r.text.includes(created.id), path);
      assert.ok(!r.text.includes(a.tenant), path);
    }
    const sys = await http(`${b.base}/_history`);
    assert.deepEqual(
      (sys.json.entry ?? []).map((e: any) => e.fullUrl),
      [`${b.base}/Organization/${bOwn.json.id}`],
    );
    assert.equal((await http(`${b.base}/Patient/_history`)).json.entry, undefined);
    // A's own history still has its two versions.
    const ah = await http(`${a.base}/Patient/${created.id}/_history`);
    assert.equal(ah.json.entry.length, 2);
  });

  it('the same id lives independently in each tenant', async () => {
    const put = await http(`${b.base}/Patient/shared-id`, { method: 'PUT', body: { resourceType: 'Patient', id: 'shared-id', gender: 'male' } });
    assert.equal(put.status, 201);
    assert.equal(put.json.meta.versionId, '1');
    assert.equal((await http(`${a.base}/Patient/shared-id`)).json.gender, 'female');
    assert.equal((await http(`${b.base}/Patient/shared-id`)).json.gender, 'male');
    // Deleting in B leaves A untouched.
    assert.equal((await http(`${b.base}/Patient/shared-id`, { method: 'DELETE' })).status, 204);
    assert.equal((await http(`${b.base}/Patient/shared-id`)).status, 410);
    const inA = await http(`${a.base}/Patient/shared-id`);
    assert.equal(inA.status, 200);
    assert.equal(inA.json.meta.versionId, '1');
    // If-Match in B is checked against B's versions only.
    const stale = await http(`${b.base}/Patient/${created.id}`, { method: 'PUT', body: { ...created, meta: undefined }, headers: { 'if-match': 'W/"2"' } });
    assert.equal(stale.status, 412);
  });

  it("conditional create and batch GET in B do not match A's resources", async () => {
    const cond = await http(`${b.base}/Patient`, {
      body: { resourceType: 'Patient', identifier: [{ system, value: 'A-1' }] },
      headers: { 'if-none-exist': `identifier=${system}|A-1` },
    });
    assert.equal(cond.status, 201);
    assert.notEqual(cond.json.id, created.id);
    const byId = await http(`${b.base}/Patient`, { body: { resourceType: 'Patient' }, headers: { 'if-none-exist': `_id=${created.id}` } });
    assert.equal(byId.status, 201);
    const batch = await http(b.base, {
      body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${created.id}` } }] },
    });
    assert.equal(batch.status, 200);
    assert.match(batch.json.entry[0].response.status, /^404/);
    assert.ok(!batch.text.includes('OnlyInA'));
  });

  it('an unknown tenant → 404 OperationOutcome on every route, metadata included', async () => {
    const unknown = `${server.origin}${FHIR_BASE_PATH}/no-such-tenant`;
    const patient = { resourceType: 'Patient', id: 'x' };
    const routes: [string, string, unknown?][] = [
      ['GET', 'metadata'],
      ['GET', '.well-known/smart-configuration'],
      ['GET', '_history'],
      ['POST', '', { resourceType: 'Bundle', type: 'batch' }],
      ['GET', 'Patient'],
      ['POST', 'Patient', patient],
      ['GET', 'Patient/_history'],
      ['GET', 'Patient/x'],
      ['PUT', 'Patient/x', patient],
      ['DELETE', 'Patient/x'],
      ['GET', 'Patient/x/_history'],
      ['GET', 'Patient/x/_history/1'],
      ['GET', 'Binary/x'],
    ];
    for (const [method, path, body] of routes) {
      const url = path ? `${unknown}/${path}` : unknown;
      const r = await http(url, { method, body });
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.ok(isOperationOutcome(r), `${method} ${path}: ${r.text}`);
      assertValidR4(r.json);
    }
    const before = await server.db.pool.query("SELECT count(*)::int AS n FROM resource WHERE tenant = 'no-such-tenant'");
    assert.equal(before.rows[0].n, 0);
    // Tenant ids that could never exist are unknown too, not errors.
    for (const weird of ['%20', "a'b", 'x'.repeat(120)]) {
      const r = await http(`${server.origin}${FHIR_BASE_PATH}/${weird}/metadata`);
      assert.equal(r.status, 404, weird);
      assert.ok(isOperationOutcome(r));
    }
  });
});
