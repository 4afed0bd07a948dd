// R4 invariants on every write path (issue #16), black-box: create, update, transaction and
// batch refuse a violation with a 400 OperationOutcome naming the key, the official text and
// the element path, and write nothing; warnings come back without refusing; import rejects
// the line; seeding a plan passes; `payer-fhir validate` checks files with a summary.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { importFiles } from '../src/import/import.js';
import { seedTenant } from '../src/seed/load.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MDD1 = 'MedicationDispense: mdd-1 whenHandedOver cannot be before whenPrepared';

const dispense = (id: string, prepared: string, handedOver: string) => ({
  resourceType: 'MedicationDispense',
  id,
  status: 'completed',
  medicationCodeableConcept: { text: 'amoxicillin 500 mg' },
  whenPrepared: prepared,
  whenHandedOver: handedOver,
});
const late = (id: string) => dispense(id, '2024-01-02T12:00:00Z', '2024-01-02T10:00:00Z');
const fine = (id: string) => dispense(id, '2024-01-02T10:00:00Z', '2024-01-02T12:00:00Z');

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'payer-fhir.js'), ...args], { cwd: ROOT, env: process.env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('R4 invariants on every write path', () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    server = await startServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-invariants-'));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function stored(tenant: string): Promise<string[]> {
    const { rows } = await server.db.pool.query<{ id: string }>("SELECT id FROM resource WHERE tenant = $1 AND type = 'MedicationDispense' ORDER BY id", [tenant]);
    return rows.map((r) => r.id);
  }

  it('create and update: 400 OperationOutcome with key, text and path; nothing written', async () => {
    const { tenant, base } = await server.newTenant('inv-rest');
    const post = await http(`${base}/MedicationDispense`, { body: late('x') });
    assert.equal(post.status, 400);
    assert.equal(post.json.resourceType, 'OperationOutcome');
    assert.deepEqual(post.json.issue, [{ severity: 'error', code: 'invariant', diagnostics: MDD1, expression: ['MedicationDispense'] }]);
    const put = await http(`${base}/MedicationDispense/d1`, { method: 'PUT', body: late('d1') });
    assert.equal(put.status, 400);
    assert.equal(put.json.issue[0].diagnostics, MDD1);
    assert.deepEqual(await stored(tenant), []);
    const ok = await http(`${base}/MedicationDispense/d1`, { method: 'PUT', body: fine('d1') });
    assert.equal(ok.status, 201);
    assert.deepEqual(await stored(tenant), ['d1']);
  });

  it('warnings (dom-6) do not refuse; Prefer: return=OperationOutcome carries them', async () => {
    const { base } = await server.newTenant('inv-warn');
    const r = await http(`${base}/MedicationDispense`, { body: fine('w'), headers: { prefer: 'return=OperationOutcome' } });
    assert.equal(r.status, 201);
    assert.equal(r.json.resourceType, 'OperationOutcome');
    const warning = r.json.issue.find((i: { severity: string }) => i.severity === 'warning');
    assert.equal(warning.code, 'invariant');
    assert.equal(warning.diagnostics, 'MedicationDispense: dom-6 A resource should have narrative for robust management');
  });

  it('transaction: one violating entry refuses the whole Bundle, labelled with its entry', async () => {
    const { tenant, base } = await server.newTenant('inv-tx');
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: fine('t1'), request: { method: 'PUT', url: 'MedicationDispense/t1' } },
          { resource: late('t2'), request: { method: 'PUT', url: 'MedicationDispense/t2' } },
        ],
      },
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.issue[0].code, 'invariant');
    assert.equal(r.json.issue[0].diagnostics, `Bundle.entry[1]: ${MDD1}`);
    assert.deepEqual(r.json.issue[0].expression, ['Bundle.entry[1].resource']);
    assert.deepEqual(await stored(tenant), []);
  });

  it('batch: the violating entry gets its 400, the others are written with their warnings in response.outcome', async () => {
    const { tenant, base } = await server.newTenant('inv-batch');
    const r = await http(base, {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: fine('b1'), request: { method: 'PUT', url: 'MedicationDispense/b1' } },
          { resource: late('b2'), request: { method: 'PUT', url: 'MedicationDispense/b2' } },
        ],
      },
    });
    assert.equal(r.status, 200);
    const [ok, bad] = r.json.entry;
    assert.match(ok.response.status, /^201/);
    assert.equal(ok.response.outcome.issue[0].severity, 'warning');
    assert.match(ok.response.outcome.issue[0].diagnostics, /^Bundle\.entry\[0\]: MedicationDispense: dom-6 /);
    assert.equal(bad.response.status, '400');
    assert.equal(bad.response.outcome.issue[0].diagnostics, `Bundle.entry[1]: ${MDD1}`);
    assert.deepEqual(await stored(tenant), ['b1']);
  });

  it('import: the violating line is rejected with file:line and the reason, the rest is loaded', async () => {
    const { tenant } = await server.newTenant('inv-import');
    const file = path.join(dir, 'dispenses.ndjson');
    fs.writeFileSync(file, [fine('i1'), late('i2'), fine('i3')].map((r) => JSON.stringify(r)).join('\n'));
    const result = await importFiles(server.db.pool, tenant, [file]);
    assert.equal(result.written, 2);
    assert.equal(result.rejected, 1);
    assert.deepEqual(result.issues, [{ file, line: 2, type: 'MedicationDispense', message: MDD1 }]);
    assert.deepEqual(await stored(tenant), ['i1', 'i3']);
  });

  it('seed: a generated plan is written whole (the seed refuses any resource that breaks an invariant)', async () => {
    const { tenant } = await server.newTenant('inv-seed');
    const result = await seedTenant(server.db.pool, tenant, { seed: 'invariants-writes', members: 12 });
    assert.ok(result.counts.MedicationDispense > 0, 'the plan holds dispenses');
    const { rows } = await server.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant = $1', [tenant]);
    assert.equal(Number(rows[0].n), result.written);
  });

  it('payer-fhir validate FILE|DIR: errors per line, a summary per rule, exit 1 when anything would be refused', async () => {
    const sub = path.join(dir, 'to-check');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'a.ndjson'), [fine('v1'), late('v2')].map((r) => JSON.stringify(r)).join('\n') + '\n');
    fs.writeFileSync(path.join(sub, 'b.json'), JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: late('v3') }] }));
    const bad = await cli('validate', sub);
    assert.equal(bad.code, 1);
    assert.ok(bad.stderr.includes(`${path.join(sub, 'a.ndjson')}:2: error: ${MDD1}`), bad.stderr);
    assert.ok(bad.stderr.includes(`${path.join(sub, 'b.json')}:1: error: Bundle.entry[0]: ${MDD1}`), bad.stderr);
    assert.match(bad.stdout, /^3 resources in 2 file\(s\): 1 valid, 2 invalid, 1 with warnings$/m);
    assert.match(bad.stdout, /^ {2}mdd-1 +2$/m);
    assert.match(bad.stdout, /^ {2}dom-6 +1$/m);
    const good = path.join(dir, 'good.ndjson');
    fs.writeFileSync(good, JSON.stringify(fine('v4')) + '\n');
    const ok = await cli('validate', good);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^1 resources in 1 file\(s\): 1 valid, 0 invalid, 1 with warnings$/m);
  });
});
