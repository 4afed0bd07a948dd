// importFiles, the programmatic import (what the CLI and `seed` call): Bundle containers
// whose urn:uuid references span write batches, conditional creates referenced by other
// entries, searchset outcomes, repeated ids, write-time rejections found inside a batch,
// gzip/CRLF/BOM input, and the counts and progress it reports.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { importFiles, UnknownTenantError } from '../src/import/import.js';
import type { ImportProgress } from '../src/import/progress.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('importFiles (programmatic API)', () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    server = await startServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-import-api-'));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, content: string | Buffer | object): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof content === 'object' && !Buffer.isBuffer(content) ? JSON.stringify(content) : content);
    return file;
  }

  async function rows(tenant: string, table = 'resource'): Promise<{ type: string; id: string; version: number; content: string }[]> {
    return (await server.db.pool.query(`SELECT type, id, version, content FROM ${table} WHERE tenant = $1 ORDER BY type, id, version`, [tenant])).rows;
  }

  it('collection Bundle: urn:uuid references resolve across write batches', async () => {
    const { tenant, base } = await server.newTenant('api-coll');
    const urn = (n: number) => `urn:uuid:9d1c0000-0000-4000-8000-00000000000${n}`;
    const file = write('collection.json', {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: urn(1), resource: { resourceType: 'Observation', status: 'final', code: { text: 'a' }, subject: { reference: urn(3) } } },
        { fullUrl: urn(2), resource: { resourceType: 'Observation', status: 'final', code: { text: 'b' }, subject: { reference: urn(3) }, hasMember: [{ reference: urn(1) }] } },
        { fullUrl: urn(3), resource: { resourceType: 'Patient', name: [{ family: 'Late' }] } },
        { fullUrl: 'http://elsewhere.example/fhir/Patient/kept-id', resource: { resourceType: 'Patient', id: 'kept-id', link: [{ other: { reference: urn(3) }, type: 'seealso' }] } },
      ],
    });
    // Batches of two: the Patient is written after the Observations that point at it.
    const result = await importFiles(server.db.pool, tenant, [file], { batchSize: 2 });
    assert.equal(result.ok, true, JSON.stringify(result.issues));
    assert.deepEqual(result.counts.Observation, { created: 2, updated: 0, deleted: 0, unchanged: 0, rejected: 0 });
    const stored = await rows(tenant);
    const patient = stored.find((r) => r.type === 'Patient' && r.id !== 'kept-id')!;
    const obs = stored.filter((r) => r.type === 'Observation').map((r) => JSON.parse(r.content));
    assert.deepEqual(obs.map((o) => o.subject.reference), [`Patient/${patient.id}`, `Patient/${patient.id}`]);
    const b = obs.find((o) => o.code.text === 'b');
    const a = obs.find((o) => o.code.text === 'a');
    assert.equal(b.hasMember[0].reference, `Observation/${a.id}`);
    const kept = await http(`${base}/Patient/kept-id`);
    assert.equal(kept.status, 200);
    assert.equal(kept.json.link[0].other.reference, `Patient/${patient.id}`);
  });

  it('batch Bundle: a conditional create referenced by another entry; request methods honoured', async () => {
    const { tenant } = await server.newTenant('api-batch');
    const file = write('batch.json', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { fullUrl: 'urn:uuid:loc-1', resource: { resourceType: 'Location', name: 'Clinic', managingOrganization: { reference: 'urn:uuid:org-1' } }, request: { method: 'POST', url: 'Location' } },
        {
          fullUrl: 'urn:uuid:org-1',
          resource: { resourceType: 'Organization', identifier: [{ system: 'urn:sys', value: 'o1' }], name: 'Org' },
          request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:sys|o1' },
        },
        { resource: { resourceType: 'Practitioner', id: 'pr-1' }, request: { method: 'PUT', url: 'Practitioner/pr-1' } },
        { request: { method: 'GET', url: 'Practitioner/pr-1' } },
      ],
    });
    const first = await importFiles(server.db.pool, tenant, [file]);
    assert.equal(first.ok, true, JSON.stringify(first.issues));
    const stored = await rows(tenant);
    const org = stored.find((r) => r.type === 'Organization')!;
    const loc = JSON.parse(stored.find((r) => r.type === 'Location')!.content);
    assert.equal(loc.managingOrganization.reference, `Organization/${org.id}`);
    // Again: the conditional create now matches, and the new Location points at the same Organization.
    const second = await importFiles(server.db.pool, tenant, [file]);
    assert.equal(second.counts.Organization.unchanged, 1);
    assert.equal(second.counts.Practitioner.updated, 1);
    const locations = (await rows(tenant)).filter((r) => r.type === 'Location').map((r) => JSON.parse(r.content));
    assert.equal(locations.length, 2);
    for (const l of locations) assert.equal(l.managingOrganization.reference, `Organization/${org.id}`);
    assert.equal((await rows(tenant)).filter((r) => r.type === 'Organization').length, 1);
  });

  it('searchset Bundle: outcome entries are skipped; an unresolvable urn:uuid rejects only its entry', async () => {
    const { tenant } = await server.newTenant('api-search');
    const file = write('searchset.json', {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { fullUrl: 'http://x.example/Patient/s1', resource: { resourceType: 'Patient', id: 's1' }, search: { mode: 'match' } },
        { resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] }, search: { mode: 'outcome' } },
        { resource: { resourceType: 'Patient', id: 's2', link: [{ other: { reference: 'urn:uuid:nobody' }, type: 'seealso' }] }, search: { mode: 'include' } },
      ],
    });
    const result = await importFiles(server.db.pool, tenant, [file]);
    assert.equal(result.ok, false);
    assert.deepEqual(result.issues, [{ file, line: 1, type: 'Patient', message: "Bundle.entry[2]: reference 'urn:uuid:nobody' matches no entry's fullUrl" }]);
    assert.deepEqual((await rows(tenant)).map((r) => `${r.type}/${r.id}`), ['Patient/s1']);
  });

  it('transaction Bundle refused at write time: nothing written, one rejection counted as the Bundle', async () => {
    const { tenant } = await server.newTenant('api-txref');
    const file = write('tx-dangling.json', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:nobody' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    const result = await importFiles(server.db.pool, tenant, [file]);
    assert.deepEqual(result.issues, [
      { file, line: 1, type: 'Bundle', message: "Bundle.entry[1]: reference 'urn:uuid:nobody' matches no entry's fullUrl (the transaction Bundle was not loaded)" },
    ]);
    assert.equal(result.counts.Bundle.rejected, 1);
    assert.equal(result.written, 0);
    assert.deepEqual(await rows(tenant), []);
  });

  it('NDJSON: a resource written twice gets two versions; a write-time rejection inside a batch spares the rest', async () => {
    const { tenant } = await server.newTenant('api-dup');
    const lines = [
      { resourceType: 'Patient', id: 'twice', active: false },
      { resourceType: 'Patient', id: 'other' },
      { resourceType: 'Patient', id: 'twice', active: true },
      // A NUL character passes validation; PostgreSQL text refuses it when the batch is written.
      { resourceType: 'Observation', status: 'final', code: { text: 'x\u0000' } },
      { resourceType: 'Patient', id: 'last' },
    ];
    const file = write('dup.ndjson', lines.map((l) => JSON.stringify(l)).join('\n'));
    const result = await importFiles(server.db.pool, tenant, [file], { batchSize: 100 });
    assert.equal(result.written, 4);
    assert.equal(result.issues.length, 1);
    assert.equal(result.issues[0].line, 4);
    assert.match(result.issues[0].message, /^the database refused it: /);
    const current = await rows(tenant);
    assert.deepEqual(current.map((r) => `${r.id}@${r.version}`), ['last@1', 'other@1', 'twice@2']);
    assert.equal(JSON.parse(current.find((r) => r.id === 'twice')!.content).active, true, 'the later line wins');
    assert.deepEqual((await rows(tenant, 'resource_history')).map((r) => `${r.id}@${r.version}`), ['twice@1']);
  });

  it('concurrent batches: a resource written in many batches ends at its last line, versions in file order', async () => {
    const { tenant } = await server.newTenant('api-order');
    const lines: object[] = [];
    for (let v = 1; v <= 12; v++) {
      lines.push({ resourceType: 'Patient', id: 'same', name: [{ family: `v${v}` }] });
      lines.push({ resourceType: 'Patient', id: `filler-${v}` });
    }
    const file = write('order.ndjson', lines.map((l) => JSON.stringify(l)).join('\n'));
    const result = await importFiles(server.db.pool, tenant, [file], { batchSize: 3, concurrency: 4 });
    assert.equal(result.ok, true, JSON.stringify(result.issues));
    assert.deepEqual(result.counts.Patient, { created: 13, updated: 11, deleted: 0, unchanged: 0, rejected: 0 });
    const same = (await rows(tenant)).find((r) => r.id === 'same')!;
    assert.equal(same.version, 12);
    assert.equal(JSON.parse(same.content).name[0].family, 'v12');
    const history = (await rows(tenant, 'resource_history')).filter((r) => r.id === 'same');
    assert.deepEqual(
      history.map((r) => [r.version, JSON.parse(r.content).name[0].family]),
      Array.from({ length: 11 }, (_, i) => [i + 1, `v${i + 1}`]),
    );
  });

  it('a value PostgreSQL refuses (a NUL character) rejects its line only; the import goes on', async () => {
    const { tenant } = await server.newTenant('api-nul');
    const lines = [
      JSON.stringify({ resourceType: 'Patient', id: 'before' }),
      JSON.stringify({ resourceType: 'Patient', id: 'nul', identifier: [{ value: 'a\u0000b' }] }),
      JSON.stringify({ resourceType: 'Patient', id: 'after' }),
    ];
    const file = write('nul.ndjson', lines.join('\n'));
    const result = await importFiles(server.db.pool, tenant, [file]);
    assert.equal(result.complete, true);
    assert.deepEqual(result.issues.map((i) => [i.line, i.type]), [[2, 'Patient']]);
    assert.match(result.issues[0].message, /^the database refused it: /);
    assert.deepEqual((await rows(tenant)).map((r) => r.id), ['after', 'before']);
  });

  it('abort mode: a write-time rejection rolls the whole file back and names its line', async () => {
    const { tenant } = await server.newTenant('api-abort');
    const lines = [
      { resourceType: 'Patient', id: 'a1' },
      { resourceType: 'Patient', id: 'a2' },
      { resourceType: 'Patient', id: 'a3', name: [{ family: 'a\u0000b' }] },
      { resourceType: 'Patient', id: 'a4' },
    ];
    const file = write('abort.ndjson', lines.map((l) => JSON.stringify(l)).join('\n'));
    const result = await importFiles(server.db.pool, tenant, [file], { onError: 'abort', batchSize: 2 });
    assert.equal(result.complete, false);
    assert.equal(result.stoppedAt, file);
    assert.equal(result.written, 0, 'counts include only committed writes');
    assert.deepEqual(result.issues.map((i) => i.line), [3]);
    assert.deepEqual(await rows(tenant), []);
  });

  it('gzip, CRLF line ends and a byte-order mark; progress is reported up to the whole size', async () => {
    const { tenant } = await server.newTenant('api-gz');
    const text = '\ufeff' + [1, 2, 3].map((n) => JSON.stringify({ resourceType: 'Patient', id: `gz-${n}` })).join('\r\n') + '\r\n';
    const file = write('crlf.ndjson.gz', zlib.gzipSync(text));
    const seen: ImportProgress[] = [];
    const result = await importFiles(server.db.pool, tenant, [file], { onProgress: (p) => seen.push(p) });
    assert.equal(result.ok, true, JSON.stringify(result.issues));
    assert.deepEqual((await rows(tenant)).map((r) => r.id), ['gz-1', 'gz-2', 'gz-3']);
    const last = seen[seen.length - 1];
    assert.equal(last.bytesDone, fs.statSync(file).size);
    assert.equal(last.bytesTotal, fs.statSync(file).size);
    assert.equal(last.resources, 3);
  });

  it('files that cannot be read are reported, not thrown: bad gzip, bad JSON, oversized JSON', async () => {
    const { tenant } = await server.newTenant('api-files');
    const gz = write('broken.ndjson.gz', Buffer.from('this is not gzip'));
    const json = write('broken.json', '{"resourceType": "Patient",');
    const big = write('big.json', JSON.stringify({ resourceType: 'Patient', id: 'big', name: [{ text: 'x'.repeat(2000) }] }));
    const ok = write('fine.ndjson', JSON.stringify({ resourceType: 'Patient', id: 'fine' }));
    const result = await importFiles(server.db.pool, tenant, [gz, json, big, ok], { maxJsonBytes: 1000 });
    assert.equal(result.complete, true);
    assert.deepEqual(
      result.issues.map((i) => [path.basename(i.file), i.line, i.message.split(':')[0]]),
      [
        ['broken.ndjson.gz', 1, 'not valid gzip data (incorrect header check)'],
        ['broken.json', 1, 'invalid JSON'],
        ['big.json', 1, 'larger than 1000 bytes; a JSON file is read whole, so split it or convert it to NDJSON'],
      ],
    );
    assert.deepEqual((await rows(tenant)).map((r) => r.id), ['fine']);
  });

  it('an unknown tenant throws before reading anything', async () => {
    await assert.rejects(importFiles(server.db.pool, 'no-such-tenant-api', [dir]), UnknownTenantError);
  });
});
