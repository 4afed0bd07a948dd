/**
 * The shared rate limits under concurrent load (issue 17): one client with a known rate, offered
 * exactly 0.9× and 1.1× of that rate from 16 connections spread over two server instances (two
 * limiters, as two processes would have, on one database). Open loop: request i is sent at
 * start + i / offered rate, whatever the answers. Before each round the bucket is emptied, so
 * the figures show the steady rate, not the burst.
 * Goals: at 0.9× at least 0.99 of the offered requests admitted; at 1.1× no more admitted than
 * the rate over the round plus one lease per instance.
 *
 *   npm run bench -- limits   (BENCH_LIMITS_RATE=200 requests/s, BENCH_LIMITS_SECONDS=10)
 */
import { loadConfig } from '../src/config.js';
import { fhirBase } from '../src/http/urls.js';
import { leaseSize } from '../src/limits/rate-limiter.js';
import { addClient } from '../src/auth/clients.js';
import { openDatabase } from '../src/store/database.js';
import { addTenant } from '../src/store/tenants.js';
import { startBenchServer } from './lib/server.js';
import { dropTenant, figure, printFigures, table, type Figure } from './lib/report.js';

const RATE = Number(process.env.BENCH_LIMITS_RATE ?? 200);
const BURST = RATE;
const SECONDS = Number(process.env.BENCH_LIMITS_SECONDS ?? 10);
const CONNECTIONS = 16;
const INSTANCES = 2;

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const db = await openDatabase(config, (m) => process.stderr.write(`${m}\n`));
  const tenant = `bench-limits-${process.pid}`;
  await addTenant(db.pool, tenant);
  const figures: Figure[] = [];
  const servers: Awaited<ReturnType<typeof startBenchServer>>[] = [];
  try {
    for (let i = 0; i < INSTANCES; i++) {
      // One public URL for both, as behind a load balancer: a token from one works on the other.
      const publicUrl = servers[0]?.origin;
      servers.push(await startBenchServer(config, db.pool, (c) => ({ ...c, ...(publicUrl ? { publicUrl } : {}) }), 0));
    }
    const { client_id, client_secret } = await addClient(db.pool, { tenant, name: 'bench limits', secret: true, scope: 'system/*.rs', tokenTtl: 3600, limits: { ratePerSecond: RATE, rateBurst: BURST } });
    const tokenRes = await fetch(`${servers[0].origin}/auth/${tenant}/oauth2/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&scope=system%2F*.rs',
    });
    const auth = `Bearer ${((await tokenRes.json()) as { access_token: string }).access_token}`;
    const urls = servers.map((s) => `${fhirBase(s.origin, tenant)}/Patient/not-there`);
    const send = async (i: number): Promise<number> => {
      const res = await fetch(urls[i % urls.length], { headers: { authorization: auth } });
      await res.arrayBuffer();
      return res.status;
    };
    /** Spends the bucket until a request is refused, so the round starts from empty. */
    const drain = async () => {
      for (let i = 0; ; i += CONNECTIONS) {
        const statuses = await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => send(i + k)));
        if (statuses.includes(429)) return;
      }
    };
    const round = async (factor: number) => {
      await drain();
      const offeredRate = RATE * factor;
      const total = Math.round(offeredRate * SECONDS);
      let next = 0;
      let admitted = 0;
      let refused = 0;
      const other: number[] = [];
      const start = performance.now();
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          for (;;) {
            const i = next++;
            if (i >= total) return;
            const due = start + (i * 1000) / offeredRate;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            const status = await send(i);
            if (status === 404) admitted++;
            else if (status === 429) refused++;
            else other.push(status);
          }
        }),
      );
      const seconds = (performance.now() - start) / 1000;
      if (other.length) throw new Error(`unexpected answers: ${[...new Set(other)].join(', ')}`);
      return { factor, offered: total, admitted, refused, seconds, lag: seconds - SECONDS };
    };
    const under = await round(0.9);
    const over = await round(1.1);
    const lease = leaseSize(BURST);
    // The most the bucket can give over the round: its refill, plus what each instance held in its lease when the round began.
    const ceiling = (r: { seconds: number }) => RATE * r.seconds + INSTANCES * lease;
    process.stdout.write(
      `${table([
        ['offered', 'requests', 'admitted', 'refused', 'seconds', 'admitted/offered', 'admitted/s', 'ceiling (rate × s + one lease per instance)'],
        ...[under, over].map((r) => [`${r.factor}× of ${RATE}/s`, String(r.offered), String(r.admitted), String(r.refused), r.seconds.toFixed(2), (r.admitted / r.offered).toFixed(4), (r.admitted / r.seconds).toFixed(1), ceiling(r).toFixed(0)]),
      ])}\n\n${CONNECTIONS} connections over ${INSTANCES} server instances (one limiter each), rate ${RATE}/s, burst ${BURST}, lease ${lease}; each round starts from an empty bucket.\n`,
    );
    figures.push(figure('admitted / offered at 0.9× the rate (goal ≥ 0.99)', under.admitted / under.offered, 'ratio', 0.99));
    figures.push(figure('admitted at 1.1× / (rate × seconds + one lease per instance) (goal ≤ 1)', over.admitted / ceiling(over), 'ratio', 1));
    figures.push(figure('admitted per second at 1.1× the rate', over.admitted / over.seconds, 'requests/s', RATE));
  } finally {
    for (const s of servers) await s.app.close();
    await dropTenant(db.pool, tenant);
    await db.close();
  }
  printFigures('limits', figures);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
