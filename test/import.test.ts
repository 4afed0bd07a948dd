// `payer-fhir import`, run as a user runs it (the real CLI in a child process against the
// test database), checked through the database and over HTTP: the project's US Core fixtures, a
// Synthea-style transaction Bundle, NDJSON with bad lines under both --on-error modes,
// folders, single-resource files, and unknown tenants or paths.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';
import { clinicResources, FIXTURE_MEMBERS, FIXTURE_SEED } from './fixtures/us-core.js';
import { generatePopulation } from '../src/seed/generator.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'payer-fhir.js'), ...args], { cwd: ROOT, env: process.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The rejection lines (`file:line: reason`) a run printed, in order. */
function issueLines(r: CliResult, file: string): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
}

function withoutMeta(resource: Record<string, unknown>): Record<string, unknown> {
  const { meta: _meta, ...rest } = resource;
  return rest;
}

/**
 * The fixtures as a folder a user would import: each clinic resource in a file of its own,
 * the seeded population in a collection Bundle and a searchset Bundle, and one resource the
 * R4 schema refuses (a Narrative without its div). Returns what the import should load.
 */
function writeFixtureFolder(dir: string): { resources: { file: string; resource: any }[]; invalid: string } {
  fs.mkdirSync(dir, { recursive: true });
  const resources: { file: string; resource: any }[] = [];
  for (const r of clinicResources()) {
    const file = `${r.resourceType}-${r.id}.json`;
    fs.writeFileSync(path.join(dir, file), JSON.stringify(r, null, 2));
    resources.push({ file, resource: r });
  }
  const population = [...generatePopulation({ seed: FIXTURE_SEED, members: FIXTURE_MEMBERS })];
  const half = population.length >> 1;
  const bundles: [string, object][] = [
    ['population-collection.json', { resourceType: 'Bundle', type: 'collection', entry: population.slice(0, half).map((resource) => ({ fullUrl: `urn:uuid:${resource.id}`, resource })) }],
    ['population-searchset.json', { resourceType: 'Bundle', type: 'searchset', entry: population.slice(half).map((resource) => ({ resource, search: { mode: 'match' } })) }],
  ];
  for (const [file, bundle] of bundles) {
    fs.writeFileSync(path.join(dir, file), JSON.stringify(bundle));
    for (const e of (bundle as { entry: { resource: any }[] }).entry) resources.push({ file, resource: e.resource });
  }
  const invalid = path.join(dir, 'diagnosticreport-no-div.json');
  fs.writeFileSync(invalid, JSON.stringify({ resourceType: 'DiagnosticReport', id: 'no-div', text: { status: 'generated' }, status: 'final', code: { text: 'CBC' } }));
  return { resources, invalid };
}

