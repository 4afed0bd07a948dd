// The remaining Bulk Data checklist rows, each by id: kick-off headers (KO-10, KO-11), the
// 202 answer (KO-40), errors (KO-41), authorization of content (KO-43, granular scopes too),
// latest versions only (KO-45), a stable manifest (ST-12) and Inferno's full client flow
// (P10-P12: immediate poll, three formats back to back, cancel then 404).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tokenFor } from './helpers/auth.js';
import { kickOff, loadFixtures, poll, refs, runExport } from './helpers/bulk.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('bulk export conformance rows', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let stored: any[];

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ tenant, base } = await server.newTenant('bulkconf'));
    stored = await loadFixtures(base);
  });
  after(() => server.close());

  it('KO-10: Accept */*, application/json or application/fhir+json → 202; XML → 406 OperationOutcome (missing Accept → 400: bulk-kits.test.ts)', async () => {
    for (const accept of ['*/*', 'application/json', 'application/fhir+json']) {
      const r = await http(`${base}/$export?_type=Patient`, { headers: { prefer: 'respond-async', accept } });
      assert.equal(r.status, 202, `Accept ${accept}: ${r.text}`);
      await http(r.headers.get('content-location')!, { method: 'DELETE' });
    }
    const xml = await http(`${base}/$export?_type=Patient`, { headers: { prefer: 'respond-async', accept: 'application/fhir+xml' } });
    assert.equal(xml.status, 406);
    assert.ok(isOperationOutcome(xml));
  });

  it('KO-11, KO-12: Prefer is a token list, repeated values merged (respond-async, handling=lenient in one header)', async () => {
    const r = await http(`${base}/$export?_type=Patient&bogus=1`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async, handling=lenient' } });
    assert.equal(r.status, 202, r.text);
    const done = await poll(r.headers.get('content-location')!);
    assert.equal(done.json.error.length, 1, 'the ignored parameter is reported');
    const strict = await http(`${base}/$export?_type=Patient&bogus=1`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async; handling=strict' } });
    assert.equal(strict.status, 400, 'handling=strict is the default: an error');
  });

  it('KO-40: 202 with an absolute Content-Location on PUBLIC_URL and an informational OperationOutcome', async () => {
    const r = await kickOff(`${base}/$export?_type=Patient`);
    assert.equal(r.status, 202);
    const location = r.headers.get('content-location')!;
    assert.ok(location.startsWith(`${server.origin}/`), location);
    assert.equal(r.json.resourceType, 'OperationOutcome');
    assert.equal(r.json.issue[0].severity, 'information');
    assert.equal((await poll(location)).status, 200, 'the polling URL is directly fetchable');
  });

  it('KO-41, RS: no token → 401 OperationOutcome; a token without read scopes → 403', async () => {
    const none = await http(`${base}/$export`, { auth: false, headers: { accept: 'application/fhir+json', prefer: 'respond-async' } });
    assert.equal(none.status, 401);
    assert.ok(isOperationOutcome(none));
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/Patient.c');
    const writer = await http(`${base}/$export`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' } });
    assert.equal(writer.status, 403);
    assert.ok(isOperationOutcome(writer));
  });

  it('KO-43: a granular scope limits the exported resources to its filter', async () => {
    const scope = 'system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, scope);
    const auth = { authorization: `Bearer ${token}` };
    const k = await http(`${base}/$export`, { headers: { ...auth, accept: 'application/fhir+json', prefer: 'respond-async' } });
    assert.equal(k.status, 202, k.text);
    const done = await poll(k.headers.get('content-location')!, auth);
    assert.equal(done.status, 200);
    assert.deepEqual([...new Set(done.json.output.map((o: any) => o.type))], ['Observation']);
    const lines: any[] = [];
    for (const o of done.json.output) {
      const f = await http(o.url, { headers: auth });
      lines.push(...f.text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    }
    const oracle = stored.filter(
      (r) =>
        r.resourceType === 'Observation' &&
        (r.category ?? []).some((c: any) => (c.coding ?? []).some((x: any) => x.system === 'http://terminology.hl7.org/CodeSystem/observation-category' && x.code === 'laboratory')),
    );
    assert.ok(oracle.length > 0);
    assert.deepEqual(refs(lines), refs(oracle));
  });

  it('KO-45: only the latest version of a resource is exported', async () => {
    const patient = stored.find((r) => r.resourceType === 'Patient');
    for (const gender of ['other', 'unknown']) {
      const r = await http(`${base}/Patient/${patient.id}`, { method: 'PUT', body: { ...patient, meta: undefined, gender } });
      assert.equal(r.status, 200);
    }
    const { byType } = await runExport(`${base}/$export?_type=Patient`);
    const copies = byType.get('Patient')!.filter((p) => p.id === patient.id);
    assert.equal(copies.length, 1);
    assert.equal(copies[0].gender, 'unknown');
    assert.equal(copies[0].meta.versionId, String(Number(patient.meta.versionId) + 2));
  });

  it('values travel safely into the export statement: a quote in a _typeFilter value matches literally', async () => {
    const put = await http(`${base}/Patient/obrien`, { method: 'PUT', body: { resourceType: 'Patient', id: 'obrien', name: [{ family: "O'Brien" }] } });
    assert.equal(put.status, 201);
    const { byType } = await runExport(`${base}/$export?_type=Patient&_typeFilter=${encodeURIComponent("Patient?family:exact=O'Brien")}`);
    assert.deepEqual(refs(byType.get('Patient')!), ['Patient/obrien']);
    const none = await runExport(`${base}/$export?_type=Patient&_typeFilter=${encodeURIComponent("Patient?family=x' OR 'a'='a")}`);
    assert.deepEqual(none.manifest.output, []);
  });

  it('ST-12: repeated polls of a finished job return the same manifest', async () => {
    const k = await kickOff(`${base}/$export?_type=Condition,Encounter`);
    const first = await poll(k.headers.get('content-location')!);
    const second = await http(k.headers.get('content-location')!, { headers: { accept: 'application/json' } });
    assert.equal(second.status, 200);
    assert.equal(second.text, first.text);
  });

  it('P10-P12 (Inferno flow): immediate poll is 200 or 202 never 429; three formats back to back each 202 then DELETE 202; cancelled → 404', async () => {
    for (const format of ['application%2Ffhir%2Bndjson', 'application%2Fndjson', 'ndjson']) {
      const k = await kickOff(`${base}/$export?_outputFormat=${format}`);
      assert.equal(k.status, 202, `${format}: ${k.text}`);
      const url = k.headers.get('content-location')!;
      const immediate = await http(url, { headers: { accept: 'application/json' } });
      assert.ok([200, 202].includes(immediate.status), `immediate poll: ${immediate.status}`);
      assert.equal((await http(url, { method: 'DELETE', headers: { accept: 'application/json' } })).status, 202);
      // In the type the client accepts (ST-21): application/json here.
      const gone = await http(url, { headers: { accept: 'application/json' } });
      assert.equal(gone.status, 404);
      assert.match(gone.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(gone.json.resourceType, 'OperationOutcome');
      assert.equal(gone.json.issue[0].code, 'not-found');
    }
  });
});
