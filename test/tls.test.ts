// TLS: `payer-fhir serve --tls-cert --tls-key` serves HTTPS with TLS 1.2 and 1.3 only, checked
// with real TLS handshakes (node:tls) against the real command; the METRICS_PORT listener that
// `serve` starts beside it; HSTS on answers over TLS. The certificate is made by `openssl` here.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { addTenant } from '../src/store/tenants.js';
import { registerKeyClient, signAssertion, tokenUrlFor } from './helpers/auth.js';
import { freePort, uniqueId } from './helpers/server.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(root, 'bin', 'payer-fhir.js');
type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** A self-signed certificate for localhost and 127.0.0.1, made by the openssl command line. */
function makeCertificate(dir: string): { certFile: string; keyFile: string; cert: Buffer } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  return { certFile, keyFile, cert: fs.readFileSync(certFile) };
}

/**
 * A TLS handshake at exactly `version`. `legacy` lowers the client's OpenSSL security level so it
 * can offer TLS 1.0/1.1 at all (OpenSSL 3 refuses to by default).
 */
function handshake(port: number, version: TlsVersion, ca: Buffer, legacy = false): Promise<{ protocol?: string | null; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', minVersion: version, maxVersion: version, ...(legacy ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {}) }, () => {
      resolve({ protocol: socket.getProtocol() });
      socket.destroy();
    });
    socket.on('error', (error) => resolve({ error }));
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  protocol: string | null;
}

