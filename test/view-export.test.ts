// `$viewdefinition-export` over HTTP with real tokens and real workers: kick-off (Parameters,
// 202, Content-Location), status with X-Progress and Retry-After, the Parameters manifest, and
// downloads in ndjson, csv and Parquet (read back with a Parquet reader); several views in one
// request; patient / group / _since; scopes, granular scope filters and a provider-access
// partner's policy; bad input; a view failing part-way (error in the manifest, none of its files
// listed); a worker killed with SIGKILL (its units redone by another); audit; DELETE.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { loadConfig } from '../src/config.js';
import { seedTenant } from '../src/seed/load.js';
import { PROVIDER_A, partnerWorldBundle } from './fixtures/partner-world.js';
import { tokenFor } from './helpers/auth.js';
import { repoRoot } from './helpers/bulk.js';
import { http, isOperationOutcome, type HttpResult } from './helpers/http.js';
import { registerPartner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';

const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const patientView = {
  resourceType: 'ViewDefinition',
  name: 'patients',
  url: 'https://example.org/views/patients',
  status: 'active',
  resource: 'Patient',
  select: [{ column: [{ name: 'id', path: 'getResourceKey()', type: 'string' }, { name: 'family', path: 'name.family.first()', type: 'string' }, { name: 'birth_date', path: 'birthDate', type: 'date' }, { name: 'deceased', path: 'deceased.ofType(boolean)', type: 'boolean' }] }],
};
const obsView = {
  resourceType: 'ViewDefinition',
  name: 'observations',
  status: 'active',
  resource: 'Observation',
  select: [
    {
      column: [
        { name: 'id', path: 'id', type: 'id' },
        { name: 'patient', path: 'subject.getReferenceKey(Patient)', type: 'string' },
        { name: 'category', path: 'category.coding.code.first()', type: 'code' },
        { name: 'value', path: 'value.ofType(Quantity).value', type: 'decimal' },
        { name: 'issued', path: 'issued', type: 'instant' },
      ],
    },
  ],
};

function viewParam(part: Record<string, unknown>[]): Record<string, unknown> {
  return { name: 'view', part };
}

function body(views: Record<string, unknown>[], extra: Record<string, unknown>[] = []): unknown {
  return { resourceType: 'Parameters', parameter: [...views, ...extra] };
}

function param(p: any[], name: string): any {
  return p.find((x) => x.name === name);
}

interface Finished {
  kick: HttpResult;
  status: HttpResult;
  params: any[];
  /** Output files per view name: [url, download] in manifest order. */
  outputs: Map<string, { url: string; res: Response; bytes: Buffer }[]>;
  errors: Map<string, string[]>;
}

async function download(url: string, headers: Record<string, string>): Promise<{ url: string; res: Response; bytes: Buffer }> {
  const res = await fetch(url, { headers });
  return { url, res, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Kick-off, poll at Retry-After (capped), download every listed file with the same token. */
async function runViewExport(url: string, payload: unknown, token: string): Promise<Finished> {
  const auth = { authorization: `Bearer ${token}` };
  const kick = await http(url, { body: payload, headers: { ...ASYNC, ...auth } });
  assert.equal(kick.status, 202, kick.text);
  const location = kick.headers.get('content-location')!;
  assert.equal(param(kick.json.parameter, 'location').valueUri, location);
  let status: HttpResult;
  const deadline = Date.now() + 120_000;
  for (;;) {
    status = await http(location, { headers: auth });
    if (status.status !== 202) break;
    assert.match(status.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(status.headers.get('x-progress') ?? '', /units/);
    assert.match(param(status.json.parameter, 'status').valueCode, /^(accepted|in-progress)$/);
    assert.ok(Date.now() < deadline, 'export did not finish');
    await sleep(200);
  }
  assert.equal(status.status, 200, status.text);
  assert.equal(status.json.resourceType, 'Parameters');
  const outputs = new Map<string, { url: string; res: Response; bytes: Buffer }[]>();
  const errors = new Map<string, string[]>();
  for (const p of status.json.parameter) {
    if (p.name !== 'output' && p.name !== 'error') continue;
    const name = param(p.part, 'name').valueString;
    const urls = p.part.filter((x: any) => x.name === 'location').map((x: any) => x.valueUri as string);
    if (p.name === 'error') {
      const texts: string[] = [];
      for (const u of urls) texts.push((await download(u, auth)).bytes.toString('utf8'));
      errors.set(name, texts);
      continue;
    }
    const files = [];
    for (const u of urls) {
      const d = await download(u, auth);
      assert.equal(d.res.status, 200, u);
      files.push(d);
    }
    outputs.set(name, files);
  }
  return { kick, status, params: status.json.parameter, outputs, errors };
}

function arrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function ndjsonRows(files: { bytes: Buffer }[]): any[] {
  return files.flatMap((f) => f.bytes.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

describe('$viewdefinition-export', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  let token: string;
  let exportDir: string;

  before(async () => {
    exportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-view-exports-'));
    server = await startServer({ export: { ...loadConfig().export, storage: `file:${exportDir}`, unitSize: 2, unitPatients: 2 } }, { workers: 2 });
    ({ base, tenant, token } = await server.newTenant('view-export'));
    for (let i = 1; i <= 7; i++) {
      const id = `p0${i}`;
      // p06 has two family names: `name.family` without .first() gives it two values.
      const name = i === 6 ? [{ family: 'Six' }, { family: 'Sechs' }] : [{ family: `Fam${i}` }];
      assert.equal((await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name, birthDate: `19${50 + i}-0${i}-01`, deceasedBoolean: i === 3 } })).status, 201);
      for (const [j, cat] of ['laboratory', 'vital-signs'].entries()) {
        const obs = {
          resourceType: 'Observation',
          id: `o${i}${j}`,
          status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: cat }] }],
          code: { text: 'x' },
          subject: { reference: `Patient/${id}` },
          issued: '2024-01-02T03:04:05.000Z',
          valueQuantity: { value: i + j / 10, unit: 'mg' },
        };
        assert.equal((await http(`${base}/Observation/${obs.id}`, { method: 'PUT', body: obs })).status, 201);
      }
    }
    assert.equal((await http(`${base}/Group/cohort`, { method: 'PUT', body: { resourceType: 'Group', id: 'cohort', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/p01' } }, { entity: { reference: 'Patient/p02' } }] } })).status, 201);
    assert.equal((await http(`${base}/ViewDefinition/patients`, { method: 'PUT', body: { ...patientView, id: 'patients' } })).status, 201);
  });
  after(async () => {
    await server.close();
    fs.rmSync(exportDir, { recursive: true, force: true });
  });

  it('exports several views in one request as ndjson, with the specification\'s Parameters at every step', async () => {
    const r = await runViewExport(
      `${base}/ViewDefinition/$viewdefinition-export`,
      body([viewParam([{ name: 'viewReference', valueReference: { reference: 'ViewDefinition/patients' } }]), viewParam([{ name: 'name', valueString: 'obs' }, { name: 'viewResource', resource: obsView }])], [
        { name: 'clientTrackingId', valueString: 'track-1' },
        { name: '_format', valueCode: 'ndjson' },
      ]),
      token,
    );
    assert.equal(param(r.kick.json.parameter, 'status').valueCode, 'accepted');
    assert.equal(param(r.kick.json.parameter, 'clientTrackingId').valueString, 'track-1');
    assert.equal(param(r.params, 'status').valueCode, 'completed');
    assert.equal(param(r.params, 'clientTrackingId').valueString, 'track-1');
    assert.equal(param(r.params, '_format').valueCode, 'ndjson');
    assert.ok(param(r.params, 'exportEndTime').valueInstant);
    assert.ok(r.status.headers.get('expires'));
    assert.deepEqual([...r.outputs.keys()], ['patients', 'obs']);
    assert.ok(r.outputs.get('patients')!.length > 1, 'several units, several files');
    for (const f of [...r.outputs.values()].flat()) assert.match(f.res.headers.get('content-type')!, /^application\/x-ndjson/);
    const patients = ndjsonRows(r.outputs.get('patients')!);
    assert.deepEqual(patients.map((p) => p.id).sort(), ['Patient/p01', 'Patient/p02', 'Patient/p03', 'Patient/p04', 'Patient/p05', 'Patient/p06', 'Patient/p07']);
    assert.deepEqual(patients.find((p) => p.id === 'Patient/p03'), { id: 'Patient/p03', family: 'Fam3', birth_date: '1953-03-01', deceased: true });
    assert.equal(ndjsonRows(r.outputs.get('obs')!).length, 14);
    assert.equal(r.errors.size, 0);
  });

  it('csv (with and without header) and Parquet typed by the columns\' FHIR types', async () => {
    const csv = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: obsView }])], [{ name: '_format', valueCode: 'csv' }]), token);
    const files = csv.outputs.get('observations')!;
    for (const f of files) {
      assert.match(f.res.headers.get('content-type')!, /^text\/csv/);
      assert.equal(f.bytes.toString().split('\r\n')[0], 'id,patient,category,value,issued', 'each file has its header');
    }
    assert.equal(files.reduce((n, f) => n + f.bytes.toString().split('\r\n').filter(Boolean).length - 1, 0), 14);
    // The simple parameters may come in the query string too (_format naming the files' format, not the answer's).
    const bare = await runViewExport(`${base}/$viewdefinition-export?_format=csv&header=false`, body([viewParam([{ name: 'viewResource', resource: obsView }])]), token);
    assert.equal(param(bare.params, '_format').valueCode, 'csv');
    assert.equal(bare.outputs.get('observations')!.reduce((n, f) => n + f.bytes.toString().split('\r\n').filter(Boolean).length, 0), 14);

    const pq = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: obsView }]), viewParam([{ name: 'viewReference', valueReference: { reference: 'https://example.org/views/patients' } }])], [{ name: '_format', valueCode: 'parquet' }]), token);
    const rows: any[] = [];
    for (const f of pq.outputs.get('observations')!) {
      assert.equal(f.res.headers.get('content-type'), 'application/vnd.apache.parquet');
      const file = arrayBuffer(f.bytes);
      const schema = parquetSchema(parquetMetadata(file)).children.map((c) => [c.element.name, c.element.type]);
      assert.deepEqual(schema, [['id', 'BYTE_ARRAY'], ['patient', 'BYTE_ARRAY'], ['category', 'BYTE_ARRAY'], ['value', 'DOUBLE'], ['issued', 'INT64']]);
      rows.push(...(await parquetReadObjects({ file })));
    }
    assert.equal(rows.length, 14);
    const o31 = rows.find((x) => x.id === 'o31');
    assert.equal(o31.value, 3.1);
    assert.equal(o31.patient, 'Patient/p03');
    assert.ok(o31.issued instanceof Date && o31.issued.toISOString() === '2024-01-02T03:04:05.000Z');
    const prow: any[] = [];
    for (const f of pq.outputs.get('patients')!) prow.push(...(await parquetReadObjects({ file: arrayBuffer(f.bytes) })));
    assert.equal(prow.find((p) => p.id === 'Patient/p03').deceased, true);
    assert.equal(typeof prow.find((p) => p.id === 'Patient/p01').birth_date, 'string', 'dates stay text');
  });

  it('patient, group and _since bound the rows', async () => {
    const byPatient = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: obsView }])], [{ name: 'patient', valueReference: { reference: 'Patient/p04' } }, { name: 'patient', valueReference: { reference: 'Patient/p05' } }]), token);
    assert.deepEqual(ndjsonRows(byPatient.outputs.get('observations')!).map((o) => o.id).sort(), ['o40', 'o41', 'o50', 'o51']);
    const byGroup = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: obsView }])], [{ name: 'group', valueReference: { reference: 'Group/cohort' } }]), token);
    assert.deepEqual(ndjsonRows(byGroup.outputs.get('observations')!).map((o) => o.patient).sort(), ['Patient/p01', 'Patient/p01', 'Patient/p02', 'Patient/p02']);
    const cut = new Date().toISOString();
    await sleep(20);
    const changed = { resourceType: 'Observation', id: 'o70', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p07' }, valueQuantity: { value: 70 } };
    assert.equal((await http(`${base}/Observation/o70`, { method: 'PUT', body: changed })).status, 200);
    const since = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: obsView }])], [{ name: '_since', valueInstant: cut }]), token);
    assert.deepEqual(ndjsonRows(since.outputs.get('observations')!).map((o) => [o.id, o.value]), [['o70', 70]]);
  });

  it('reads only what the token may read: resource-type scopes, then granular scope filters in SQL', async () => {
    const noObs = await tokenFor(server.db.pool, server.origin, tenant, 'system/ViewDefinition.rs system/Patient.rs');
    const denied = await http(`${base}/$viewdefinition-export`, { body: body([viewParam([{ name: 'viewResource', resource: obsView }])]), headers: { ...ASYNC, authorization: `Bearer ${noObs.token}` } });
    assert.equal(denied.status, 403);
    assert.ok(isOperationOutcome(denied));
    const labOnly = await tokenFor(server.db.pool, server.origin, tenant, `system/ViewDefinition.rs system/Observation.rs?category=${LAB}`);
    const r = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: obsView }])]), labOnly.token);
    const rows = ndjsonRows(r.outputs.get('observations')!);
    // o70 lost its category in the _since test above.
    assert.deepEqual(rows.map((x) => x.id).sort(), ['o10', 'o20', 'o30', 'o40', 'o50', 'o60']);
    assert.deepEqual([...new Set(rows.map((x) => x.category))], ['laboratory']);
  });

  it('refuses bad input with a 400 OperationOutcome naming the problem, and queues nothing', async () => {
    const { rows: before } = await server.db.pool.query('SELECT count(*)::int AS n FROM export_job WHERE tenant = $1', [tenant]);
    const inline = (view: unknown) => body([viewParam([{ name: 'viewResource', resource: view }])]);
    const cases: [unknown, RegExp, Record<string, string>?][] = [
      [inline({ resourceType: 'ViewDefinition', resource: 'Patient', status: 'active' }), /select/],
      [inline({ ...patientView, resource: 'Patientt' }), /Patientt/],
      [inline({ ...patientView, select: [{ column: [{ name: 'x', path: 'name.(' }] }] }), /cannot be parsed/],
      [inline({ ...patientView, select: [{ column: [{ name: 'x', path: 'name.count()' }] }] }), /count\(\)/],
      [body([viewParam([{ name: 'viewResource', resource: patientView }])], [{ name: '_format', valueCode: 'json' }]), /_format/],
      [body([viewParam([{ name: 'viewResource', resource: patientView }])], [{ name: 'source', valueString: 's3://x' }]), /source/],
      [body([]), /view/],
      [inline(patientView), /Prefer/, { prefer: '' }],
    ];
    for (const [payload, problem, headers] of cases) {
      const r = await http(`${base}/ViewDefinition/$viewdefinition-export`, { body: payload, headers: { ...ASYNC, ...(headers ?? {}) } });
      assert.equal(r.status, 400, `${problem}: ${r.text}`);
      assert.ok(isOperationOutcome(r));
      assert.match(r.json.issue[0].diagnostics, problem);
      assert.doesNotMatch(r.text, /at .*\.js|SELECT /);
    }
    const missing = await http(`${base}/ViewDefinition/no-such/$viewdefinition-export`, { method: 'POST', headers: ASYNC });
    assert.equal(missing.status, 404);
    const stranger = await http(`${base}/$viewdefinition-export`, { body: body([viewParam([{ name: 'viewResource', resource: patientView }])], [{ name: 'patient', valueReference: { reference: 'Patient/nobody' } }]), headers: ASYNC });
    assert.equal(stranger.status, 404);
    assert.match(stranger.json.issue[0].diagnostics, /Patient\/nobody/);
    const { rows: afterRows } = await server.db.pool.query('SELECT count(*)::int AS n FROM export_job WHERE tenant = $1', [tenant]);
    assert.equal(afterRows[0].n, before[0].n);
  });

  it('a view failing part-way: an error in the manifest, none of its files listed or left behind, other views complete', async () => {
    const twoFamilies = { ...patientView, name: 'families', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'family', path: 'name.family' }] }] };
    const r = await runViewExport(`${base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: twoFamilies }]), viewParam([{ name: 'viewResource', resource: obsView }])]), token);
    assert.equal(param(r.params, 'status').valueCode, 'failed');
    assert.deepEqual([...r.outputs.keys()], ['observations'], 'the failed view has no output');
    assert.equal(ndjsonRows(r.outputs.get('observations')!).length, 14);
    const [error] = r.errors.get('families')!;
    const outcome = JSON.parse(error.trim());
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.match(outcome.issue[0].diagnostics, /Patient\/p06/);
    assert.match(outcome.issue[0].diagnostics, /collection/);
    // Files of the view's other units exist but are not in the manifest; the failed unit left none.
    const jobId = param(r.params, 'exportId').valueString;
    const { rows: failedUnit } = await server.db.pool.query(`SELECT f.unit_seq FROM export_file f WHERE f.job_id = $1 AND f.kind = 'error'`, [jobId]);
    const left = fs.readdirSync(path.join(exportDir, tenant, jobId));
    assert.ok(!left.some((n) => n.startsWith('view0-') && n.includes(`-${failedUnit[0].unit_seq}-`)), `no partial file of the failed unit: ${left.join(', ')}`);
    assert.ok(!left.some((n) => n.includes('.partial-')));
  });

  it('a provider-access partner exports only its attributed members, without money; the export is audited', async () => {
    const world = await server.newTenant('view-export-policy');
    const load = await http(world.base, { body: partnerWorldBundle() });
    assert.equal(load.status, 200);
    const provider = await registerPartner(server.db.pool, server.origin, world.tenant, 'provider-access', PROVIDER_A);
    const claimLines = JSON.parse(fs.readFileSync(path.join(repoRoot, 'views', 'claim_lines.json'), 'utf8'));
    const r = await runViewExport(`${world.base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: claimLines }]), viewParam([{ name: 'viewResource', resource: patientView }])]), provider.token);
    const lines = ndjsonRows(r.outputs.get('claim_lines')!);
    assert.deepEqual([...new Set(lines.map((l) => l.member_id))], ['Patient/pa1']);
    assert.deepEqual([...new Set(lines.map((l) => l.claim_id))], ['ExplanationOfBenefit/eob-pa1'], 'the look-back limit holds too');
    for (const l of lines) for (const c of ['submitted_amount', 'allowed_amount', 'paid_amount', 'member_liability']) assert.equal(l[c], null, c);
    assert.deepEqual(ndjsonRows(r.outputs.get('patients')!).map((p) => p.id), ['Patient/pa1']);
    // The payer's own client sees the money.
    const internal = await runViewExport(`${world.base}/$viewdefinition-export`, body([viewParam([{ name: 'viewResource', resource: claimLines }])]), world.token);
    assert.ok(ndjsonRows(internal.outputs.get('claim_lines')!).some((l) => l.paid_amount !== null));
    // A patient outside the policy does not exist for the partner.
    const hidden = await http(`${world.base}/$viewdefinition-export`, { body: body([viewParam([{ name: 'viewResource', resource: patientView }])], [{ name: 'patient', valueReference: { reference: 'Patient/pb1' } }]), headers: { ...ASYNC, ...provider.auth } });
    assert.equal(hidden.status, 404);

    await server.app.auditLog!.flush();
    const jobId = param(r.params, 'exportId').valueString;
    const { rows } = await server.db.pool.query('SELECT interaction, resource_type, job_id, client_id, policy, status FROM audit_event WHERE tenant = $1 AND job_id = $2 ORDER BY seq', [world.tenant, jobId]);
    const kick = rows.find((x) => x.interaction === 'export-kickoff');
    assert.ok(kick, JSON.stringify(rows));
    assert.equal(kick.resource_type, 'ViewDefinition');
    assert.equal(kick.client_id, provider.clientId);
    assert.equal(kick.status, 202);
    assert.ok(kick.policy);
    assert.ok(rows.some((x) => x.interaction === 'export-status' && x.status === 200));
    assert.ok(rows.some((x) => x.interaction === 'export-download' && x.status === 200));
  });

  it('instance level, another client cannot see the job, DELETE cancels it', async () => {
    const both = await http(`${base}/ViewDefinition/patients/$viewdefinition-export`, { body: body([viewParam([{ name: 'viewResource', resource: obsView }])]), headers: ASYNC });
    assert.equal(both.status, 400);
    assert.match(both.json.issue[0].diagnostics, /on an instance/);
    const k = await http(`${base}/ViewDefinition/patients/$viewdefinition-export`, { method: 'POST', headers: ASYNC });
    assert.equal(k.status, 202, k.text);
    const location = k.headers.get('content-location')!;
    const other = await tokenFor(server.db.pool, server.origin, tenant);
    assert.equal((await http(location, { headers: { authorization: `Bearer ${other.token}` } })).status, 404);
    const del = await http(location, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await http(location)).status, 404);
    const { rows } = await server.db.pool.query('SELECT state FROM export_job WHERE id = $1', [location.split('/').pop()]);
    assert.equal(rows[0].state, 'cancelled');
  });
});

