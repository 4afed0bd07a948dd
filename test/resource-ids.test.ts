/**
 * Ids the server assigns (src/fhir/ids.ts): UUIDv7 — valid FHIR ids, version 7 with the RFC
 * 9562 variant, carrying their millisecond, in creation order when sorted as text (what keeps a
 * type's new ids at one point of each (tenant, type, id) index), and unique. A created resource
 * gets one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newResourceId } from '../src/fhir/ids.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

describe('server-assigned ids', () => {
  it('are UUIDv7 carrying their millisecond, sorted as text in time order, and unique', () => {
    const at = Date.UTC(2026, 11, 5, 4, 30, 0, 123);
    const id = newResourceId(at);
    assert.match(id, UUID7);
    assert.match(id, FHIR_ID);
    assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
    const times = [0, 1, 255, 256, 65_535, at - 1, at, at + 1, 2 ** 47, 2 ** 48 - 1];
    const ids = times.map((t) => newResourceId(t));
    assert.deepEqual([...ids].sort(), ids, 'text order is time order');
    for (const [i, t] of times.entries()) assert.equal(parseInt(ids[i].slice(0, 8) + ids[i].slice(9, 13), 16), t);
    const many = new Set(Array.from({ length: 10_000 }, () => newResourceId(at)));
    assert.equal(many.size, 10_000, 'random bits keep ids of one millisecond apart');
  });

  describe('on create', () => {
    let server: TestServer;
    let base: string;
    before(async () => {
      server = await startServer();
      ({ base } = await server.newTenant('ids'));
    });
    after(async () => server.close());

    it('a POST gets a UUIDv7 of its own moment', async () => {
      const before = Date.now();
      const r = await http(`${base}/Basic`, { method: 'POST', body: { resourceType: 'Basic', code: { text: 'id test' } } });
      assert.equal(r.status, 201, r.text);
      assert.match(r.json.id, UUID7);
      const ms = parseInt(r.json.id.slice(0, 8) + r.json.id.slice(9, 13), 16);
      assert.ok(ms >= before && ms <= Date.now(), `id time ${ms}`);
    });
  });
});
