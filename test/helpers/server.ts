/**
 * Test harness: a real payer-fhir HTTP server on a free port, against the real PostgreSQL
 * given by DATABASE_URL (test/run.js provides one), with a fresh tenant per call.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config.js';
import { fhirBase } from '../../src/http/urls.js';
import { buildServer } from '../../src/server.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { addTenant } from '../../src/store/tenants.js';
import { tokenFor } from './auth.js';
import { rememberToken } from './http.js';

export interface TestServer {
  origin: string;
  config: Config;
  db: Database;
  app: FastifyInstance;
  /**
   * Creates a new tenant with a full-access client, and returns its FHIR base URL and a real
   * access token; `http()` attaches that token to requests under the base unless told otherwise.
   */
  newTenant(prefix?: string): Promise<{ tenant: string; base: string; token: string }>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function uniqueId(prefix = 't'): string {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

type ServerOptions = { workers?: number; alerts?: boolean; port?: number };

/**
 * `workers`: in-process export workers (none unless a test exports); `port`: when the origin
 * must be known in advance. The port freePort found may be taken before the server listens on
 * it (test files run in parallel, and every outgoing connection takes an ephemeral port too):
 * then that server is closed and another port tried.
 */
export async function startServer(overrides: Partial<Config> = {}, opts: ServerOptions = {}): Promise<TestServer> {
  if (!process.env.DATABASE_URL) throw new Error('tests need DATABASE_URL; run them with `npm test`');
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(overrides, opts);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || opts.port !== undefined || attempt === 5) throw err;
    }
  }
}

async function startOnce(overrides: Partial<Config>, opts: ServerOptions): Promise<TestServer> {
  const port = opts.port ?? (await freePort());
  const origin = `http://127.0.0.1:${port}`;
  // Generous rate limits (requests, tokens, console sign-ins) unless a test sets its own: test files share 127.0.0.1 and run in parallel.
  const config = loadConfig(
    { RATE_LIMIT_CLIENT: '100000', RATE_LIMIT_CLIENT_BURST: '100000', TOKEN_RATE_LIMIT_CLIENT: '100000', TOKEN_RATE_LIMIT_IP: '100000', ADMIN_SIGNIN_PER_MINUTE_IP: '100000', ...process.env, PORT: String(port), PUBLIC_URL: origin, LOG_LEVEL: 'silent' },
    overrides,
  );
  // Export files in a folder of this server's own: workers only run jobs of their storage, so
  // test servers running side by side never run (or hold back) each other's exports.
  let exportDir: string | undefined;
  if (!overrides.export?.storage || overrides.export.storage === loadConfig().export.storage) {
    exportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-test-exports-'));
    config.export = { ...config.export, storage: `file:${exportDir}` };
  }
  const db = await openDatabase(config);
  // Alert rules run only when a test asks (evaluate()), never on a timer across other tests' data.
  const app = await buildServer(config, db.pool, { logger: false, workers: opts.workers ?? 0, alerts: opts.alerts ?? false });
  try {
    await app.listen({ port, host: '127.0.0.1' });
  } catch (err) {
    // Its export workers and timers have started: closed, or they would keep this test process alive.
    await app.close().catch(() => undefined);
    await db.close();
    if (exportDir) fs.rmSync(exportDir, { recursive: true, force: true });
    throw err;
  }
  return {
    origin,
    config,
    db,
    app,
    async newTenant(prefix = 't') {
      const tenant = uniqueId(prefix);
      await addTenant(db.pool, tenant);
      const base = fhirBase(origin, tenant);
      const { token } = await tokenFor(db.pool, origin, tenant);
      rememberToken(base, token);
      return { tenant, base, token };
    },
    async close() {
      await app.close();
      await db.close();
      if (exportDir) fs.rmSync(exportDir, { recursive: true, force: true });
    },
  };
}

/** Rows a tenant holds: current versions plus superseded versions (to prove "nothing written"). */
export async function tenantRowCount(db: Database, tenant: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    'SELECT (SELECT count(*) FROM resource WHERE tenant = $1) + (SELECT count(*) FROM resource_history WHERE tenant = $1) AS n',
    [tenant],
  );
  return Number(rows[0].n);
}
