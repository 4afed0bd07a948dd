// NDJSON exported by other servers from Synthea data references other resources of the same
// data set as `urn:uuid:<id>`. `payer-fhir import` resolves each to the one resource with that
// id in the same run (any file, any order) or already stored, rewriting it to `Type/<id>`;
// references matching nothing or several are refused, or kept as written with a warning
// under `--on-unresolved keep`. The data set is the project's own (test/helpers/synthea-like).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot, runExport } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';
import { uuidFor, writeSyntheaLike } from './helpers/synthea-like.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin', 'payer-fhir.js'), ...args], { env: process.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('import: urn:uuid references in NDJSON', () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    server = await startServer({}, { workers: 2 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-import-urn-'));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, lines: object[]): string {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return file;
  }

  async function countsInStore(tenant: string): Promise<Map<string, number>> {
    const { rows } = await server.db.pool.query<{ type: string; n: string }>('SELECT type, count(*) AS n FROM resource WHERE tenant = $1 GROUP BY type', [tenant]);
    return new Map(rows.map((r) => [r.type, Number(r.n)]));
  }

  it('a Synthea-like export across many files loads whole, every reference resolved, and exports back with the same counts per type', async () => {
    const { tenant, base } = await server.newTenant('urn-synthea');
    const data = writeSyntheaLike(path.join(dir, 'synthea'), { seed: 'urn-import', members: 5 });
    assert.ok(data.files.length > 20 && data.files.some((f) => f.endsWith('.gz')));
    assert.ok(data.total > 500, `${data.total} resources`);
    const referring = fs.readFileSync(data.files.find((f) => path.basename(f).startsWith('Observation'))!, 'utf8');
    assert.match(referring, /"reference":"urn:uuid:[0-9a-f-]{36}"/, 'the data references by urn:uuid');

    const r = await cli('import', '--tenant', tenant, path.join(dir, 'synthea'));
    assert.equal(r.code, 0, r.stderr.slice(0, 2000));
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^total\\s+${data.total}\\s+0\\s+0\\s+0\\s+0$`, 'm'));
    assert.deepEqual([...(await countsInStore(tenant))].sort(), [...data.counts].sort());
    const { rows } = await server.db.pool.query("SELECT count(*)::int AS n FROM resource WHERE tenant = $1 AND content LIKE '%urn:uuid:%'", [tenant]);
    assert.equal(rows[0].n, 0, 'no urn:uuid reference is left in the store');

    // A reference that pointed forward across files now names the type and the id.
    const eob = await http(`${base}/ExplanationOfBenefit?_count=1`);
    const patientRef: string = eob.json.entry[0].resource.patient.reference;
    assert.match(patientRef, /^Patient\/[0-9a-f-]{36}$/);
    assert.equal((await http(`${base}/${patientRef}`)).status, 200);
    // Group members resolve too, so Group export finds them.
    const group = (await http(`${base}/Group?_count=100`)).json.entry.map((e: any) => e.resource).find((g: any) => g.member?.length);
    assert.match(group.member[0].entity.reference, /^Patient\/[0-9a-f-]{36}$/);

    const { byType } = await runExport(`${base}/$export`);
    assert.deepEqual([...byType].map(([t, l]) => [t, l.length]).sort(), [...data.counts].sort(), 'the export holds the same counts per type');
  });

  it('a reference resolves to a resource already stored; nothing or several candidates → the line is refused with the reason', async () => {
    const { tenant, base } = await server.newTenant('urn-edges');
    const stored = write('edges/first.ndjson', [{ resourceType: 'Patient', id: 'stored-1' }, { resourceType: 'Patient', id: 'twin' }]);
    assert.equal((await cli('import', '--tenant', tenant, stored)).code, 0);
    const file = write('edges/second.ndjson', [
      { resourceType: 'Observation', id: 'to-stored', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:stored-1' } },
      { resourceType: 'Observation', id: 'to-nothing', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:nobody' } },
      { resourceType: 'Observation', id: 'to-twins', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:twin' } },
      // Same id as the stored Patient: `twin` now has two candidates.
      { resourceType: 'Group', id: 'twin', type: 'person', actual: true },
      { resourceType: 'Observation', id: 'later', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:late' } },
      { resourceType: 'Patient', id: 'late' },
    ]);
    const r = await cli('import', '--tenant', tenant, file);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `${file}:2: Observation/to-nothing: reference 'urn:uuid:nobody' matches no resource with id 'nobody' in this import or the tenant`,
      `${file}:3: Observation/to-twins: reference 'urn:uuid:twin' matches 2 resources (Group/twin, Patient/twin)`,
    ]);
    assert.equal((await http(`${base}/Observation/to-stored`)).json.subject.reference, 'Patient/stored-1');
    assert.equal((await http(`${base}/Observation/later`)).json.subject.reference, 'Patient/late', 'a reference to a later line resolves');
    assert.equal((await http(`${base}/Observation/to-nothing`)).status, 404, 'nothing written for a refused line');
    assert.equal((await http(`${base}/Observation/to-twins`)).status, 404);

    const kept = await cli('import', '--tenant', tenant, '--on-unresolved', 'keep', file);
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(kept.stderr.trim().split('\n'), [
      `${file}:2: warning: Observation/to-nothing: reference 'urn:uuid:nobody' matches no resource with id 'nobody' in this import or the tenant; stored as written`,
      `${file}:3: warning: Observation/to-twins: reference 'urn:uuid:twin' matches 2 resources (Group/twin, Patient/twin); stored as written`,
    ]);
    assert.match(kept.stdout, /; 0 rejected, 2 warning\(s\)/);
    assert.equal((await http(`${base}/Observation/to-nothing`)).json.subject.reference, 'urn:uuid:nobody');
    assert.equal((await http(`${base}/Observation/to-twins`)).json.subject.reference, 'urn:uuid:twin');
    assert.notEqual((await cli('import', '--tenant', tenant, '--on-unresolved', 'maybe', file)).code, 0, 'an unknown mode is refused');
  });

  it('--on-error abort: an unresolved reference rolls its file back; uuids in other places are left alone', async () => {
    const { tenant, base } = await server.newTenant('urn-abort');
    const id = uuidFor('Patient/p');
    const good = write('abort/a.ndjson', [
      { resourceType: 'Patient', id, identifier: [{ system: 'urn:ietf:rfc:3986', value: `urn:uuid:${id}` }] },
      { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' }, subject: { reference: `urn:uuid:${id}` } },
    ]);
    const bad = write('abort/b.ndjson', [
      { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'x' }, subject: { reference: `urn:uuid:${id}` } },
      { resourceType: 'Observation', id: 'o3', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:missing' } },
    ]);
    const r = await cli('import', '--tenant', tenant, '--on-error', 'abort', path.dirname(good));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${bad}:2: Observation/o3: reference 'urn:uuid:missing' matches no resource`, 'm'));
    const { rows } = await server.db.pool.query('SELECT type, id FROM resource WHERE tenant = $1 ORDER BY id', [tenant]);
    assert.deepEqual(rows.map((x) => `${x.type}/${x.id}`).sort(), ['Observation/o1', `Patient/${id}`]);
    const patient = await http(`${base}/Patient/${id}`);
    assert.equal(patient.json.identifier[0].value, `urn:uuid:${id}`, 'an identifier value is not a reference');
    assert.equal((await http(`${base}/Observation/o1`)).json.subject.reference, `Patient/${id}`);
  });
});
