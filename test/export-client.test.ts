// `payer-fhir export`, the Bulk Data client, as a real child process against the real
// server: all three levels give exactly what the server holds; through a proxy that answers
// the first status poll 429 and cuts a download half-way it still succeeds, resuming with
// Range; a refused kick-off exits 1 with the server's diagnostics.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { registerKeyClient } from './helpers/auth.js';
import { loadFixtures, refs, repoRoot } from './helpers/bulk.js';
import { http as request } from './helpers/http.js';
import { freePort, startServer, type TestServer } from './helpers/server.js';

const bin = path.join(repoRoot, 'bin', 'payer-fhir.js');

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'export', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'silent' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** Every resource in the exported NDJSON files of a folder, as Type/id. */
function exported(dir: string): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const out: any[] = [];
  for (const item of manifest.output) {
    const file = path.join(dir, decodeURIComponent(new URL(item.url).pathname.split('/').pop()!));
    out.push(...fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  }
  return refs(out);
}

describe('payer-fhir export (the Bulk Data client)', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let stored: any[];
  let keyFile: string;
  let clientId: string;
  let tmp: string;

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ tenant, base } = await server.newTenant('client'));
    stored = await loadFixtures(base);
    const group = { resourceType: 'Group', id: 'two', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/adult' } }, { entity: { reference: 'Patient/child' } }] };
    assert.equal((await request(`${base}/Group/two`, { method: 'PUT', body: group })).status, 201);
    stored.push(group);
    const client = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
    clientId = client.clientId;
    const { exportJWK } = await import('jose');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-client-'));
    keyFile = path.join(tmp, 'key.json');
    fs.writeFileSync(keyFile, JSON.stringify({ ...(await exportJWK(client.key.privateKey)), kid: client.key.kid, alg: client.key.alg }));
  });
  after(async () => {
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const common = (b: string, out: string) => ['--base', b, '--token-url', `${server.origin}/auth/${tenant}/oauth2/v1/token`, '--client-id', clientId, '--key', keyFile, '--out', out];

  it('system, Patient and Group level: the files hold what the server holds', async () => {
    const sys = path.join(tmp, 'system');
    const r = await run([...common(base, sys), '--system']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(exported(sys), refs(stored));

    const pat = path.join(tmp, 'patient');
    assert.equal((await run([...common(base, pat), '--patient-level', '--type', 'Patient'])).code, 0);
    assert.deepEqual(exported(pat), refs(stored.filter((x) => x.resourceType === 'Patient')));

    const grp = path.join(tmp, 'group');
    const g = await run([...common(base, grp), '--group', 'two', '--type', 'Patient,Condition']);
    assert.equal(g.code, 0, g.stderr);
    const members = new Set(['Patient/adult', 'Patient/child']);
    assert.deepEqual(
      exported(grp),
      refs(stored.filter((x) => (x.resourceType === 'Patient' && members.has(`Patient/${x.id}`)) || (x.resourceType === 'Condition' && members.has(x.subject?.reference)))),
    );
  });

  it('through a 429 on the first poll and a download cut half-way: succeeds, resuming with Range', async () => {
    const target = new URL(server.origin);
    let polls = 0;
    const cut = new Set<string>();
    const ranges: string[] = [];
    const port = await freePort();
    const proxyOrigin = `http://127.0.0.1:${port}`;
    const proxy = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '/';
      if (url.includes('$export-status') && polls++ === 0) {
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'throttled' }] }));
        return;
      }
      if (req.headers.range) ranges.push(req.headers.range);
      const headers = { ...req.headers, host: target.host, 'accept-encoding': 'identity' };
      const upstream = http.request({ host: target.hostname, port: target.port, path: url, method: req.method, headers }, (up) => {
        // Links in the answers point at the server; send the client back through the proxy.
        const rewrite = (v: string | undefined) => (typeof v === 'string' ? v.replace(server.origin, proxyOrigin) : v);
        const outHeaders: http.OutgoingHttpHeaders = { ...up.headers, 'content-location': rewrite(up.headers['content-location']) };
        if (!outHeaders['content-location']) delete outHeaders['content-location'];
        const isFile = url.includes('$export-file') && !req.headers.range;
        if (isFile && !cut.has(url)) {
          cut.add(url);
          res.writeHead(up.statusCode ?? 502, outHeaders);
          const total = Number(up.headers['content-length']);
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (sent >= total / 2) return;
            const part = chunk.subarray(0, Math.max(0, Math.ceil(total / 2) - sent));
            sent += part.length;
            // Destroy only once the half is flushed, so the client really has it.
            res.write(part, () => {
              if (sent >= total / 2) res.destroy();
            });
          });
          return;
        }
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          let buf = Buffer.concat(body);
          if (String(up.headers['content-type'] ?? '').includes('json')) buf = Buffer.from(buf.toString('utf8').split(server.origin).join(proxyOrigin));
          res.writeHead(up.statusCode ?? 502, { ...outHeaders, 'content-length': String(buf.length) });
          res.end(buf);
        });
      });
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', () => r()));
    try {
      const out = path.join(tmp, 'proxied');
      const proxiedBase = base.replace(server.origin, proxyOrigin);
      const r = await run([...common(proxiedBase, out), '--type', 'Patient,Observation']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(polls >= 2, 'polled again after the 429');
      assert.ok(cut.size >= 1 && ranges.length >= cut.size, `resumed with Range (${ranges.join(', ')})`);
      assert.deepEqual(exported(out), refs(stored.filter((x) => x.resourceType === 'Patient' || x.resourceType === 'Observation')));
    } finally {
      proxy.close();
    }
  });

  it('a refused kick-off exits 1 with the server diagnostics', async () => {
    const r = await run([...common(base, path.join(tmp, 'nope')), '--group', 'no-such-group']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kick-off failed \(HTTP 404\).*Group\/no-such-group/);
  });
});