/** An HTTPS request pinned to one TLS version, trusting only the test certificate. */
function request(url: string, version: TlsVersion, ca: Buffer, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ca, minVersion: version, maxVersion: version, agent: false }, (res) => {
      let text = '';
      const protocol = (res.socket as tls.TLSSocket).getProtocol();
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, protocol }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function waitReady(url: string, ca: Buffer, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited early with ${child.exitCode}: ${stderr()}`);
    try {
      if ((await request(url, 'TLSv1.3', ca)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`serve did not become ready: ${stderr()}`);
}

describe('TLS (serve --tls-cert --tls-key)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-tls-'));
  const { certFile, keyFile, cert } = makeCertificate(dir);
  let child: ChildProcess;
  let db: Database;
  let port: number;
  let metricsPort: number;
  let origin: string;
  let tenant: string;
  let stderr = '';

  before(async () => {
    db = await openDatabase(loadConfig());
    tenant = uniqueId('tls');
    await addTenant(db.pool, tenant);
    port = await freePort();
    metricsPort = await freePort();
    origin = `https://127.0.0.1:${port}`;
    const { PUBLIC_URL: _p, TLS_CERT_FILE: _c, TLS_KEY_FILE: _k, METRICS_TOKEN: _t, ...env } = process.env;
    child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--host', '127.0.0.1', '--workers', '0', '--tls-cert', certFile, '--tls-key', keyFile], {
      // Node's own default floor is TLS 1.2; lowering it to 1.0 leaves the server's explicit minVersion as
      // the only thing that keeps TLS 1.0/1.1 out (without it they fail differently: internal_error).
      env: { ...env, PUBLIC_URL: origin, DATA_DIR: dir, LOG_LEVEL: 'warn', METRICS_PORT: String(metricsPort), NODE_OPTIONS: '--tls-min-v1.0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d) => (stderr += d));
    await waitReady(`${origin}/healthz`, cert, child, () => stderr);
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
    await db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A token over TLS `version` for a new client of the test tenant. */
  async function token(version: TlsVersion): Promise<Answer & { accessToken?: string }> {
    const { clientId, key } = await registerKeyClient(db.pool, tenant, 'system/*.cruds');
    const url = tokenUrlFor(origin, tenant);
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'system/*.cruds',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signAssertion(key, clientId, url),
    });
    const res = await request(url, version, cert, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    return { ...res, accessToken: res.status === 200 ? JSON.parse(res.text).access_token : undefined };
  }

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`a ${version} handshake succeeds, and a token and FHIR requests work over it`, async () => {
      const hs = await handshake(port, version, cert);
      assert.equal(hs.error, undefined, `handshake: ${hs.error?.message}`);
      assert.equal(hs.protocol, version);

      const t = await token(version);
      assert.equal(t.status, 200, t.text);
      assert.equal(t.protocol, version);
      const base = `${origin}/payer/system-access/v2/${tenant}`;
      const auth = { authorization: `Bearer ${t.accessToken}`, 'content-type': 'application/fhir+json' };
      const created = await request(`${base}/Patient`, version, cert, { method: 'POST', headers: auth, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Tls' }] }) });
      assert.equal(created.status, 201, created.text);
      assert.ok(String(created.headers.location).startsWith(`${base}/Patient/`), 'absolute https URLs from PUBLIC_URL');
      const read = await request(String(created.headers.location).replace(/\/_history\/\d+$/, ''), version, cert, { headers: auth });
      assert.equal(read.status, 200, read.text);
      assert.equal(JSON.parse(read.text).name[0].family, 'Tls');
      // Over TLS every answer asks browsers to stay on HTTPS.
      for (const r of [t, created, read]) assert.equal(r.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    });
  }

  it('TLS 1.0 and 1.1 handshakes are refused by the server, not by the client', async () => {
    // The same client set-up completes TLS 1.0 and 1.1 with a server that allows them…
    const permissive = tls.createServer({ cert, key: fs.readFileSync(keyFile), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((r) => permissive.listen(0, '127.0.0.1', () => r()));
    const controlPort = (permissive.address() as { port: number }).port;
    try {
      for (const version of ['TLSv1', 'TLSv1.1'] as const) {
        const control = await handshake(controlPort, version, cert, true);
        assert.equal(control.error, undefined, `control ${version}: ${control.error?.message}`);
        assert.equal(control.protocol, version);
      }
    } finally {
      permissive.close();
    }
    // …and TLS 1.2 with payer-fhir; only the older protocols meet the server's floor.
    const same = await handshake(port, 'TLSv1.2', cert, true);
    assert.equal(same.protocol, 'TLSv1.2', `legacy client set-up at TLS 1.2: ${same.error?.message}`);
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      const refused = await handshake(port, version, cert, true);
      assert.equal(refused.protocol, undefined, `${version} must not be negotiated`);
      // Alert 70, protocol_version: the server refuses the protocol itself.
      assert.equal(refused.error?.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', `${version}: ${refused.error?.code} ${refused.error?.message}`);
    }
  });

  it('serve starts the METRICS_PORT listener: /metrics there, nothing else; none on the main port without METRICS_TOKEN', async () => {
    const issued = await token('TLSv1.3');
    assert.equal(issued.status, 200);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const text = await res.text();
    const tokens = /^payer_fhir_http_requests_total\{interaction="token",status="200"\} (\d+)$/m.exec(text);
    assert.ok(tokens && Number(tokens[1]) >= 1, 'token issuance counted by the process that served it');
    assert.match(text, /^payer_fhir_db_pool_connections \d+$/m);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/`)).status, 404);
    const main = await request(`${origin}/metrics`, 'TLSv1.3', cert);
    assert.equal(main.status, 404);
    assert.equal(JSON.parse(main.text).resourceType, 'OperationOutcome');
  });

  it('a missing certificate file stops serve with a plain message; a certificate without a key is refused', async () => {
    const { PUBLIC_URL: _p, TLS_CERT_FILE: _c, TLS_KEY_FILE: _k, ...env } = process.env;
    const failing = spawn(process.execPath, [bin, 'serve', '--port', String(await freePort()), '--host', '127.0.0.1', '--workers', '0', '--tls-cert', path.join(dir, 'missing.pem'), '--tls-key', keyFile], {
      env: { ...env, DATA_DIR: dir, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    failing.stderr!.on('data', (d) => (err += d));
    const code = await new Promise((r) => failing.on('exit', r));
    assert.equal(code, 1);
    assert.match(err, /TLS certificate file .*missing\.pem cannot be read \(ENOENT\)/);
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
    assert.throws(() => loadConfig({ TLS_CERT_FILE: certFile }), /both a certificate and a key/);
    assert.equal(loadConfig({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, PORT: '9443' }).publicUrl, 'https://localhost:9443');
  });
});
