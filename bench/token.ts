/**
 * Token benchmark (issue: SMART Backend Services): access tokens issued per second for an
 * RS384 and an ES384 client, and what a verified bearer token adds to a read — measured in
 * one run against the same read without authentication and against a bare Fastify route that
 * returns the same bytes from memory (the framework's own limit).
 *
 *   npm run bench -- token
 */
import crypto from 'node:crypto';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { Access } from '../src/auth/access.js';
import { addClient } from '../src/auth/clients.js';
import { BearerAuthenticator } from '../src/auth/bearer.js';
import { SigningKeys } from '../src/auth/signing-keys.js';
import { tokenIssuer } from '../src/auth/token-endpoint.js';
import { loadConfig } from '../src/config.js';
import { CursorCodec } from '../src/http/cursor.js';
import { sendFhir } from '../src/http/reply.js';
import { fhirBase, tokenUrl } from '../src/http/urls.js';
import { create } from '../src/interactions/create.js';
import { read } from '../src/interactions/read.js';
import { buildServer, loadCursorKey } from '../src/server.js';
import { openDatabase } from '../src/store/database.js';
import { addTenant } from '../src/store/tenants.js';
import { dropTenant, figure, printFigures, table } from './lib/report.js';

const TOKENS = Number(process.env.BENCH_TOKENS ?? 400);
const CONNECTIONS = 16;
const DURATION_S = Number(process.env.BENCH_DURATION ?? 8);

async function freePortServer(app: ReturnType<typeof Fastify>): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address() as { port: number };
  return `http://127.0.0.1:${addr.port}`;
}

async function assertionsFor(alg: 'RS384' | 'ES384', clientId: string, url: string, key: CryptoKey, kid: string, n: number): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  return Promise.all(
    Array.from({ length: n }, () =>
      new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg, kid, typ: 'JWT' }).setIssuer(clientId).setSubject(clientId).setAudience(url).setExpirationTime(now + 290).sign(key),
    ),
  );
}

/** Issues one token per pre-signed assertion, `concurrency` in flight; returns tokens/s. */
async function issue(url: string, assertions: string[], concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < assertions.length) {
      const assertion = assertions[next++];
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
      });
      if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return assertions.length / ((performance.now() - started) / 1000);
}

async function load(url: string, headers: Record<string, string> = {}): Promise<{ rps: number; p99: number; errors: number }> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

