// Kick-off parameters, each by checklist id (KO-02…KO-30, KO-42, ST-09, KO-28, KO-29): what
// they select, how they are decoded, and strict vs lenient handling of what is unsupported.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { tokenFor } from './helpers/auth.js';
import { kickOff, loadFixtures, poll, refs, runExport } from './helpers/bulk.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

const LENIENT = { prefer: 'respond-async, handling=lenient' };

describe('bulk export parameters', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let stored: any[];
  const of = (type: string) => stored.filter((r) => r.resourceType === type);

  before(async () => {
    server = await startServer({ export: { ...loadConfig().export, manifestPageSize: 2, fileMaxBytes: 4096 } }, { workers: 2 });
    ({ tenant, base } = await server.newTenant('bulkparams'));
    stored = await loadFixtures(base);
  });
  after(() => server.close());

  function countsByType(output: { type: string; count: number }[]): Map<string, number> {
    const m = new Map<string, number>();
    for (const o of output) m.set(o.type, (m.get(o.type) ?? 0) + o.count);
    return m;
  }

  async function errorLines(manifest: any): Promise<any[]> {
    const out: any[] = [];
    for (const e of manifest.error) out.push(...(await http(e.url)).text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    return out;
  }

  it('KO-02: POST with a Parameters body (patient as valueReference) → 202 and the same selection', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient,Condition' },
        { name: 'patient', valueReference: { reference: 'Patient/adult' } },
      ],
    };
    const { byType, manifest } = await runExport(`${base}/Patient/$export`, { body });
    assert.equal(manifest.request, `${base}/Patient/$export`, 'ST-05: request without the body parameters');
    assert.deepEqual(refs(byType.get('Patient')!), ['Patient/adult']);
    assert.deepEqual(refs(byType.get('Condition')!), refs(of('Condition').filter((c) => c.subject?.reference === 'Patient/adult')));
    const wrong = await kickOff(`${base}/$export`, { body: { resourceType: 'Patient' } });
    assert.equal(wrong.status, 400);
    assert.ok(isOperationOutcome(wrong));
  });

  it('KO-04: repeated _type is one comma list', async () => {
    const a = await runExport(`${base}/$export?_type=Patient&_type=Organization`);
    assert.deepEqual([...a.byType.keys()].sort(), ['Organization', 'Patient']);
  });

  it('KO-05, KO-20: the three output formats (percent-encoded and with a decoded +) → 202; another → 400, lenient → 202 with the parameter reported', async () => {
    for (const f of ['application%2Ffhir%2Bndjson', 'application/fhir+ndjson', 'application/ndjson', 'ndjson']) {
      const k = await kickOff(`${base}/$export?_type=Patient&_outputFormat=${f}`);
      assert.equal(k.status, 202, f);
      await http(k.headers.get('content-location')!, { method: 'DELETE' });
    }
    const csv = await kickOff(`${base}/$export?_outputFormat=text/csv`);
    assert.equal(csv.status, 400);
    assert.ok(isOperationOutcome(csv));
    assert.equal(csv.json.issue[0].code, 'not-supported');
    const lenient = await runExport(`${base}/$export?_type=Patient&_outputFormat=text/csv`, { headers: LENIENT });
    const errors = await errorLines(lenient.manifest);
    assert.equal(errors.length, 1);
    assert.match(errors[0].issue[0].diagnostics, /_outputFormat/);
    assert.equal(lenient.manifest.error[0].type, 'OperationOutcome');
  });

  it('KO-21: _since — malformed → 400; with the last transactionTime exactly what changed since (no gap, no overlap)', async () => {
    assert.equal((await kickOff(`${base}/$export?_since=2024-01-01`)).status, 400, 'a date is not an instant');
    assert.equal((await kickOff(`${base}/$export?_since=yesterday`)).status, 400);
    const offset = await kickOff(`${base}/$export?_type=Patient&_since=2020-01-01T00:00:00%2B05:00`);
    assert.equal(offset.status, 202);
    await http(offset.headers.get('content-location')!, { method: 'DELETE' });

    const first = await runExport(`${base}/$export?_type=Condition`);
    const condition = of('Condition')[0];
    assert.equal((await http(`${base}/Condition/${condition.id}`, { method: 'PUT', body: { ...condition, meta: undefined } })).status, 200);
    const next = await runExport(`${base}/$export?_type=Condition&_since=${encodeURIComponent(first.manifest.transactionTime)}`);
    assert.deepEqual(refs(next.byType.get('Condition') ?? []), [`Condition/${condition.id}`]);
  });

  it('KO-22: _until bounds the changes from above; _until before _since → 400', async () => {
    const r = await runExport(`${base}/$export?_type=Patient&_until=2000-01-01T00:00:00Z`);
    assert.deepEqual(r.manifest.output, [], 'ST-06: output [] when nothing matches');
    assert.equal((await kickOff(`${base}/$export?_since=2024-01-02T00:00:00Z&_until=2024-01-01T00:00:00Z`)).status, 400);
  });

  it('KO-23: unknown type → 400 (lenient 202); only non-compartment types at Patient level → 400 (mixed with compartment types → 202: bulk-kits.test.ts); unreadable type → 403; no _type → what the scopes allow', async () => {
    assert.equal((await kickOff(`${base}/$export?_type=Bogus`)).status, 400);
    const lenient = await kickOff(`${base}/$export?_type=Patient,Bogus`, { headers: LENIENT });
    assert.equal(lenient.status, 202);
    await http(lenient.headers.get('content-location')!, { method: 'DELETE' });
    assert.equal((await kickOff(`${base}/Patient/$export?_type=Questionnaire`)).status, 400, 'only types outside the compartment');

    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/Patient.rs system/Condition.rs');
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await kickOff(`${base}/$export?_type=Observation`, { headers: auth })).status, 403);
    const k = await kickOff(`${base}/$export`, { headers: auth });
    assert.equal(k.status, 202);
    const done = await poll(k.headers.get('content-location')!, auth);
    assert.deepEqual([...new Set(done.json.output.map((o: any) => o.type))].sort(), ['Condition', 'Patient']);
  });

  it('KO-24: _elements keeps the listed and mandatory elements, tags SUBSETTED, and leaves other types whole', async () => {
    const { byType } = await runExport(`${base}/$export?_type=Patient,Organization&_elements=Patient.gender`);
    for (const p of byType.get('Patient')!) {
      // `_gender` (the element's extensions) belongs to gender.
      const elements = new Set(Object.keys(p).filter((k) => k !== 'meta').map((k) => k.replace(/^_/, '')));
      assert.deepEqual([...elements].sort(), ['gender', 'id', 'resourceType'].filter((k) => k in p || `_${k}` in p).sort());
      assert.ok(p.meta.tag.some((t: any) => t.code === 'SUBSETTED'));
      assertValidR4(p);
    }
    const org = byType.get('Organization')![0];
    assert.ok(!org.meta?.tag?.some((t: any) => t.code === 'SUBSETTED'));
    assert.equal((await kickOff(`${base}/$export?_elements=Patient.name.family`)).status, 400, 'only root elements');
  });

  it('KO-25: patient= on a system export → 400; unknown patient → 400; a Group non-member → 400', async () => {
    assert.equal((await kickOff(`${base}/$export?patient=Patient/adult`)).status, 400);
    assert.equal((await kickOff(`${base}/Patient/$export?patient=Patient/nobody`)).status, 400);
    assert.equal((await http(`${base}/Group/pair`, { method: 'PUT', body: { resourceType: 'Group', id: 'pair', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/adult' } }] } })).status, 201);
    const r = await kickOff(`${base}/Group/pair/$export?patient=Patient/child`);
    assert.equal(r.status, 400);
    assert.match(r.json.issue[0].diagnostics, /not a member/);
  });

  it('KO-26: includeAssociatedData=_custom → 400; Latest/Relevant accepted', async () => {
    assert.equal((await kickOff(`${base}/Patient/$export?includeAssociatedData=_custom`)).status, 400);
    const r = await runExport(`${base}/Patient/$export?_type=Patient,Provenance&includeAssociatedData=LatestProvenanceResources`);
    assert.ok(r.byType.has('Patient'));
  });

  it('KO-27: _typeFilter with a result parameter → 400; unknown parameter strict 400 / lenient reported; malformed value → 400', async () => {
    const q = (f: string) => encodeURIComponent(f);
    assert.equal((await kickOff(`${base}/$export?_typeFilter=${q('Patient?_include=Patient:organization')}`)).status, 400);
    assert.equal((await kickOff(`${base}/$export?_typeFilter=${q('Patient?nonsense=1')}`)).status, 400);
    assert.equal((await kickOff(`${base}/$export?_typeFilter=${q('Condition?onset-date=notadate')}`)).status, 400);
    const lenient = await runExport(`${base}/$export?_type=Patient&_typeFilter=${q('Patient?nonsense=1&gender=female')}`, { headers: LENIENT });
    assert.deepEqual(refs(lenient.byType.get('Patient')!), refs(of('Patient').filter((p) => p.gender === 'female')));
    assert.equal((await errorLines(lenient.manifest)).length, 1);
  });

  it('KO-28: organizeOutputBy=Patient — blocks headed by a Parameters naming the patient, then the patient, then its resources', async () => {
    const { manifest, byType } = await runExport(`${base}/Patient/$export?_type=Patient,Condition,Encounter&organizeOutputBy=Patient`);
    assert.equal(manifest.outputOrganizedBy, 'Patient');
    for (const item of manifest.output) assert.equal(item.type, undefined);
    const lines = byType.get('*')!;
    let current: string | undefined;
    let expectPatient = false;
    for (const line of lines) {
      if (line.resourceType === 'Parameters') {
        assert.equal(line.parameter[0].name, 'header');
        current = line.parameter[0].valueReference.reference;
        expectPatient = true;
        continue;
      }
      assert.ok(current, 'every resource is inside a block');
      if (expectPatient && line.resourceType === 'Patient') assert.equal(`Patient/${line.id}`, current);
      expectPatient = false;
      if (line.resourceType !== 'Patient') assert.equal(line.subject?.reference, current);
    }
    assert.equal(lines.filter((l) => l.resourceType === 'Patient').length, of('Patient').length);
  });

  it('KO-29: allowPartialManifests pages the manifest with link next; every page lists different files', async () => {
    const k = await kickOff(`${base}/$export?allowPartialManifests=true`);
    const first = await poll(k.headers.get('content-location')!);
    assert.equal(first.status, 200);
    assert.equal(first.json.output.length, 2, 'EXPORT_MANIFEST_PAGE_SIZE=2');
    const seen = new Set(first.json.output.map((o: any) => o.url));
    const paged = countsByType(first.json.output);
    let next = first.json.link?.find((l: any) => l.relation === 'next')?.url;
    assert.ok(next);
    while (next) {
      const page = await http(next);
      assert.equal(page.status, 200);
      for (const o of page.json.output) {
        assert.ok(!seen.has(o.url));
        seen.add(o.url);
      }
      for (const [type, n] of countsByType(page.json.output)) paged.set(type, (paged.get(type) ?? 0) + n);
      next = page.json.link?.find((l: any) => l.relation === 'next')?.url;
    }
    // Together the pages hold the whole export. Compared by resources per type, not by files:
    // rows come in the plan's order, so how lines pack into 4 kB files can differ between two runs.
    const whole = await runExport(`${base}/$export`);
    assert.deepEqual([...paged].sort(), [...countsByType(whole.manifest.output)].sort());
  });

  it('KO-30: an unknown parameter → 400; lenient → ignored and reported', async () => {
    const strict = await kickOff(`${base}/$export?_frobnicate=1`);
    assert.equal(strict.status, 400);
    assert.match(strict.json.issue[0].diagnostics, /_frobnicate/);
    const lenient = await runExport(`${base}/$export?_type=Patient&_frobnicate=1`, { headers: LENIENT });
    assert.match((await errorLines(lenient.manifest))[0].issue[0].diagnostics, /_frobnicate/);
  });

  it('ST-09: with _since, deleted resources are transaction Bundles of DELETE entries and absent from output', async () => {
    const before = await runExport(`${base}/$export?_type=Encounter`);
    const victim = of('Encounter')[0];
    assert.ok([200, 204].includes((await http(`${base}/Encounter/${victim.id}`, { method: 'DELETE' })).status));
    const after = await runExport(`${base}/$export?_type=Encounter&_since=${encodeURIComponent(before.manifest.transactionTime)}`);
    assert.equal(after.manifest.deleted.length, 1);
    const bundles = after.byType.get('Bundle')!;
    assert.equal(bundles.length, 1);
    assert.equal(bundles[0].type, 'transaction');
    assert.deepEqual(bundles[0].entry, [{ request: { method: 'DELETE', url: `Encounter/${victim.id}` } }]);
    assert.ok(!(after.byType.get('Encounter') ?? []).some((e) => e.id === victim.id));
  });

  it('file rollover: with a 4 kB limit a type spans several files; none empty, counts exact', async () => {
    const { manifest, files } = await runExport(`${base}/$export?_type=Observation`);
    assert.ok(manifest.output.length > 1);
    let total = 0;
    for (const o of manifest.output) {
      const text = files.get(o.url)!;
      assert.ok(text.length > 0);
      const lines = text.split('\n').filter(Boolean);
      assert.ok(Buffer.byteLength(text) <= 4096 || lines.length === 1, 'a part exceeds the limit only with a single line');
      total += o.count;
    }
    assert.equal(total, of('Observation').length);
  });
});

describe('KO-42: running exports per client', () => {
  it('beyond the limit → 429 with Retry-After and throttled; DELETE frees the slot at once', async () => {
    const server = await startServer({ export: { ...loadConfig().export, maxJobsPerClient: 1 } }, { workers: 0 });
    try {
      const { base } = await server.newTenant('ko42');
      const first = await kickOff(`${base}/$export`);
      assert.equal(first.status, 202);
      const second = await kickOff(`${base}/$export`);
      assert.equal(second.status, 429);
      assert.match(second.headers.get('retry-after') ?? '', /^\d+$/);
      assert.equal(second.json.issue[0].code, 'throttled');
      assert.equal((await http(first.headers.get('content-location')!, { method: 'DELETE' })).status, 202);
      assert.equal((await kickOff(`${base}/$export`)).status, 202);
    } finally {
      await server.close();
    }
  });
});
