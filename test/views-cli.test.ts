// `payer-fhir views run` as operators run it: a real process against the real database, a view
// from a file or stored by id, each output format (Parquet read back), patient scope, and bad
// input (exit 1, a message, no partial file).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { repoRoot } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const bin = path.join(repoRoot, 'bin', 'payer-fhir.js');

function cli(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr, stdout }));
  });
}

describe('payer-fhir views run', () => {
  let server: TestServer;
  let tenant: string;
  let dir: string;
  before(async () => {
    server = await startServer();
    let base: string;
    ({ tenant, base } = await server.newTenant('views-cli'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-views-cli-'));
    for (let i = 1; i <= 3; i++) {
      assert.equal((await http(`${base}/Patient/c${i}`, { method: 'PUT', body: { resourceType: 'Patient', id: `c${i}`, name: [{ family: `Fam${i}` }], birthDate: `198${i}-01-01` } })).status, 201);
      const cov = { resourceType: 'Coverage', id: `cov${i}`, status: 'active', beneficiary: { reference: `Patient/c${i}` }, payor: [{ reference: 'Organization/plan' }], period: { start: '2024-01-01', end: '2024-03-31' } };
      assert.equal((await http(`${base}/Coverage/cov${i}`, { method: 'PUT', body: cov })).status, 201);
    }
    const view = JSON.parse(fs.readFileSync(path.join(repoRoot, 'views', 'member_months.json'), 'utf8'));
    assert.equal((await http(`${base}/ViewDefinition/${view.id}`, { method: 'PUT', body: view })).status, 201);
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a view file to csv and a stored view to Parquet; --patient bounds the rows', async () => {
    const csvFile = path.join(dir, 'patients.csv');
    const viewFile = path.join(dir, 'patients.json');
    fs.writeFileSync(viewFile, JSON.stringify({ resourceType: 'ViewDefinition', name: 'patients', status: 'active', resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'family', path: 'name.family.first()' }] }] }));
    const csv = await cli(['views', 'run', '--tenant', tenant, '--view', viewFile, '--format', 'csv', '--out', csvFile]);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal(fs.readFileSync(csvFile, 'utf8'), 'id,family\r\nc1,Fam1\r\nc2,Fam2\r\nc3,Fam3\r\n');
    assert.match(csv.stderr, /wrote 3 rows from 3 Patient resources/);

    const pq = path.join(dir, 'months.parquet');
    const run = await cli(['views', 'run', '--tenant', tenant, '--view', 'member-months', '--format', 'parquet', '--out', pq, '--patient', 'c2']);
    assert.equal(run.code, 0, run.stderr);
    const bytes = fs.readFileSync(pq);
    const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer });
    assert.deepEqual(rows.map((r) => [r.coverage_id, r.member_id, r.period_start, r.period_end]), [['Coverage/cov2', 'Patient/c2', '2024-01-01', '2024-03-31']]);

    const nd = path.join(dir, 'p.ndjson');
    assert.equal((await cli(['views', 'run', '--tenant', tenant, '--view', viewFile, '--format', 'ndjson', '--out', nd, '--since', '2000-01-01T00:00:00Z'])).code, 0);
    assert.equal(fs.readFileSync(nd, 'utf8').split('\n').filter(Boolean).length, 3);
  });

  it('bad input: exit 1 with a message naming the problem, and no output file', async () => {
    const out = path.join(dir, 'never.csv');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ resourceType: 'ViewDefinition', resource: 'Patient', status: 'active', select: [{ column: [{ name: 'x', path: 'name.count()' }] }] }));
    for (const [args, problem] of [
      [['--view', bad], /count\(\)/],
      [['--view', 'no-such-view'], /not known/],
      [['--view', bad, '--format', 'xml'], /xml/],
    ] as [string[], RegExp][]) {
      const r = await cli(['views', 'run', '--tenant', tenant, '--out', out, ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, problem);
      assert.ok(!fs.existsSync(out));
    }
    const r = await cli(['views', 'run', '--tenant', 'no-such-tenant', '--view', bad, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no-such-tenant/);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.partial-')), []);
  });
});
