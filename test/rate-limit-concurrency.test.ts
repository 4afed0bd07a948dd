/**
 * Issue 17: the shared token buckets hold at high concurrency across processes. Two real
 * `payer-fhir serve` processes on one database take 32 requests in flight for a fixed time
 * against one bucket of known rate and burst; the admitted count must never exceed
 * `burst + rate × elapsed` (the bucket's whole supply) and must fall short of it by at most one
 * lease per process (tokens a process held, unspent, when the offering stopped) plus the refill
 * of a quarter second at each end of the window (when no claim may yet or any more run).
 * Before the fix, concurrent misses each claimed a lease and overwrote each other's, so the
 * unspent tokens of all but one were lost and clients were refused far below their rate.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addClient } from '../src/auth/clients.js';
import { loadConfig } from '../src/config.js';
import { fhirBase } from '../src/http/urls.js';
import { leaseSize, PgRateLimiter } from '../src/limits/rate-limiter.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { addTenant } from '../src/store/tenants.js';
import { freePort, uniqueId } from './helpers/server.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const bin = path.join(root, 'bin', 'payer-fhir.js');
const IN_FLIGHT = 32;
const SECONDS = 3;
/** Refill that may go unclaimed at each end of the window (first claim, last claim). */
const EDGE_SECONDS = 0.25;
const TOKEN_PER_MINUTE = 120;

interface Count {
  admitted: number;
  refused: number;
  other: number[];
  /** Seconds from the first request sent to the last offered. */
  offered: number;
  /** Seconds from the first request sent to the last answer received. */
  elapsed: number;
}

/** `IN_FLIGHT` loops, alternating between the processes, each sending `request(origin)` until SECONDS have passed; `admittedStatus` is the answer to a request the limits let through. */
async function offer(origins: string[], admittedStatus: number, request: (origin: string) => Promise<Response>): Promise<Count> {
  const count: Count = { admitted: 0, refused: 0, other: [], offered: 0, elapsed: 0 };
  const start = performance.now();
  const stop = start + SECONDS * 1000;
  let last = start;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, i) => {
      while (performance.now() < stop) {
        last = Math.max(last, performance.now());
        const res = await request(origins[i % origins.length]);
        await res.arrayBuffer();
        if (res.status === 429) count.refused++;
        else if (res.status === admittedStatus) count.admitted++;
        else count.other.push(res.status);
      }
    }),
  );
  count.offered = (last - start) / 1000;
  count.elapsed = (performance.now() - start) / 1000;
  return count;
}

function assertWithinBucket(c: Count, rate: number, burst: number, processes: number): void {
  const ceiling = burst + rate * c.elapsed;
  const floor = burst + rate * (c.offered - 2 * EDGE_SECONDS) - processes * leaseSize(burst);
  const at = `admitted ${c.admitted}, refused ${c.refused} over ${c.offered.toFixed(2)} s (ceiling ${ceiling.toFixed(1)}, floor ${floor.toFixed(1)})`;
  assert.deepEqual(c.other, [], at);
  // The offered load exceeded the bucket, or the floor would say nothing.
  assert.ok(c.refused > 0, at);
  assert.ok(c.admitted <= ceiling, `admitted beyond the bucket: ${at}`);
  assert.ok(c.admitted >= floor, `refused more than one lease per process early: ${at}`);
}

