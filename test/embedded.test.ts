// Embedded mode: with no DATABASE_URL, `serve` starts its own PostgreSQL under DATA_DIR, a CLI
// command run meanwhile connects to that same server, SIGTERM drains and stops it cleanly,
// and a second start finds the data again.
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { http } from './helpers/http.js';
import { freePort, uniqueId } from './helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(root, 'bin', 'payer-fhir.js');

function envFor(dataDir: string, port: number): NodeJS.ProcessEnv {
  const { DATABASE_URL: _omit, ...env } = process.env;
  return { ...env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`, LOG_LEVEL: 'warn' };
}

async function waitReady(origin: string, child: ChildProcess): Promise<void> {
  // initdb, the first start and the migrations take a while on a busy machine: up to two minutes.
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited early with ${child.exitCode}`);
    try {
      if ((await fetch(`${origin}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('serve did not become ready');
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));
}

describe('embedded PostgreSQL', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-embedded-'));
  fs.chmodSync(dataDir, 0o755); // the embedded server may run as the postgres user
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts, serves a read, shares its database with CLI commands, and stops on SIGTERM', async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const env = envFor(dataDir, port);
    const serve = spawn(process.execPath, [bin, 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(serve);
    let stderr = '';
    serve.stderr!.on('data', (d) => (stderr += d));
    await waitReady(origin, serve);
    assert.match(stderr, /embedded PostgreSQL started/);

    // A command run while serve is up connects to the same embedded server.
    const tenant = uniqueId('emb');
    const added = await run(process.execPath, [bin, 'tenants', 'add', tenant], { env });
    assert.match(added.stdout, new RegExp(`tenant ${tenant} created`));
    assert.match(added.stderr, /already running/);

    // A client registered through the CLI gets a token (client_secret_basic) from the running server.
    const reg = await run(process.execPath, [bin, 'clients', 'add', '--tenant', tenant, '--name', 'embedded test', '--secret', '--scope', 'system/*.cruds'], { env });
    const { client_id, client_secret } = JSON.parse(reg.stdout) as { client_id: string; client_secret: string };
    const tokenRes = await fetch(`${origin}/auth/${tenant}/oauth2/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&scope=system%2F*.cruds',
    });
    assert.equal(tokenRes.status, 200);
    const authorization = `Bearer ${((await tokenRes.json()) as { access_token: string }).access_token}`;

    const base = `${origin}/payer/system-access/v2/${tenant}`;
    const created = await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: 'Embedded' }] }, headers: { authorization } });
    assert.equal(created.status, 201);
    const read = await http(`${base}/Patient/${created.json.id}`, { headers: { authorization } });
    assert.equal(read.status, 200);
    assert.equal(read.json.name[0].family, 'Embedded');

    const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
    assert.ok(fs.existsSync(pidFile), 'postgres runs while serve is up');
    serve.kill('SIGTERM');
    assert.equal(await exited(serve), 0);
    assert.ok(!fs.existsSync(pidFile), 'SIGTERM stopped the embedded PostgreSQL');

    // A second start reuses the data folder: the resource is still there.
    const port2 = await freePort();
    const again = spawn(process.execPath, [bin, 'serve'], { env: envFor(dataDir, port2), stdio: 'ignore' });
    children.push(again);
    await waitReady(`http://127.0.0.1:${port2}`, again);
    // The client and the resource survived the restart (a new token: tokens name the old PUBLIC_URL).
    const origin2 = `http://127.0.0.1:${port2}`;
    const token2 = await fetch(`${origin2}/auth/${tenant}/oauth2/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&scope=system%2F*.rs',
    });
    assert.equal(token2.status, 200);
    const reread = await http(`${origin2}/payer/system-access/v2/${tenant}/Patient/${created.json.id}`, {
      headers: { authorization: `Bearer ${((await token2.json()) as { access_token: string }).access_token}` },
    });
    assert.equal(reread.status, 200);
    assert.equal(reread.json.id, created.json.id);
    again.kill('SIGTERM');
    assert.equal(await exited(again), 0);
    assert.ok(!fs.existsSync(pidFile));
  });

  it('a command with no server running starts the database for its own run and stops it', async () => {
    const env = envFor(dataDir, await freePort());
    const listed = await run(process.execPath, [bin, 'tenants', 'list'], { env });
    assert.match(listed.stdout, /^emb-/m);
    assert.ok(!fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid')));
  });
});

describe('embedded PostgreSQL as root from a private folder', () => {
  // `git clone … /root/payer-fhir && npm start` as root: PostgreSQL runs as the postgres user,
  // which cannot enter a mode-700 folder, so the cluster lives where that user can reach it.
  const root = process.getuid?.() === 0;
  const privateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-private-'));
  fs.chmodSync(privateDir, 0o700);
  const dataDir = path.join(privateDir, 'checkout', 'data');
  const children: ChildProcess[] = [];
  let cluster: string | undefined;
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(privateDir, { recursive: true, force: true });
    if (cluster) fs.rmSync(path.dirname(cluster), { recursive: true, force: true });
    // Also when the test failed before it learnt the folder: it is named after DATA_DIR.
    const relocated = '/var/lib/payer-fhir';
    for (const name of fs.existsSync(relocated) ? fs.readdirSync(relocated) : []) {
      if (name.includes(path.basename(privateDir).replace(/[^A-Za-z0-9]+/g, '-'))) fs.rmSync(path.join(relocated, name), { recursive: true, force: true });
    }
  });

  it('serve starts with DATA_DIR in a 700 folder, says where the cluster is, and finds it again on the next start', { skip: !root && 'only root runs PostgreSQL as another user' }, async () => {
    const start = async () => {
      const port = await freePort();
      const child = spawn(process.execPath, [bin, 'serve'], { env: envFor(dataDir, port), stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      await waitReady(`http://127.0.0.1:${port}`, child);
      return { child, port, stderr: () => stderr };
    };
    const first = await start();
    const said = /embedded PostgreSQL data in (\S+) \(the postgres user it runs as cannot enter (\S+)\)/.exec(first.stderr());
    assert.ok(said, first.stderr());
    cluster = said[1];
    assert.equal(said[2], dataDir);
    assert.ok(!cluster.startsWith(privateDir), 'the cluster is outside the private folder');
    assert.ok(fs.existsSync(path.join(cluster, 'PG_VERSION')));
    assert.equal(fs.statSync(cluster).uid, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), 'owned by the postgres user');
    assert.equal(fs.readFileSync(path.join(dataDir, 'postgres.location'), 'utf8').trim(), path.dirname(cluster));
    assert.ok(!fs.existsSync(path.join(dataDir, 'postgres')), 'no cluster inside DATA_DIR');

    const tenant = uniqueId('priv');
    const env = envFor(dataDir, first.port);
    assert.match((await run(process.execPath, [bin, 'tenants', 'add', tenant], { env })).stderr, /already running/, 'a command finds the running server');
    first.child.kill('SIGTERM');
    assert.equal(await exited(first.child), 0);
    assert.ok(!fs.existsSync(path.join(cluster, 'postmaster.pid')), 'SIGTERM stopped it');

    const second = await start();
    assert.ok(second.stderr().includes(`embedded PostgreSQL data in ${cluster} `), 'the same DATA_DIR finds the same cluster');
    const listed = await run(process.execPath, [bin, 'tenants', 'list'], { env: envFor(dataDir, second.port) });
    assert.match(listed.stdout, new RegExp(`^${tenant}`, 'm'), 'the data survived the restart');
    second.child.kill('SIGTERM');
    assert.equal(await exited(second.child), 0);
  });
});
