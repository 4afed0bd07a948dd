// What the conformance kits (BDT, Inferno's Bulk Data kit) ask of kick-off and status, over
// real HTTP: the Accept and Prefer headers (KO-10, KO-11), _since in the future (KO-21), _type
// outside the Patient compartment at Patient and Group level (KO-23, DL-07), and the status
// URL's OperationOutcome in the media type the client accepts (ST-11, ST-21).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { kickOff, poll, refs, runExport } from './helpers/bulk.js';
import { http, isOperationOutcome, type HttpResult } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

/**
 * A request with exactly these headers: fetch() adds `Accept: *\/*` when none is given, so a
 * kick-off without Accept (as BDT sends it) needs node:http.
 */
function raw(url: string, method: string, headers: Record<string, string>, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        let json: any;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: h, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('kick-off and status as the conformance kits test them', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let token: string;
  const jobCount = async () => Number((await server.db.pool.query('SELECT count(*) AS n FROM export_job WHERE tenant = $1', [tenant])).rows[0].n);

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ tenant, base, token } = await server.newTenant('kits'));
    const puts: any[] = [
      { resourceType: 'Patient', id: 'k1', name: [{ family: 'Adeyemi' }] },
      { resourceType: 'Patient', id: 'k2', name: [{ family: 'Berg' }] },
      { resourceType: 'Patient', id: 'k3', name: [{ family: 'Costa' }] },
      { resourceType: 'HealthcareService', id: 'hs-used', name: 'Cardiology clinic' },
      { resourceType: 'HealthcareService', id: 'hs-unused', name: 'Dermatology clinic' },
      { resourceType: 'HealthcareService', id: 'hs-k3', name: 'Physiotherapy' },
      { resourceType: 'ServiceRequest', id: 'sr1', status: 'active', intent: 'order', subject: { reference: 'Patient/k1' }, performer: [{ reference: 'HealthcareService/hs-used' }] },
      { resourceType: 'ServiceRequest', id: 'sr3', status: 'active', intent: 'order', subject: { reference: 'Patient/k3' }, performer: [{ reference: 'HealthcareService/hs-k3' }] },
      { resourceType: 'ActivityDefinition', id: 'ad1', status: 'active' },
      { resourceType: 'Group', id: 'g1', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/k1' } }, { entity: { reference: 'Patient/k2' } }] },
    ];
    for (const r of puts) assert.equal((await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r })).status, 201, r.id);
  });
  after(() => server.close());

  const levels = () => [
    ['system', `${base}/$export`],
    ['Patient', `${base}/Patient/$export`],
    ['Group', `${base}/Group/g1/$export`],
  ];
  const parameters = JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }] });

  it('KO-10: no Accept header → 400 OperationOutcome naming Accept, GET and POST at all three levels, no job recorded', async () => {
    const jobs = await jobCount();
    for (const [level, url] of levels()) {
      for (const method of ['GET', 'POST']) {
        const headers: Record<string, string> = { authorization: `Bearer ${token}`, prefer: 'respond-async' };
        if (method === 'POST') headers['content-type'] = 'application/fhir+json';
        const r = await raw(method === 'GET' ? `${url}?_type=Patient` : url, method, headers, method === 'POST' ? parameters : undefined);
        assert.equal(r.status, 400, `${method} ${level}: ${r.text}`);
        assert.ok(isOperationOutcome(r), `${method} ${level}: ${r.headers.get('content-type')} ${r.text}`);
        assert.equal(r.json.issue[0].code, 'required');
        assert.match(r.json.issue[0].diagnostics, /Accept: application\/fhir\+json/);
        assert.equal(r.headers.get('content-location'), null);
      }
    }
    assert.equal(await jobCount(), jobs, 'nothing was started');
  });

  it('KO-11: Prefer without respond-async (absent, or handling=lenient alone) → 400 naming Prefer: respond-async, GET and POST at all three levels', async () => {
    const jobs = await jobCount();
    for (const [level, url] of levels()) {
      for (const prefer of [undefined, 'handling=lenient']) {
        const get = await http(`${url}?_type=Patient`, { headers: { accept: 'application/fhir+json', ...(prefer ? { prefer } : {}) } });
        const post = await http(url, { method: 'POST', body: parameters, headers: { accept: 'application/fhir+json', ...(prefer ? { prefer } : {}) } });
        for (const [method, r] of [['GET', get], ['POST', post]] as const) {
          assert.equal(r.status, 400, `${method} ${level} Prefer ${prefer}: ${r.text}`);
          assert.ok(isOperationOutcome(r));
          assert.match(r.json.issue[0].diagnostics, /Prefer: respond-async/);
        }
      }
    }
    assert.equal(await jobCount(), jobs, 'nothing was started');
  });

  it('KO-10, KO-11: with both headers (Accept any JSON type or */*; respond-async alone or with handling=lenient) → 202, GET and POST', async () => {
    for (const [level, url] of levels()) {
      for (const [accept, prefer] of [['application/fhir+json', 'respond-async'], ['application/json', 'respond-async,handling=lenient'], ['*/*', 'handling=lenient; respond-async']]) {
        for (const method of ['GET', 'POST']) {
          const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept, prefer };
          if (method === 'POST') headers['content-type'] = 'application/fhir+json';
          const r = await raw(method === 'GET' ? `${url}?_type=Patient` : url, method, headers, method === 'POST' ? parameters : undefined);
          assert.equal(r.status, 202, `${method} ${level} ${accept} ${prefer}: ${r.text}`);
          assert.equal((await http(r.headers.get('content-location')!, { method: 'DELETE' })).status, 202);
        }
      }
    }
  });

  it('KO-21: _since in the future → 400 OperationOutcome naming _since (GET, POST, all levels); a past _since → 202', async () => {
    const future = '2057-01-01T00:00:00+05:00';
    for (const [level, url] of levels()) {
      const get = await kickOff(`${url}?_since=${future}`);
      const post = await kickOff(url, { body: { resourceType: 'Parameters', parameter: [{ name: '_since', valueInstant: future }] } });
      for (const [method, r] of [['GET', get], ['POST', post]] as const) {
        assert.equal(r.status, 400, `${method} ${level}: ${r.text}`);
        assert.ok(isOperationOutcome(r));
        assert.deepEqual(r.json.issue[0].expression, ['_since']);
        assert.match(r.json.issue[0].diagnostics, /in the future/);
      }
    }
    const past = await kickOff(`${base}/$export?_type=Patient&_since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    assert.equal(past.status, 202, past.text);
    await http(past.headers.get('content-location')!, { method: 'DELETE' });
  });

  it('KO-23: Patient level, _type=Patient&_type=HealthcareService (outside the compartment) → 202; only the HealthcareService the patients reference', async () => {
    const { manifest, byType } = await runExport(`${base}/Patient/$export?_type=Patient&_type=HealthcareService`);
    assert.deepEqual(refs(byType.get('HealthcareService')!), ['HealthcareService/hs-k3', 'HealthcareService/hs-used']);
    assert.deepEqual(refs(byType.get('Patient')!), ['Patient/k1', 'Patient/k2', 'Patient/k3']);
    assert.deepEqual(manifest.error, [], 'without lenient handling nothing is reported');
  });

  it('KO-23: Group level holds what its members reference: hs-used (k1), not hs-k3 (k3 is no member) nor hs-unused', async () => {
    const { byType } = await runExport(`${base}/Group/g1/$export?_type=Patient,HealthcareService`);
    assert.deepEqual(refs(byType.get('HealthcareService')!), ['HealthcareService/hs-used']);
    assert.deepEqual(refs(byType.get('Patient')!), ['Patient/k1', 'Patient/k2']);
  });

  it('KO-23: a type nothing references (ActivityDefinition, as BDT sends it) → 202 and no output of it; lenient → an error-file note per type', async () => {
    for (const url of [`${base}/Patient/$export?_type=Patient&_type=ActivityDefinition`, `${base}/Group/g1/$export?_type=Patient&_type=ActivityDefinition`]) {
      const strict = await runExport(url);
      assert.equal(strict.byType.has('ActivityDefinition'), false, url);
      assert.ok(strict.byType.get('Patient')!.length >= 2);
      assert.deepEqual(strict.manifest.error, []);
      const lenient = await runExport(url, { headers: { prefer: 'respond-async, handling=lenient' } });
      assert.equal(lenient.byType.has('ActivityDefinition'), false);
      assert.equal(lenient.manifest.error.length, 1);
      const notes = lenient.byType.get('OperationOutcome')!;
      assert.equal(notes.length, 1);
      assert.equal(notes[0].issue[0].severity, 'information');
      assert.match(notes[0].issue[0].diagnostics, /ActivityDefinition is not in the Patient compartment/);
    }
    // An unknown type stays a 400 (BDT: "Validates the _type parameter").
    const unknown = await kickOff(`${base}/Patient/$export?_type=MissingType`);
    assert.equal(unknown.status, 400);
    assert.ok(isOperationOutcome(unknown));
  });

  it('KO-23: only types outside the compartment (and not usually referenced) → 400 naming them; lenient → 202 with the note', async () => {
    for (const url of [`${base}/Patient/$export?_type=ActivityDefinition`, `${base}/Group/g1/$export?_type=ActivityDefinition,HealthcareService`]) {
      const r = await kickOff(url);
      assert.equal(r.status, 400, url);
      assert.ok(isOperationOutcome(r));
      assert.equal(r.json.issue[0].code, 'not-supported');
      assert.match(r.json.issue[0].diagnostics, /ActivityDefinition.* outside the Patient compartment/);
    }
    const lenient = await runExport(`${base}/Patient/$export?_type=HealthcareService`, { headers: { prefer: 'respond-async, handling=lenient' } });
    assert.deepEqual(refs(lenient.byType.get('HealthcareService')!), ['HealthcareService/hs-k3', 'HealthcareService/hs-used']);
    assert.match(lenient.byType.get('OperationOutcome')![0].issue[0].diagnostics, /HealthcareService is not in the Patient compartment/);
    // Practitioner and the other usually referenced types were always accepted alone.
    const practitioners = await kickOff(`${base}/Patient/$export?_type=Practitioner`);
    assert.equal(practitioners.status, 202);
    await http(practitioners.headers.get('content-location')!, { method: 'DELETE' });
  });

  it('KO-25, KO-30: unknown patient ids → 400; with handling=lenient they are left out and named in the error file', async () => {
    const body = { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: 'Patient/k1' } }, { name: 'patient', valueReference: { reference: 'Patient/test-patient-id' } }, { name: '_type', valueString: 'Patient' }] };
    const strict = await kickOff(`${base}/Patient/$export`, { body });
    assert.equal(strict.status, 400);
    assert.match(strict.json.issue[0].diagnostics, /Patient\/test-patient-id is not known/);
    for (const url of [`${base}/Patient/$export`, `${base}/Group/g1/$export`]) {
      const lenient = await runExport(url, { body, headers: { prefer: 'respond-async, handling=lenient' } });
      assert.deepEqual(refs(lenient.byType.get('Patient')!), ['Patient/k1'], url);
      const outcomes = lenient.byType.get('OperationOutcome')!;
      assert.equal(outcomes.length, 1);
      assert.equal(outcomes[0].issue[0].severity, 'warning');
      assert.match(outcomes[0].issue[0].diagnostics, /patient: Patient\/test-patient-id (is not known|is not a member of Group\/g1)/);
    }
  });

  it('ST-11, ST-21: after DELETE the status URL answers 404 with an OperationOutcome in the JSON type the client accepts', async () => {
    const k = await kickOff(`${base}/$export?_type=Patient`);
    assert.equal(k.status, 202);
    const url = k.headers.get('content-location')!;
    const del = await http(url, { method: 'DELETE', headers: { accept: 'application/json' } });
    assert.equal(del.status, 202);
    assert.match(del.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(del.json.resourceType, 'OperationOutcome');
    const cases: [string | undefined, RegExp][] = [
      ['application/json', /^application\/json/],
      ['application/fhir+json', /^application\/fhir\+json/],
      ['application/json, application/fhir+json;q=0.5', /^application\/json/],
      ['application/fhir+json, application/json', /^application\/fhir\+json/],
      [undefined, /^application\/fhir\+json/],
    ];
    for (const [accept, type] of cases) {
      const gone = accept ? await http(url, { headers: { accept } }) : await raw(url, 'GET', { authorization: `Bearer ${token}` });
      assert.equal(gone.status, 404, `${accept}`);
      assert.match(gone.headers.get('content-type') ?? '', type, `Accept ${accept}`);
      assert.equal(gone.json.resourceType, 'OperationOutcome');
      assert.equal(gone.json.issue[0].code, 'not-found');
    }
    // A FHIR endpoint's errors stay application/fhir+json whatever Accept says.
    const read = await http(`${base}/Patient/nobody`, { headers: { accept: 'application/json' } });
    assert.equal(read.status, 404);
    assert.match(read.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    // A finished export's manifest is application/json as before.
    const done = await kickOff(`${base}/$export?_type=Patient`);
    assert.match((await poll(done.headers.get('content-location')!)).headers.get('content-type') ?? '', /^application\/json/);
  });
});
