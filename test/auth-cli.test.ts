// The client registry through the real CLI (child processes against DATABASE_URL):
// keys generate → clients add → payer-fhir token → a read; list, disable, rotate-secret.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { tokenUrlFor } from './helpers/auth.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const cli = (...args: string[]) => run(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), ...args], { env: process.env });

describe('client registry CLI', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-keys-'));
  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('cli'));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keys generate (RS384, ES384) → clients add --jwks-file → payer-fhir token → an authorized read', async () => {
    for (const alg of ['RS384', 'ES384']) {
      const out = path.join(dir, alg);
      const gen = JSON.parse((await cli('keys', 'generate', '--alg', alg, '--out', out)).stdout);
      const priv = JSON.parse(fs.readFileSync(gen.private_key, 'utf8'));
      const pub = JSON.parse(fs.readFileSync(gen.jwks, 'utf8'));
      assert.equal(priv.alg, alg);
      assert.ok(priv.d, 'the private key file holds the private key');
      assert.equal(fs.statSync(gen.private_key).mode & 0o777, 0o600);
      assert.ok(pub.keys.every((k: Record<string, unknown>) => !('d' in k)), 'the JWKS holds public keys only');
      const { client_id, client_secret } = JSON.parse((await cli('clients', 'add', '--tenant', tenant, '--name', `cli ${alg}`, '--jwks-file', gen.jwks, '--scope', 'system/*.rs')).stdout);
      assert.equal(client_secret, undefined);
      const token = (await cli('token', '--token-url', tokenUrlFor(server.origin, tenant), '--client-id', client_id, '--key', gen.private_key, '--scope', 'system/Patient.rs')).stdout.trim();
      const r = await http(`${base}/Patient/_history`, { auth: false, headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, alg);
    }
  });

  it('clients add refuses ambiguous or bad registrations and writes nothing', async () => {
    const before = (await server.db.pool.query('SELECT count(*)::int AS n FROM client WHERE tenant = $1', [tenant])).rows[0].n;
    for (const args of [
      ['--secret', '--jwks-url', 'https://partner.example/jwks.json', '--scope', 'system/*.rs'],
      ['--scope', 'system/*.rs'],
      ['--secret', '--scope', 'patient/*.read'],
      ['--jwks-url', 'http://partner.example/jwks.json', '--scope', 'system/*.rs'],
      ['--secret', '--scope', 'system/*.rs', '--token-ttl', '7200'],
    ]) {
      await assert.rejects(cli('clients', 'add', '--tenant', tenant, '--name', 'bad', ...args), (err: { code?: number }) => err.code === 1, args.join(' '));
    }
    const afterCount = (await server.db.pool.query('SELECT count(*)::int AS n FROM client WHERE tenant = $1', [tenant])).rows[0].n;
    assert.equal(afterCount, before);
  });

  it('list never shows secrets; rotate-secret replaces the secret; disable stops the client', async () => {
    const { client_id, client_secret } = JSON.parse((await cli('clients', 'add', '--tenant', tenant, '--name', 'secret', '--secret', '--scope', 'system/*.rs')).stdout);
    const listed = (await cli('clients', 'list', '--tenant', tenant)).stdout;
    assert.match(listed, new RegExp(client_id));
    assert.ok(!listed.includes(client_secret));
    assert.doesNotMatch(listed, /scrypt/);
    const url = tokenUrlFor(server.origin, tenant);
    const tokenWith = (secret: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials&scope=system%2F*.rs',
      });
    const rotated = JSON.parse((await cli('clients', 'rotate-secret', client_id, '--tenant', tenant)).stdout).client_secret as string;
    assert.equal((await tokenWith(client_secret)).status, 401);
    const ok = await tokenWith(rotated);
    assert.equal(ok.status, 200);
    const token = ((await ok.json()) as { access_token: string }).access_token;
    assert.equal((await http(`${base}/Patient/_history`, { auth: false, headers: { authorization: `Bearer ${token}` } })).status, 200);
    await cli('clients', 'disable', client_id, '--tenant', tenant);
    assert.match((await cli('clients', 'list', '--tenant', tenant)).stdout, new RegExp(`"client_id":"${client_id}"[^\\n]*"disabled":true`));
    assert.equal((await tokenWith(rotated)).status, 401);
  });
});
