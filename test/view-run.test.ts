// `$run` of SQL on FHIR v2 ViewDefinitions over HTTP: the specification's own conformance suite
// (each test's view as viewResource, its resources as `resource`, _format=json, rows compared,
// expectError → 400), then server data: formats (json, ndjson, csv with and without header,
// Parquet read back with a Parquet reader), patient / group / _since / _limit, scopes and
// granular filters applied in SQL, bad input, and the audit record.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import type { TenantContext } from '../src/interactions/context.js';
import { storedPages } from '../src/views/source.js';
import { tokenFor } from './helpers/auth.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';
import { compareRows, isExperimental, loadSuite } from './helpers/sql-on-fhir.js';

const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

function parameters(view: unknown, resources: unknown[], extra: Record<string, unknown>[] = []): unknown {
  return {
    resourceType: 'Parameters',
    parameter: [{ name: 'viewResource', resource: view }, ...resources.map((r) => ({ name: 'resource', resource: r })), ...extra],
  };
}

describe('$run', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('view-run'));
  });
  after(() => server.close());

  describe('the SQL on FHIR v2 conformance suite over HTTP', () => {
    for (const file of loadSuite()) {
      it(`${file.file}: every test as viewResource + resource parameters, _format=json`, async () => {
        const failures: string[] = [];
        for (const t of file.tests) {
          const r = await http(`${base}/ViewDefinition/$run`, { body: parameters(t.view, file.resources, [{ name: '_format', valueCode: 'json' }]) });
          if (t.expectError) {
            if (r.status !== 400 || !isOperationOutcome(r)) failures.push(`${t.title}: expected 400, got ${r.status} ${r.text.slice(0, 200)}`);
            continue;
          }
          if (r.status === 400 && isExperimental(t) && r.json?.issue?.[0]?.code === 'not-supported') continue;
          if (r.status !== 200) {
            failures.push(`${t.title}: ${r.status} ${r.text.slice(0, 300)}`);
            continue;
          }
          assert.match(r.headers.get('content-type')!, /^application\/json/);
          const rows = r.json as Record<string, unknown>[];
          const columns = t.expectColumns ?? (rows.length ? Object.keys(rows[0]) : t.expect?.length ? Object.keys(t.expect[0]) : []);
          const problem = compareRows(t, columns, rows);
          if (problem) failures.push(`${t.title}: ${problem}`);
        }
        assert.deepEqual(failures, []);
      });
    }
  });

  describe('on server data', () => {
    const patientView = {
      resourceType: 'ViewDefinition',
      name: 'patients',
      url: 'https://example.org/views/patients',
      status: 'active',
      resource: 'Patient',
      select: [{ column: [{ name: 'key', path: 'getResourceKey()', type: 'string' }, { name: 'family', path: 'name.family.first()', type: 'string' }, { name: 'birth_date', path: 'birthDate', type: 'date' }] }],
    };
    const obsView = {
      resourceType: 'ViewDefinition',
      name: 'observations',
      resource: 'Observation',
      select: [
        {
          column: [
            { name: 'id', path: 'id', type: 'id' },
            { name: 'patient', path: 'subject.getReferenceKey(Patient)', type: 'string' },
            { name: 'category', path: 'category.coding.code.first()', type: 'code' },
            { name: 'value', path: 'value.ofType(Quantity).value', type: 'decimal' },
            { name: 'count', path: 'value.ofType(Quantity).value.exists()', type: 'boolean' },
            { name: 'issued', path: 'issued', type: 'instant' },
          ],
        },
      ],
    };
    let patientViewId: string;
    before(async () => {
      for (let i = 0; i < 12; i++) {
        const id = `p${String(i).padStart(2, '0')}`;
        assert.equal((await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name: [{ family: `Fam, "${i}"` }], birthDate: `19${50 + i}-0${(i % 9) + 1}` } })).status, 201);
        for (const cat of ['laboratory', 'vital-signs']) {
          const obs = {
            resourceType: 'Observation',
            id: `${id}-${cat}`,
            status: 'final',
            category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: cat }] }],
            code: { text: cat },
            subject: { reference: `Patient/${id}` },
            issued: '2024-03-04T05:06:07.890Z',
            valueQuantity: { value: i + 0.5 },
          };
          assert.equal((await http(`${base}/Observation/${obs.id}`, { method: 'PUT', body: obs })).status, 201);
        }
      }
      assert.equal((await http(`${base}/Group/cohort`, { method: 'PUT', body: { resourceType: 'Group', id: 'cohort', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/p01' } }, { entity: { reference: 'Patient/p02' } }] } })).status, 201);
      const created = await http(`${base}/ViewDefinition`, { body: patientView });
      assert.equal(created.status, 201, created.text);
      patientViewId = created.json.id;
      assert.equal((await http(`${base}/ViewDefinition/observations`, { method: 'PUT', body: { ...obsView, id: 'observations' } })).status, 201);
    });

    it('GET instance $run: JSON by default, every stored resource once', async () => {
      const r = await http(`${base}/ViewDefinition/${patientViewId}/$run`);
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type')!, /^application\/json/);
      assert.equal(r.json.length, 12);
      assert.deepEqual(r.json.find((x: any) => x.key === 'Patient/p03'), { key: 'Patient/p03', family: 'Fam, "3"', birth_date: '1953-04' });
    });

    it('server data is read in keyset pages: with pages of 5, every resource exactly once', async () => {
      const ctx = { pool: server.db.pool, tenant, base, config: server.config } as unknown as TenantContext;
      const seen: string[] = [];
      let pages = 0;
      for await (const page of storedPages(ctx, 'Observation', [], [], 5)) {
        assert.ok(page.length <= 5);
        pages++;
        seen.push(...page.map((r) => r.id as string));
      }
      assert.equal(pages, 5);
      assert.equal(new Set(seen).size, 24);
      assert.equal(seen.length, 24);
    });

    it('CSV with header (RFC 4180 quoting), without header, and NDJSON', async () => {
      const csv = await http(`${base}/ViewDefinition/${patientViewId}/$run?_format=csv&_limit=2`);
      assert.equal(csv.status, 200, csv.text);
      assert.match(csv.headers.get('content-type')!, /^text\/csv/);
      assert.equal(csv.text, 'key,family,birth_date\r\nPatient/p00,"Fam, ""0""",1950-01\r\nPatient/p01,"Fam, ""1""",1951-02\r\n');
      const bare = await http(`${base}/ViewDefinition/${patientViewId}/$run?_format=csv&header=false&_limit=1`);
      assert.equal(bare.text, 'Patient/p00,"Fam, ""0""",1950-01\r\n');
      const nd = await http(`${base}/ViewDefinition/${patientViewId}/$run`, { headers: { accept: 'application/x-ndjson' } });
      assert.match(nd.headers.get('content-type')!, /^application\/x-ndjson/);
      const lines = nd.text.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 12);
    });

    it('Parquet typed from the FHIR types, read back with a Parquet reader', async () => {
      const res = await fetch(`${base}/ViewDefinition/observations/$run?_format=parquet`, { headers: { authorization: `Bearer ${(await tokenFor(server.db.pool, server.origin, tenant)).token}` } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/vnd.apache.parquet');
      const bytes = new Uint8Array(await res.arrayBuffer());
      assert.equal(Buffer.from(bytes.slice(0, 4)).toString(), 'PAR1');
      const rows = (await parquetReadObjects({ file: bytes.buffer })) as Record<string, unknown>[];
      assert.equal(rows.length, 24);
      const one = rows.find((r) => r.id === 'p04-laboratory')!;
      assert.deepEqual({ ...one }, { id: 'p04-laboratory', patient: 'Patient/p04', category: 'laboratory', value: 4.5, count: true, issued: new Date('2024-03-04T05:06:07.890Z') });
    });

    it('POST type-level $run with viewReference (by id and by canonical url), patient, group, _since and _limit', async () => {
      const run = async (extra: Record<string, unknown>[]) => {
        const r = await http(`${base}/ViewDefinition/$run`, { body: { resourceType: 'Parameters', parameter: extra } });
        assert.equal(r.status, 200, r.text);
        return (r.json as { key?: string; id?: string }[]).map((x) => x.key ?? x.id).sort();
      };
      assert.equal((await run([{ name: 'viewReference', valueReference: { reference: `ViewDefinition/${patientViewId}` } }])).length, 12);
      assert.deepEqual(await run([{ name: 'viewReference', valueReference: { reference: patientView.url } }, { name: 'patient', valueReference: { reference: 'Patient/p05' } }]), ['Patient/p05']);
      assert.deepEqual(await run([{ name: 'viewReference', valueReference: { reference: 'ViewDefinition/observations' } }, { name: 'group', valueReference: { reference: 'Group/cohort' } }]), [
        'p01-laboratory',
        'p01-vital-signs',
        'p02-laboratory',
        'p02-vital-signs',
      ]);
      assert.equal((await run([{ name: 'viewReference', valueReference: { reference: 'ViewDefinition/observations' } }, { name: '_limit', valueInteger: 5 }])).length, 5);
      const later = new Date(Date.now() + 60_000).toISOString();
      assert.deepEqual(await run([{ name: 'viewReference', valueReference: { reference: 'ViewDefinition/observations' } }, { name: '_since', valueInstant: later }]), []);
      const earlier = new Date(Date.now() - 3_600_000).toISOString();
      assert.equal((await run([{ name: 'viewReference', valueReference: { reference: 'ViewDefinition/observations' } }, { name: '_since', valueInstant: earlier }])).length, 24);
    });

    it('reads only what the token may read: 403 without the type, granular filters applied', async () => {
      const noObs = await tokenFor(server.db.pool, server.origin, tenant, 'system/ViewDefinition.rs system/Patient.rs');
      const denied = await http(`${base}/ViewDefinition/observations/$run`, { headers: { authorization: `Bearer ${noObs.token}` } });
      assert.equal(denied.status, 403);
      assert.ok(isOperationOutcome(denied));
      const labOnly = await tokenFor(server.db.pool, server.origin, tenant, `system/ViewDefinition.rs system/Observation.rs?category=${LAB}`);
      const r = await http(`${base}/ViewDefinition/observations/$run`, { headers: { authorization: `Bearer ${labOnly.token}` } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.length, 12);
      assert.ok(r.json.every((x: any) => x.category === 'laboratory'));
    });

    it('bad input: 400 naming the problem (format, parameters, view), 404 for an unknown view', async () => {
      const bad: [string, { method?: string; body?: unknown }, RegExp][] = [
        [`${base}/ViewDefinition/${patientViewId}/$run?_format=xlsx`, {}, /_format: 'xlsx' is not supported/],
        [`${base}/ViewDefinition/${patientViewId}/$run?_limit=0`, {}, /_limit/],
        [`${base}/ViewDefinition/${patientViewId}/$run?_since=yesterday`, {}, /_since/],
        [`${base}/ViewDefinition/${patientViewId}/$run?patient=Group/x`, {}, /patient: 'Group\/x' is not a Patient reference/],
        [`${base}/ViewDefinition/${patientViewId}/$run?colour=blue`, {}, /'colour' is not a parameter of \$run/],
        [`${base}/ViewDefinition/${patientViewId}/$run?source=s3://elsewhere`, {}, /external data sources are not supported/],
        [`${base}/ViewDefinition/$run`, { method: 'POST', body: { resourceType: 'Parameters', parameter: [] } }, /Name the view/],
        [`${base}/ViewDefinition/$run`, { method: 'POST', body: parameters({ resource: 'Patient', select: [{ column: [{ name: 'n', path: 'name.count()' }] }] }, []) }, /'count\(\)'.*outside the FHIRPath subset/],
        [`${base}/ViewDefinition/$run`, { method: 'POST', body: parameters({ resource: 'Patient', select: [{ column: [{ name: 'n', path: 'name.family' }] }] }, [{ resourceType: 'Patient', name: [{ family: 'a' }, { family: 'b' }] }]) }, /gave 2 values for one row/],
        [`${base}/ViewDefinition/$run`, { method: 'POST', body: { resourceType: 'Patient' } }, /must be a FHIR Parameters resource/],
      ];
      for (const [url, init, message] of bad) {
        const r = await http(url, init);
        assert.equal(r.status, 400, `${url}: ${r.text}`);
        assert.ok(isOperationOutcome(r));
        assert.match(r.json.issue[0].diagnostics, message);
      }
      const missing = await http(`${base}/ViewDefinition/no-such-view/$run`);
      assert.equal(missing.status, 404);
      assert.ok(isOperationOutcome(missing));
      assert.equal(missing.json.issue[0].diagnostics, 'ViewDefinition/no-such-view is not known');
      const byUrl = await http(`${base}/ViewDefinition/$run`, { body: { resourceType: 'Parameters', parameter: [{ name: 'viewReference', valueReference: { reference: 'http://example.org/views/none' } }] } });
      assert.equal(byUrl.status, 404, byUrl.text);
      assert.equal(byUrl.json.issue[0].diagnostics, "No ViewDefinition has the url 'http://example.org/views/none'");
    });

    it('a small answer is sent whole with its Content-Length; one past 64 KiB streams chunked, every row once', async () => {
      const small = await http(`${base}/ViewDefinition/observations/$run?_format=ndjson&patient=p07`);
      assert.equal(small.status, 200, small.text);
      assert.equal(small.headers.get('content-length'), String(Buffer.byteLength(small.text)));
      assert.equal(small.headers.get('transfer-encoding'), null);
      const view = { resourceType: 'ViewDefinition', resource: 'Patient', status: 'active', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'family', path: 'name.family.first()' }] }] };
      const patients = Array.from({ length: 400 }, (_, i) => ({ resourceType: 'Patient', id: `big${i}`, name: [{ family: `F${i}-${'x'.repeat(200)}` }] }));
      const big = await http(`${base}/ViewDefinition/$run`, { body: parameters(view, patients, [{ name: '_format', valueCode: 'ndjson' }]) });
      assert.equal(big.status, 200, big.text.slice(0, 300));
      assert.ok(Buffer.byteLength(big.text) > 64 * 1024);
      assert.equal(big.headers.get('content-length'), null);
      assert.equal(big.headers.get('transfer-encoding'), 'chunked');
      assert.deepEqual(big.text.trim().split('\n').map((l) => JSON.parse(l).id), patients.map((p) => p.id));
    });

    it('every run is audited as view-run with the rows\' source resources counted', async () => {
      const r = await http(`${base}/ViewDefinition/observations/$viewdefinition-run?_format=ndjson&patient=p07`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text.trim().split('\n').length, 2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await server.app.auditLog!.flush();
      const { rows } = await server.db.pool.query("SELECT * FROM audit_event WHERE tenant = $1 AND interaction = 'view-run' AND path LIKE '%$viewdefinition-run' ORDER BY seq", [tenant]);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].resource_type, 'ViewDefinition');
      assert.equal(rows[0].resource_id, 'observations');
      assert.equal(rows[0].status, 200);
      assert.equal(Number(rows[0].resources), 2);
    });
  });
});