describe('rate limits at high concurrency across two server processes (issue 17)', () => {
  let db: Database;
  let tenant: string;
  let origins: string[];
  const children: ChildProcess[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-limits-'));

  before(async () => {
    db = await openDatabase(loadConfig());
    tenant = uniqueId('limits');
    await addTenant(db.pool, tenant);
    const ports = [await freePort(), await freePort()];
    origins = ports.map((p) => `http://127.0.0.1:${p}`);
    const { PUBLIC_URL: _p, METRICS_PORT: _m, ...env } = process.env;
    for (const port of ports) {
      let stderr = '';
      const child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--host', '127.0.0.1', '--workers', '0'], {
        // One public URL, as behind a load balancer: a token from either process works on both.
        env: { ...env, PUBLIC_URL: origins[0], DATA_DIR: dir, LOG_LEVEL: 'warn', TOKEN_RATE_LIMIT_CLIENT: String(TOKEN_PER_MINUTE), TOKEN_RATE_LIMIT_IP: '100000000' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.on('data', (d) => (stderr += d));
      children.push(child);
      for (let i = 0; ; i++) {
        if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
        const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
        if (ok) break;
        if (i > 300) throw new Error(`serve did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  after(async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
      }
    }
    await db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('token endpoint: a claimed client gets its whole bucket, never more (counted before authentication)', async () => {
    const claimed = uniqueId('claimed');
    // No grant_type: answered 400 right after the limits, so the offered load is not bounded
    // by the cost of checking a secret (which is slow on purpose).
    const body = new URLSearchParams({ scope: 'system/*.rs' }).toString();
    const authorization = `Basic ${Buffer.from(`${claimed}:not-the-secret`).toString('base64')}`;
    const c = await offer(origins, 400, (o) =>
      fetch(`${o}/auth/${tenant}/oauth2/v1/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body }),
    );
    assertWithinBucket(c, TOKEN_PER_MINUTE / 60, TOKEN_PER_MINUTE, 2);
    const { rows } = await db.pool.query('SELECT burst, rate FROM rate_bucket WHERE key = $1', [`tc:${tenant}/${claimed}`]);
    assert.deepEqual(rows.map((r) => [Number(r.burst), Number(r.rate)]), [[TOKEN_PER_MINUTE, TOKEN_PER_MINUTE / 60]]);
  });

  it('FHIR requests: a client with its own rate and burst gets exactly its bucket', async () => {
    const rate = 10;
    const burst = 100;
    const { client_id, client_secret } = await addClient(db.pool, { tenant, name: 'busy partner', secret: true, scope: 'system/*.rs', limits: { ratePerSecond: rate, rateBurst: burst } });
    const tokenRes = await fetch(`${origins[0]}/auth/${tenant}/oauth2/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs' }).toString(),
    });
    assert.equal(tokenRes.status, 200);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const c = await offer(origins, 404, (o) => fetch(`${fhirBase(o, tenant)}/Patient/not-there`, { headers: { authorization: `Bearer ${access_token}` } }));
    assertWithinBucket(c, rate, burst, 2);
  });

});

describe('PgRateLimiter hands back what it does not spend (issue 17)', () => {
  let db: Database;
  before(async () => {
    db = await openDatabase(loadConfig());
  });
  after(async () => db?.close());

  const tokens = async (key: string) => Number((await db.pool.query('SELECT tokens FROM rate_bucket WHERE key = $1', [key])).rows[0].tokens);
  // A refill so slow that it cannot account for a whole token during a test.
  const slow = (key: string, burst: number) => ({ key, rate: 1e-6, burst });

  it('concurrent misses share one claim: 30 requests at once take exactly 30 tokens from a burst of 200 (lease 10)', async () => {
    const limiter = new PgRateLimiter(db.pool);
    const key = uniqueId('rl-share');
    try {
      const states = await Promise.all(Array.from({ length: 30 }, () => limiter.take([slow(key, 200)])));
      assert.ok(states.every(([s]) => s.allowed));
      // Three leases of 10, all spent: nothing lost, nothing held.
      assert.equal(Math.round(await tokens(key)), 170);
    } finally {
      await limiter.close();
    }
  });

  it('unspent tokens go back when the process closes, and when a lease expires unused', async () => {
    const key = uniqueId('rl-back');
    const a = new PgRateLimiter(db.pool);
    assert.equal((await a.take([slow(key, 200)]))[0].allowed, true);
    assert.equal(Math.round(await tokens(key)), 190, 'a lease of 10 claimed');
    await a.close();
    assert.equal(Math.round(await tokens(key)), 199, 'the 9 unspent returned on close');

    const b = new PgRateLimiter(db.pool);
    try {
      await b.take([slow(key, 200)]);
      assert.equal(Math.round(await tokens(key)), 189);
      // The sweep hands an expired lease back (LEASE_MS is a second; wait for it, up to 10 s).
      for (let i = 0; i < 100 && Math.round(await tokens(key)) !== 198; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(Math.round(await tokens(key)), 198);
    } finally {
      await b.close();
    }
    assert.equal(Math.round(await tokens(key)), 198, 'nothing handed back twice');
  });

  it('a request refused by one bucket does not spend the others', async () => {
    const limiter = new PgRateLimiter(db.pool);
    const open = uniqueId('rl-open');
    const empty = uniqueId('rl-empty');
    try {
      assert.equal((await limiter.take([slow(empty, 1)]))[0].allowed, true);
      const [o, e] = await limiter.take([slow(open, 1), slow(empty, 1)]);
      assert.equal(e.allowed, false);
      assert.equal(o.allowed, true, 'the open bucket had a token');
      // Its token went back: the next request finds it.
      const [again] = await limiter.take([slow(open, 1)]);
      assert.equal(again.allowed, true);
      const [none] = await limiter.take([slow(open, 1)]);
      assert.equal(none.allowed, false);
    } finally {
      await limiter.close();
    }
  });
});