describe('payer-fhir import (CLI)', () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    server = await startServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-import-test-'));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function count(tenant: string, type?: string): Promise<number> {
    const { rows } = await server.db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM resource WHERE tenant = $1 AND ($2::text IS NULL OR type = $2)',
      [tenant, type ?? null],
    );
    return Number(rows[0].n);
  }

  function write(name: string, content: string | Buffer): string {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    return file;
  }

  it('loads every fixture from single files and Bundles; each reads back as it was sent, apart from meta', async () => {
    const { tenant, base } = await server.newTenant('imp-uscore');
    const folder = path.join(dir, 'fixtures');
    const { resources: expected, invalid } = writeFixtureFolder(folder);
    const perType = new Map<string, number>();
    for (const { resource } of expected) perType.set(resource.resourceType, (perType.get(resource.resourceType) ?? 0) + 1);
    const r = await cli('import', '--tenant', tenant, folder);
    // The resource the schema refuses is reported exactly as the API would; the rest loads.
    assert.deepEqual(issueLines(r, invalid), [`${invalid}:1: DiagnosticReport.text.div: must have required property 'div'`]);
    assert.equal(r.code, 1, 'a rejected resource makes the exit code non-zero');
    assert.match(r.stdout, new RegExp(`^Observation\\s+${perType.get('Observation')}\\s+0\\s+0\\s+0\\s+0$`, 'm'));
    assert.match(r.stdout, new RegExp(`^DiagnosticReport\\s+${perType.get('DiagnosticReport')}\\s+0\\s+0\\s+0\\s+1$`, 'm'));
    assert.match(r.stdout, new RegExp(`^total\\s+${expected.length}\\s+0\\s+0\\s+0\\s+1$`, 'm'));
    assert.equal(await count(tenant), expected.length);

    for (const { file, resource } of expected) {
      const got = await http(`${base}/${resource.resourceType}/${resource.id}`);
      assert.equal(got.status, 200, `${file}: ${got.text}`);
      assert.deepEqual(withoutMeta(got.json), withoutMeta(resource), file);
      // The server sets versionId and lastUpdated; everything else in meta (profile…) is kept.
      const { versionId, lastUpdated, ...keptMeta } = got.json.meta;
      const { versionId: _v, lastUpdated: _l, ...sentMeta } = resource.meta ?? {};
      assert.equal(versionId, '1');
      assert.ok(lastUpdated);
      assert.deepEqual(keptMeta, sentMeta, `${file}: meta.profile and the like are kept`);
      assertValidR4(got.json);
    }
    assert.equal((await http(`${base}/DiagnosticReport/no-div`)).status, 404);
  });

  it('a Synthea-style transaction Bundle loads as is: urn:uuid references point at the assigned ids', async () => {
    const { tenant, base } = await server.newTenant('imp-synthea');
    const org = await http(`${base}/Organization`, {
      body: { resourceType: 'Organization', identifier: [{ system: 'https://github.com/synthetichealth/synthea', value: 'org-7' }], name: 'Existing Hospital' },
    });
    assert.equal(org.status, 201);
    const u = (n: number) => `urn:uuid:5c3a7e1e-0000-4000-8000-00000000000${n}`;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: u(1),
          resource: { resourceType: 'Patient', identifier: [{ system: 'https://github.com/synthetichealth/synthea', value: 'pat-1' }], name: [{ family: 'Synthea' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: u(2),
          resource: { resourceType: 'Organization', identifier: [{ system: 'https://github.com/synthetichealth/synthea', value: 'org-7' }], name: 'Hospital' },
          request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=https://github.com/synthetichealth/synthea|org-7' },
        },
        {
          fullUrl: u(3),
          resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: u(1) }, serviceProvider: { reference: u(2) } },
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          fullUrl: u(4),
          resource: { resourceType: 'Condition', subject: { reference: u(1) }, encounter: { reference: u(3) }, code: { text: 'Sinusitis' } },
          request: { method: 'POST', url: 'Condition' },
        },
      ],
    };
    const file = write('synthea/Patient_Synthea.json', JSON.stringify(bundle, null, 2));
    const r = await cli('import', '--tenant', tenant, file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Organization\s+0\s+0\s+0\s+1\s+0$/m, 'the conditional create matched the existing Organization');
    assert.match(r.stdout, /^total\s+3\s+0\s+0\s+1\s+0$/m);
    assert.equal(await count(tenant), 4);
    assert.equal(await count(tenant, 'Organization'), 1);

    const id = async (type: string) => (await server.db.pool.query('SELECT id FROM resource WHERE tenant = $1 AND type = $2', [tenant, type])).rows[0].id as string;
    const [patient, encounter, condition] = [await id('Patient'), await id('Encounter'), await id('Condition')];
    const enc = await http(`${base}/Encounter/${encounter}`);
    assert.equal(enc.json.subject.reference, `Patient/${patient}`);
    assert.equal(enc.json.serviceProvider.reference, `Organization/${org.json.id}`);
    const cond = await http(`${base}/Condition/${condition}`);
    assert.equal(cond.json.subject.reference, `Patient/${patient}`);
    assert.equal(cond.json.encounter.reference, `Encounter/${encounter}`);
  });

  it('a transaction Bundle with one bad entry writes nothing', async () => {
    const { tenant } = await server.newTenant('imp-txbad');
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient', name: [{ family: 'Kept?' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const file = write('tx-bad.json', JSON.stringify(bundle));
    const r = await cli('import', '--tenant', tenant, file);
    assert.equal(r.code, 1);
    assert.deepEqual(issueLines(r, file), [
      `${file}:1: Bundle.entry[1]: Patient.gender: value must be one of: male, female, other, unknown (the transaction Bundle was not loaded)`,
    ]);
    assert.equal(await count(tenant), 0);
  });

  describe('NDJSON with bad lines', () => {
    const lines = [
      JSON.stringify({ resourceType: 'Patient', id: 'nd-1', name: [{ family: 'One' }] }),
      '{"resourceType": "Patient", "id": ',
      JSON.stringify({ resourceType: 'Spaceship', id: 'x' }),
      JSON.stringify({ resourceType: 'Patient', id: 'nd-2', gender: 'robot' }),
      '',
      JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'no id: server assigns one' } }),
      JSON.stringify({ resourceType: 'Patient', id: 'nd-3', birthDate: '1970-01-01' }),
    ];

    it('--on-error skip (default): each bad line reported as file:line: reason, the good lines loaded', async () => {
      const { tenant, base } = await server.newTenant('imp-skip');
      const file = write('skip/bad-lines.ndjson', lines.join('\n') + '\n');
      assert.equal(await count(tenant), 0);
      const r = await cli('import', '--tenant', tenant, file);
      assert.equal(r.code, 1);
      const issues = issueLines(r, file);
      assert.equal(issues.length, 3, r.stderr);
      assert.match(issues[0], new RegExp(`^${file}:2: invalid JSON: `));
      assert.equal(issues[1], `${file}:3: Unknown resource type 'Spaceship'`);
      // The reason is what the API answers for the same resource.
      const api = await http(`${base}/Patient/nd-2`, { method: 'PUT', body: lines[3] });
      assert.equal(api.status, 400);
      assert.equal(issues[2], `${file}:4: ${api.json.issue.map((i: { diagnostics: string }) => i.diagnostics).join('; ')}`);
      assert.equal(issues[2], `${file}:4: Patient.gender: value must be one of: male, female, other, unknown`);
      assert.equal(await count(tenant), 3);
      assert.equal(await count(tenant, 'Patient'), 2);
      assert.equal(await count(tenant, 'Observation'), 1);
      assert.match(r.stdout, /^\(unknown\)\s+0\s+0\s+0\s+0\s+1$/m);
      assert.match(r.stdout, /^Patient\s+2\s+0\s+0\s+0\s+2$/m);
      assert.match(r.stdout, /^total\s+3\s+0\s+0\s+0\s+3$/m);
    });

    it('--on-error abort: stops at the first bad line and writes nothing from that file', async () => {
      const { tenant } = await server.newTenant('imp-abort');
      const good = write('abort/a-good.ndjson', JSON.stringify({ resourceType: 'Patient', id: 'first-file' }) + '\n');
      const bad = write('abort/b-bad.ndjson', lines.join('\n') + '\n');
      const never = write('abort/c-never.ndjson', JSON.stringify({ resourceType: 'Patient', id: 'third-file' }) + '\n');
      assert.equal(await count(tenant), 0);
      const r = await cli('import', '--tenant', tenant, '--on-error', 'abort', path.dirname(good));
      assert.equal(r.code, 1);
      const issues = issueLines(r, bad);
      assert.equal(issues.length, 1, r.stderr);
      assert.match(issues[0], new RegExp(`^${bad}:2: invalid JSON: `));
      assert.deepEqual(issueLines(r, never), []);
      assert.ok(r.stdout.includes(`import stopped at the first error: nothing from ${bad} was written`), r.stdout);
      // The file before was committed; nothing of the bad file (not even its line 1), nothing after.
      const { rows } = await server.db.pool.query('SELECT id FROM resource WHERE tenant = $1 ORDER BY id', [tenant]);
      assert.deepEqual(rows.map((x) => x.id), ['first-file']);
    });

    it('--on-error abort with a clean file loads all of it and exits 0', async () => {
      const { tenant } = await server.newTenant('imp-abort-ok');
      const file = write('abort-ok.ndjson', [lines[0], lines[5], lines[6]].join('\r\n'));
      const r = await cli('import', '--tenant', tenant, '--on-error', 'abort', file);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await count(tenant), 3);
    });
  });

  it('folders are read recursively: .ndjson, .ndjson.gz and .json files, other files ignored', async () => {
    const { tenant, base } = await server.newTenant('imp-folder');
    const root = path.join(dir, 'tree');
    write('tree/top.ndjson', [1, 2].map((n) => JSON.stringify({ resourceType: 'Patient', id: `tree-${n}` })).join('\n'));
    write('tree/a/b/deep.ndjson.gz', zlib.gzipSync(JSON.stringify({ resourceType: 'Patient', id: 'tree-gz' }) + '\n'));
    write('tree/a/single.json', JSON.stringify({ resourceType: 'Organization', id: 'tree-org', name: 'Single' }));
    write('tree/a/notes.txt', 'not FHIR');
    write('tree/a/b/.hidden.ndjson', 'not read');
    const r = await cli('import', '--tenant', tenant, root);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /4 resources written from 3 file\(s\)/);
    assert.equal(await count(tenant), 4);
    assert.equal((await http(`${base}/Patient/tree-gz`)).status, 200);
    const org = await http(`${base}/Organization/tree-org`);
    assert.equal(org.json.name, 'Single');
  });

  it('a second import of the same files updates: new versions, ids kept', async () => {
    const { tenant, base } = await server.newTenant('imp-again');
    const file = write('again.json', JSON.stringify({ resourceType: 'Patient', id: 'again', active: true }));
    assert.equal((await cli('import', '--tenant', tenant, file)).code, 0);
    const r = await cli('import', '--tenant', tenant, file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Patient\s+0\s+1\s+0\s+0\s+0$/m);
    const got = await http(`${base}/Patient/again`);
    assert.equal(got.json.meta.versionId, '2');
  });

  it('an unknown tenant or a missing path fails before anything is written', async () => {
    const file = write('unknown-tenant.ndjson', JSON.stringify({ resourceType: 'Patient', id: 'nowhere' }));
    const r = await cli('import', '--tenant', 'no-such-tenant-x9', file);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown tenant 'no-such-tenant-x9'/);
    const { tenant } = await server.newTenant('imp-missing');
    const missing = path.join(dir, 'does-not-exist.ndjson');
    const m = await cli('import', '--tenant', tenant, file, missing);
    assert.notEqual(m.code, 0);
    assert.ok(m.stderr.includes(`${missing}: no such file or directory`), m.stderr);
    assert.equal(await count(tenant), 0, 'the good file named before the missing one was not loaded either');
    const bad = await cli('import', '--tenant', tenant, '--on-error', 'sometimes', file);
    assert.notEqual(bad.code, 0);
    assert.equal(await count(tenant), 0);
  });
});
