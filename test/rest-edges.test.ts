// Edges of the REST layer: 405 with Allow (REST-10), request-id hygiene, and conditional
// creates racing each other (exactly one resource is created).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('REST edges', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('edges'));
  });
  after(() => server.close());

  it('REST-10: unsupported methods on known paths → 405 with Allow and an OperationOutcome', async () => {
    const cases: [string, string, string][] = [
      ['PATCH', `${base}/Patient/x`, 'GET, PUT, DELETE'],
      ['DELETE', `${base}/Patient`, 'GET, POST'],
      ['PUT', `${base}/Patient`, 'GET, POST'],
      ['DELETE', base, 'GET, POST'],
    ];
    for (const [method, url, allow] of cases) {
      const r = await http(url, { method, ...(method === 'PUT' || method === 'PATCH' ? { body: { resourceType: 'Patient' } } : {}) });
      assert.equal(r.status, 405, `${method} ${url}`);
      assert.equal(r.headers.get('allow'), allow);
      assert.ok(isOperationOutcome(r));
    }
  });

  it('X-Request-Id: a plain token is echoed, anything else is replaced by a server id', async () => {
    const ok = await http(`${base}/metadata`, { headers: { 'x-request-id': 'abc-123.x_y' } });
    assert.equal(ok.headers.get('x-request-id'), 'abc-123.x_y');
    const bad = await http(`${base}/metadata`, { headers: { 'x-request-id': 'a b<script>' } });
    assert.match(bad.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    const none = await http(`${base}/metadata`);
    assert.match(none.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  });

  it('concurrent conditional creates with the same If-None-Exist create exactly one resource', async () => {
    const body = { resourceType: 'Organization', identifier: [{ system: 'urn:test:npi', value: 'race-1' }], name: 'Race' };
    const results = await Promise.all(
      Array.from({ length: 12 }, () => http(`${base}/Organization`, { body, headers: { 'if-none-exist': 'identifier=urn:test:npi|race-1' } })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1);
    assert.equal(statuses.filter((s) => s === 200).length, 11);
    assert.equal(new Set(results.map((r) => r.json.id)).size, 1);
    const { rows } = await server.db.pool.query("SELECT count(*)::int AS n FROM resource WHERE tenant = $1 AND type = 'Organization'", [tenant]);
    assert.equal(rows[0].n, 1);
  });
});