async function main(): Promise<void> {
  const port = 0;
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', PORT: String(port) });
  const db = await openDatabase(config);
  const tenant = `bench-token-${crypto.randomBytes(3).toString('hex')}`;
  await addTenant(db.pool, tenant);
  // PUBLIC_URL must be known before building the app: take a port, then build on it.
  const probe = Fastify();
  const origin = await freePortServer(probe);
  await probe.close();
  // Limits off: the bench measures token issuance and verification, not the limiter's refusals.
  const serverConfig = { ...config, publicUrl: origin, port: Number(new URL(origin).port), limits: { ...config.limits, clientRate: 0, tokenPerMinuteClient: 1e9, tokenPerMinuteIp: 1e9 } };
  const app = await buildServer(serverConfig, db.pool, { logger: false });
  await app.listen({ port: serverConfig.port, host: '127.0.0.1' });
  const base = fhirBase(origin, tenant);
  const url = tokenUrl(origin, tenant);
  try {
    const rates: Record<string, { seq: number; par: number }> = {};
    let token = '';
    for (const alg of ['RS384', 'ES384'] as const) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const kid = crypto.randomUUID();
      const { client_id } = await addClient(db.pool, { tenant, name: `bench ${alg}`, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg }] }, scope: 'system/*.cruds' });
      await issue(url, await assertionsFor(alg, client_id, url, privateKey, kid, 20), 4); // warm-up
      const seq = await issue(url, await assertionsFor(alg, client_id, url, privateKey, kid, TOKENS / 2), 1);
      const par = await issue(url, await assertionsFor(alg, client_id, url, privateKey, kid, TOKENS), 8);
      rates[alg] = { seq, par };
      if (!token) {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.cruds', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: (await assertionsFor(alg, client_id, url, privateKey, kid, 1))[0] }),
        });
        token = ((await res.json()) as { access_token: string }).access_token;
      }
    }

    // The same read three ways: authenticated through the real server, unauthenticated through
    // the same interaction code, and a bare route returning the same bytes from memory.
    const ctx = { config: serverConfig, pool: db.pool, cursors: new CursorCodec(await loadCursorKey(db.pool)), tenant, base };
    const created = await create(ctx, 'Patient', { resourceType: 'Patient', name: [{ family: 'Bench', given: ['Token'] }], birthDate: '1970-01-01', gender: 'female' });
    const id = JSON.parse(created.body as string).id as string;
    const bytes = (await read(ctx, 'Patient', id)).body as string;
    const side = Fastify({ logger: false });
    side.get('/bare', async (_req, reply) => reply.type('application/fhir+json; charset=utf-8').send(bytes));
    side.get('/noauth/:id', async (req, reply) => sendFhir(reply, await read(ctx, 'Patient', (req.params as { id: string }).id)));
    const sideOrigin = await freePortServer(side);

    const bare = await load(`${sideOrigin}/bare`);
    const noauth = await load(`${sideOrigin}/noauth/${id}`);
    const authed = await load(`${base}/Patient/${id}`, { authorization: `Bearer ${token}` });

    // The verification alone, in process: signature, claims, client status (cached).
    const bearer = new BearerAuthenticator(db.pool, new SigningKeys(db.pool));
    await bearer.start();
    const t = { tenant, base, issuer: tokenIssuer(origin, tenant) };
    let access: Access | undefined;
    for (let i = 0; i < 200; i++) access = await bearer.authenticate(`Bearer ${token}`, t);
    const n = 3000;
    const started = performance.now();
    for (let i = 0; i < n; i++) access = await bearer.authenticate(`Bearer ${token}`, t);
    const verifyUs = ((performance.now() - started) * 1000) / n;
    await bearer.stop();
    void access;
    await side.close();

    const rows = [
      ['measure', 'value'],
      ['RS384 tokens/s (1 in flight)', rates.RS384.seq.toFixed(0)],
      ['RS384 tokens/s (8 in flight)', rates.RS384.par.toFixed(0)],
      ['ES384 tokens/s (1 in flight)', rates.ES384.seq.toFixed(0)],
      ['ES384 tokens/s (8 in flight)', rates.ES384.par.toFixed(0)],
      [`bare route req/s (${CONNECTIONS} conns)`, bare.rps.toFixed(0)],
      ['read without auth req/s', noauth.rps.toFixed(0)],
      ['read with bearer token req/s', authed.rps.toFixed(0)],
      ['read with bearer token p99 ms', String(authed.p99)],
      ['bearer verification µs/call', verifyUs.toFixed(1)],
      ['failed requests', String(bare.errors + noauth.errors + authed.errors)],
    ];
    process.stdout.write(`${table(rows)}\n`);
    printFigures('token', [
      figure('rs384_tokens_per_s', rates.RS384.par, 'tokens/s', rates.RS384.par),
      figure('es384_tokens_per_s', rates.ES384.par, 'tokens/s', rates.RS384.par),
      figure('read_with_token_rps', authed.rps, 'req/s', noauth.rps),
      figure('read_without_auth_rps', noauth.rps, 'req/s', bare.rps),
      figure('read_with_token_vs_bare_route', authed.rps, 'req/s', bare.rps),
      figure('bearer_verify_us', verifyUs, 'µs', 1e6 / authed.rps),
    ]);
  } finally {
    await app.close();
    await dropTenant(db.pool, tenant);
    await db.close();
  }
}

await main();
