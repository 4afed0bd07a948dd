/**
 * Load benchmark: a mixed workload — token requests, reads, US Core and CARIN searches,
 * export status polls while a system export runs — at rising concurrency until p99 passes
 * 200 ms. Reports the sustained request rate (the last level under 200 ms), that nothing
 * failed except deliberate 429s (status polls faster than Retry-After), and the audit trail's
 * cost: the same workload at the same concurrency on a server with auditing off, same run.
 *
 *   npm run bench -- load     (BENCH_LOAD_SECONDS=5; uses the bench-export-10000 tenant when
 *                              present, else seeds BENCH_LOAD_MEMBERS=1000 members and drops them)
 */
import autocannon, { type Request } from 'autocannon';
import type { FastifyInstance } from 'fastify';
import { addClient } from '../src/auth/clients.js';
import { loadConfig, type Config } from '../src/config.js';
import { fhirBase } from '../src/http/urls.js';
import { seedTenant } from '../src/seed/load.js';
import { buildServer } from '../src/server.js';
import { openDatabase } from '../src/store/database.js';
import { addTenant } from '../src/store/tenants.js';
import { dropTenant, figure, printFigures, table, type Figure } from './lib/report.js';

const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 5);
const LEVELS = [1, 4, 16, 32, 64, 128];
const P99_LIMIT = 200;

async function start(config: Config, pool: import('pg').Pool, workers: number): Promise<{ app: FastifyInstance; origin: string }> {
  const app0 = await buildServer(config, pool, { logger: false, workers, alerts: false });
  await app0.listen({ port: 0, host: '127.0.0.1' });
  return { app: app0, origin: `http://127.0.0.1:${(app0.server.address() as { port: number }).port}` };
}

async function main(): Promise<void> {
  const base0 = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const db = await openDatabase(base0, (m) => process.stderr.write(`${m}\n`));
  let tenant = 'bench-export-10000';
  let seeded = false;
  if (!(await db.pool.query('SELECT 1 FROM resource WHERE tenant = $1 LIMIT 1', [tenant])).rows.length) {
    tenant = `bench-load-${Date.now()}`;
    await addTenant(db.pool, tenant);
    process.stderr.write(`seeding ${process.env.BENCH_LOAD_MEMBERS ?? 1000} members into ${tenant}…\n`);
    await seedTenant(db.pool, tenant, { seed: 'bench-load', members: Number(process.env.BENCH_LOAD_MEMBERS ?? 1000) });
    seeded = true;
  }
  const { rows: members } = await db.pool.query<{ patient_id: string }>(
    `SELECT DISTINCT patient_id FROM resource_compartment WHERE tenant = $1 AND type = 'ExplanationOfBenefit' ORDER BY patient_id LIMIT 40`,
    [tenant],
  );
  const { client_id, client_secret } = await addClient(db.pool, { tenant, name: 'bench load', secret: true, scope: 'system/*.rs', tokenTtl: 3600 });
  const basic = `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`;

  // Limits on but far above the load (the limiter's cost is part of the measurement).
  const limits = { ...base0.limits, clientRate: 1e7, clientBurst: 1e7, tokenPerMinuteClient: 1e9, tokenPerMinuteIp: 1e9 };
  const figures: Figure[] = [];
  const rows: string[][] = [['server', 'conns', 'req/s', 'p50 ms', 'p99 ms', '2xx', '429', 'other']];
  const servers: FastifyInstance[] = [];
  try {
    const run = async (config: Config, label: string, levels: number[], workers: number) => {
      const { app, origin } = await start({ ...config, limits }, db.pool, workers);
      servers.push(app);
      const base = fhirBase(config.publicUrl, tenant);
      const basePath = new URL(base).pathname;
      const tokenPath = `/auth/${tenant}/oauth2/v1/token`;
      const tok = await fetch(`${origin}${tokenPath}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, body: 'grant_type=client_credentials&scope=system%2F*.rs' });
      const token = ((await tok.json()) as { access_token: string }).access_token;
      const auth = { authorization: `Bearer ${token}` };
      // An export running underneath the whole time.
      const k = await fetch(`${origin}${basePath}/$export`, { headers: { ...auth, accept: 'application/fhir+json', prefer: 'respond-async' } });
      const statusPath = new URL(k.headers.get('content-location')!).pathname;
      const requests: Request[] = [];
      for (const m of members.slice(0, 8)) {
        requests.push(
          { path: `${basePath}/Patient/${m.patient_id}`, headers: auth },
          { path: `${basePath}/Observation?patient=${m.patient_id}&category=laboratory&date=ge2020-01-01`, headers: auth },
          { path: `${basePath}/ExplanationOfBenefit?patient=${m.patient_id}&_include=ExplanationOfBenefit:coverage`, headers: auth },
          { path: `${basePath}/Coverage?patient=${m.patient_id}`, headers: auth },
          { path: `${basePath}/Condition?patient=${m.patient_id}&clinical-status=active`, headers: auth },
        );
      }
      requests.push({ method: 'POST', path: tokenPath, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, body: 'grant_type=client_credentials&scope=system%2F*.rs' });
      requests.push({ path: statusPath, headers: auth });
      let best: { conns: number; rps: number } | undefined;
      for (const connections of levels) {
        const r = await autocannon({ url: origin, connections, duration: SECONDS, requests });
        const stats = r.statusCodeStats ?? {};
        const count = (pred: (s: number) => boolean) => Object.entries(stats).filter(([s]) => pred(Number(s))).reduce((n, [, v]) => n + v.count, 0);
        const ok = count((s) => s < 300);
        const throttled = count((s) => s === 429);
        const other = count((s) => s >= 300 && s !== 429) + r.errors;
        rows.push([label, String(connections), r.requests.average.toFixed(0), String(r.latency.p50), String(r.latency.p99), String(ok), String(throttled), String(other)]);
        if (other) figures.push(figure(`${label}: failed requests at ${connections} conns (goal 0)`, other, 'requests', 1));
        if (r.latency.p99 > P99_LIMIT) break;
        best = { conns: connections, rps: r.requests.average };
      }
      const running = await (await fetch(`${origin}${statusPath}`, { headers: auth })).status;
      await fetch(`${origin}${statusPath}`, { method: 'DELETE', headers: auth });
      return { best, exportStillRunning: running === 202 };
    };

    const audited = await run({ ...base0, audit: { ...base0.audit, enabled: true } }, 'audit on', LEVELS, 1);
    if (!audited.best) throw new Error('p99 was above 200 ms even at 1 connection');
    figures.push(figure(`sustained req/s with p99 ≤ ${P99_LIMIT} ms (audit on, ${audited.best.conns} conns)`, audited.best.rps, 'req/s', audited.best.rps));
    const plain = await run({ ...base0, audit: { ...base0.audit, enabled: false } }, 'audit off', [audited.best.conns], 1);
    const off = Number(rows[rows.length - 1][2]);
    figures.push(figure(`audit on vs off at ${audited.best.conns} conns (1 − overhead)`, audited.best.rps, 'req/s', off));
    process.stdout.write(`tenant ${tenant}; an export ran underneath${audited.exportStillRunning ? ' (still running at the end)' : ''}\n\n${table(rows)}\n\n`);
    process.stdout.write(`${table([['figure', 'value', 'unit', 'limit', 'ratio'], ...figures.map((f) => [f.name, String(f.value), f.unit, String(f.limit), String(f.ratio)])])}\n`);
    void plain;
    printFigures('load', figures);
  } finally {
    for (const s of servers) await s.close();
    if (seeded) await dropTenant(db.pool, tenant);
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
