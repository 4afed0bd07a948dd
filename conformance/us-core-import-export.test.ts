// Conformance: the 183 official US Core 6.1.0 example files (read from ../shared/data, see
// examples.ts) through `payer-fhir import` as a user runs it: every resource reads back as it
// was sent apart from meta, valid R4; then a system-level Bulk Data export gives back the
// same resources, the same count per type, each line valid R4.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { refs, runExport } from '../test/helpers/bulk.js';
import { http } from '../test/helpers/http.js';
import { assertValidR4 } from '../test/helpers/schema.js';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { exampleResources, examplesDir, repoRoot } from './examples.js';

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin', 'payer-fhir.js'), ...args], { env: process.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function withoutMeta(resource: Record<string, unknown>): Record<string, unknown> {
  const { meta: _meta, ...rest } = resource;
  return rest;
}

describe('the official US Core 6.1.0 examples: import, read, export', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  const expected = exampleResources();
  // One published example breaks the R4 schema (a Narrative without its required div).
  const invalidFile = 'diagnosticreport-cbc.json';
  const loaded = expected.filter((e) => e.file !== invalidFile);

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ tenant, base } = await server.newTenant('conf-uscore'));
  });
  after(() => server.close());

  it('imports all 183 files: 179 resources and 9 Bundle entries, the one invalid example reported as the API would', async () => {
    assert.equal(fs.readdirSync(examplesDir).filter((f) => f.endsWith('.json')).length, 183);
    assert.equal(expected.length, 188);
    const r = await cli('import', '--tenant', tenant, examplesDir);
    const cbc = path.join(examplesDir, invalidFile);
    assert.deepEqual(
      r.stderr.split('\n').filter((l) => l.startsWith(`${cbc}:`)),
      [`${cbc}:1: DiagnosticReport.text.div: must have required property 'div'`],
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^Observation\s+114\s+0\s+0\s+0\s+0$/m);
    assert.match(r.stdout, /^DiagnosticReport\s+4\s+0\s+0\s+0\s+1$/m);
    assert.match(r.stdout, /^total\s+187\s+0\s+0\s+0\s+1$/m);
  });

  it('every imported example reads back as it was sent, apart from meta, valid R4', async () => {
    for (const { file, resource } of loaded) {
      const got = await http(`${base}/${resource.resourceType}/${resource.id}`);
      assert.equal(got.status, 200, `${file}: ${got.text}`);
      assert.deepEqual(withoutMeta(got.json), withoutMeta(resource), file);
      const { versionId: _v, lastUpdated: _l, ...keptMeta } = got.json.meta;
      const { versionId: _sv, lastUpdated: _sl, ...sentMeta } = resource.meta ?? {};
      assert.deepEqual(keptMeta, sentMeta, `${file}: meta.profile and the like are kept`);
      assertValidR4(got.json);
    }
    assert.equal((await http(`${base}/DiagnosticReport/cbc`)).status, 404);
  });

  it('a system export gives them back: same resources, same count per type, every line valid R4', async () => {
    const { byType } = await runExport(`${base}/$export`);
    const exported = [...byType.values()].flat();
    for (const r of exported) assertValidR4(r);
    const count = (list: { resourceType: string }[]) => {
      const m = new Map<string, number>();
      for (const r of list) m.set(r.resourceType, (m.get(r.resourceType) ?? 0) + 1);
      return [...m].sort();
    };
    assert.deepEqual(count(exported), count(loaded.map((e) => e.resource)));
    assert.deepEqual(refs(exported), refs(loaded.map((e) => e.resource)));
  });
});
