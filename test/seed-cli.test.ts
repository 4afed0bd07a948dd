// `payer-fhir seed` black-box: the real CLI process writes a population into a tenant of a
// running server; rows per type equal the generator's counts, resources read back over HTTP
// are the generated ones, a second run rewrites the same ids, and bad arguments write nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generatePopulation } from '../src/seed/generator.js';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, uniqueId, type TestServer } from './helpers/server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEED = 'cli-test';
const MEMBERS = 20;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('payer-fhir seed (CLI)', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  const generated = new Map<string, any>();
  const expected = new Map<string, number>();
  const rowCounts = async (t: string) => {
    const { rows } = await server.db.pool.query<{ type: string; n: string }>('SELECT type, count(*) AS n FROM resource WHERE tenant = $1 GROUP BY type', [t]);
    return new Map(rows.map((r) => [r.type, Number(r.n)]));
  };

  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('seed'));
    for (const r of generatePopulation({ seed: SEED, members: MEMBERS })) {
      generated.set(`${r.resourceType}/${r.id}`, r);
      expected.set(r.resourceType, (expected.get(r.resourceType) ?? 0) + 1);
    }
  });
  after(() => server.close());

  it('seeds the tenant: resource rows per type equal the generator counts', async () => {
    const run = await cli(['seed', '--tenant', tenant, '--members', String(MEMBERS), '--seed', SEED]);
    assert.equal(run.code, 0, run.stderr);
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    assert.match(run.stdout, new RegExp(`${total} resources for ${MEMBERS} members`));
    assert.match(run.stdout, /ExplanationOfBenefit\s+\d+/);
    assert.deepEqual(await rowCounts(tenant), expected);
  });

  it('resources read back over HTTP are the generated ones, valid R4', async () => {
    const someOf = (type: string, n: number) => [...generated.values()].filter((r) => r.resourceType === type).slice(0, n);
    for (const type of ['Patient', 'Coverage', 'ExplanationOfBenefit', 'Encounter', 'Observation', 'Group', 'Organization', 'Practitioner']) {
      for (const want of someOf(type, 2)) {
        const r = await http(`${base}/${type}/${want.id}`);
        assert.equal(r.status, 200, `${type}/${want.id}: ${r.text}`);
        assertValidR4(r.json);
        const { meta: gotMeta, ...got } = r.json;
        const { meta: wantMeta, ...rest } = want;
        assert.deepEqual(got, rest);
        assert.deepEqual(gotMeta.profile, wantMeta?.profile);
        assert.equal(gotMeta.versionId, '1');
      }
    }
  });

  it('a member compartment search finds the member\'s claims', async () => {
    const patient = [...generated.values()].find((r) => r.resourceType === 'Patient');
    const want = [...generated.values()].filter((r) => r.resourceType === 'ExplanationOfBenefit' && r.patient.reference === `Patient/${patient.id}`).length;
    const r = await http(`${base}/ExplanationOfBenefit?patient=Patient/${patient.id}&_count=1000&_total=accurate`);
    assert.equal(r.status, 200, r.text);
    assert.equal((r.json.entry ?? []).length, want);
  });

  it('seeding again rewrites the same ids: same rows, now at version 2', async () => {
    const run = await cli(['seed', '--tenant', tenant, '--members', String(MEMBERS), '--seed', SEED]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await rowCounts(tenant), expected);
    const { rows } = await server.db.pool.query<{ v: number }>('SELECT DISTINCT version AS v FROM resource WHERE tenant = $1', [tenant]);
    assert.deepEqual(rows.map((r) => r.v), [2]);
  });

  it('refuses an unknown tenant and a bad member count, writing nothing', async () => {
    const ghost = uniqueId('ghost');
    const unknown = await cli(['seed', '--tenant', ghost, '--members', '5']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /unknown tenant .*tenants add/);
    assert.equal((await rowCounts(ghost)).size, 0);
    const { tenant: empty } = await server.newTenant('seed-bad');
    for (const members of ['0', '-3', 'ten', '2.5']) {
      const bad = await cli(['seed', '--tenant', empty, '--members', members]);
      assert.notEqual(bad.code, 0, `--members ${members} was accepted`);
      assert.match(bad.stderr, /--members/);
    }
    assert.equal((await rowCounts(empty)).size, 0);
  });
});