describe('$viewdefinition-export with worker processes', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  let token: string;
  let storageDir: string;
  const children: ChildProcess[] = [];
  const bin = path.join(repoRoot, 'bin', 'payer-fhir.js');
  const startWorker = (): ChildProcess => {
    const child = spawn(process.execPath, [bin, 'worker', '--concurrency', '1'], {
      env: { ...process.env, LOG_LEVEL: 'info', EXPORT_STORAGE: `file:${storageDir}`, EXPORT_LEASE_SECONDS: '2', EXPORT_UNIT_SIZE: '10' },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    children.push(child);
    return child;
  };
  const stopped = async (c: ChildProcess) => {
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
  };

  before(async () => {
    storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-view-workers-'));
    server = await startServer({ export: { ...loadConfig().export, storage: `file:${storageDir}`, leaseSeconds: 2 } }, { workers: 0 });
    ({ tenant, base, token } = await server.newTenant('view-workers'));
    await seedTenant(server.db.pool, tenant, { seed: 'view-workers', members: 40 });
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map(stopped));
    await server.close();
    fs.rmSync(storageDir, { recursive: true, force: true });
  });

  it('a worker killed with SIGKILL mid-export: another redoes its units; every claim line exactly once', async () => {
    const claimLines = JSON.parse(fs.readFileSync(path.join(repoRoot, 'views', 'claim_lines.json'), 'utf8'));
    const k = await http(`${base}/$viewdefinition-export`, { body: body([viewParam([{ name: 'viewResource', resource: claimLines }])]), headers: ASYNC });
    assert.equal(k.status, 202, k.text);
    const location = k.headers.get('content-location')!;
    const jobId = location.split('/').pop()!;
    const progress = async () => (await server.db.pool.query('SELECT units_done AS done, units_total AS total FROM export_job WHERE id = $1', [jobId])).rows[0];
    // No worker yet: the status answers 202 with Retry-After, X-Progress and status accepted.
    const waiting = await http(location);
    assert.equal(waiting.status, 202);
    assert.match(waiting.headers.get('retry-after')!, /^\d+$/);
    assert.equal(waiting.headers.get('x-progress'), '0/? units, 0 resources');
    assert.equal(waiting.json.parameter.find((p: any) => p.name === 'status').valueCode, 'accepted');
    assert.equal(waiting.json.parameter.find((p: any) => p.name === 'exportId').valueString, jobId);
    const first = startWorker();
    let at;
    for (;;) {
      at = await progress();
      if (at.done >= 2) break;
      await sleep(5);
    }
    first.kill('SIGKILL');
    await stopped(first);
    assert.ok(at.total !== null && at.done < at.total, `killed mid-export (${at.done}/${at.total})`);
    startWorker();
    const r = await runViewExportStatus(location, token);
    const rows = ndjsonRows(r);
    // The same view over the same data through $run: the reference answer.
    const run = await http(`${base}/ViewDefinition/$run`, { body: { resourceType: 'Parameters', parameter: [{ name: 'viewResource', resource: claimLines }, { name: '_format', valueCode: 'json' }] } });
    assert.equal(run.status, 200);
    const key = (x: any) => `${x.claim_id}#${x.line_number}`;
    assert.equal(rows.length, run.json.length);
    assert.deepEqual(rows.map(key).sort(), run.json.map(key).sort());
    const { rows: units } = await server.db.pool.query('SELECT count(DISTINCT lease_owner)::int AS owners, max(attempts)::int AS attempts FROM export_unit WHERE job_id = $1', [jobId]);
    assert.ok(units[0].owners >= 2, 'both workers did units');
  });
});

async function runViewExportStatus(location: string, token: string): Promise<{ bytes: Buffer }[]> {
  const auth = { authorization: `Bearer ${token}` };
  const deadline = Date.now() + 120_000;
  let status: HttpResult;
  for (;;) {
    status = await http(location, { headers: auth });
    if (status.status !== 202) break;
    assert.ok(Date.now() < deadline);
    await sleep(200);
  }
  assert.equal(status.status, 200, status.text);
  const out = status.json.parameter.find((p: any) => p.name === 'output');
  const files = [];
  for (const loc of out.part.filter((x: any) => x.name === 'location')) files.push(await download(loc.valueUri, auth));
  return files;
}
