/**
 * A payer-fhir server for a benchmark, on a free loopback port, and real access tokens for
 * clients registered with a secret (HTTP Basic at the token endpoint, as a partner would).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { addClient, type NewClient } from '../../src/auth/clients.js';
import type { Config } from '../../src/config.js';
import { freePort } from './process.js';
import { buildServer } from '../../src/server.js';

export async function startBenchServer(
  config: Config,
  pool: pg.Pool,
  adjust: (c: Config) => Config,
  workers: number,
): Promise<{ app: FastifyInstance; origin: string }> {
  const probe = Fastify();
  await probe.listen({ port: 0, host: '127.0.0.1' });
  const port = (probe.server.address() as { port: number }).port;
  await probe.close();
  const origin = `http://127.0.0.1:${port}`;
  const app = await buildServer(adjust({ ...config, publicUrl: origin, port }), pool, { logger: false, workers, alerts: false });
  await app.listen({ port, host: '127.0.0.1' });
  return { app, origin };
}

/** Registers a secret client (`system/*.rs`, hour-long tokens) and returns `Bearer <token>`. */
export async function secretClientToken(pool: pg.Pool, origin: string, tenant: string, client: Pick<NewClient, 'name' | 'policy' | 'organization'>): Promise<string> {
  const { client_id, client_secret } = await addClient(pool, { tenant, secret: true, scope: 'system/*.rs', tokenTtl: 3600, ...client });
  const res = await fetch(`${origin}/auth/${tenant}/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials&scope=system%2F*.rs',
  });
  return `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
}

/**
 * A real `payer-fhir serve` process on a free loopback port, on DATABASE_URL, with `env` on top.
 * Latency benchmarks use it so that the load generator (autocannon, in the bench process) does
 * not share the server's event loop: a p99 measured with both on one loop counts the client's
 * own work as the server's.
 */
export async function startServeProcess(env: NodeJS.ProcessEnv, workers: number): Promise<{ child: ChildProcess; origin: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'payer-fhir.js');
  const child = spawn(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--port', String(port), '--workers', String(workers)], {
    env: { ...process.env, PUBLIC_URL: origin, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
    if (await fetch(`${origin}/healthz`).then((r) => r.ok, () => false)) return { child, origin, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('serve did not start');
}
