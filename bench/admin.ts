/**
 * Admin API benchmark (issue 14): the calls behind each console page, p95 over repeated
 * requests, on the 10,000-member tenant with a year of audit records — each must answer within
 * 200 ms at p95, because they read rollups and indexes, never whole tables.
 *
 * The tenant (bench-admin-<members>) is seeded and filled once and kept, since that takes
 * minutes: BENCH_ADMIN_RECORDS (default 2,000,000) audit records over the last 365 days from 20
 * partner clients (chained like real ones, through the same append as the server), export jobs
 * and security alerts. BENCH_ADMIN_RESEED=1 rebuilds it, BENCH_ADMIN_DROP=1 drops it at the end.
 *
 *   npm run bench -- admin
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { addAccount } from '../src/admin/accounts.js';
import { appendRecords } from '../src/audit/log.js';
import type { AuditRecord } from '../src/audit/record.js';
import { trimMinuteCounts } from '../src/audit/usage.js';
import { addClient } from '../src/auth/clients.js';
import { createJob } from '../src/bulk/jobs.js';
import { loadConfig } from '../src/config.js';
import type { Interaction } from '../src/http/interaction.js';
import { seedTenant } from '../src/seed/load.js';
import { Rng } from '../src/seed/prng.js';
import { buildServer } from '../src/server.js';
import { openDatabase } from '../src/store/database.js';
import { addTenant } from '../src/store/tenants.js';
import { dropTenant, figure, printFigures, table, type Figure } from './lib/report.js';

const MEMBERS = Number(process.env.BENCH_ADMIN_MEMBERS ?? 10_000);
const RECORDS = Number(process.env.BENCH_ADMIN_RECORDS ?? 2_000_000);
const CLIENTS = 20;
const SAMPLES = Number(process.env.BENCH_ADMIN_SAMPLES ?? 40);
const LIMIT_MS = 200;
const DAY_MS = 86_400_000;

const MIX: [Interaction, number][] = [['search', 50], ['read', 30], ['token', 8], ['export-status', 6], ['export-download', 4], ['export-kickoff', 1], ['history', 1]];

async function fill(pool: pg.Pool, tenant: string): Promise<void> {
  const clients: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    clients.push((await addClient(pool, { tenant, name: `bench partner ${i}`, secret: true, scope: 'system/*.rs' })).client_id);
  }
  const rng = new Rng('bench-admin', tenant);
  const start = Date.now() - 365 * DAY_MS;
  const step = (365 * DAY_MS) / RECORDS;
  const total = MIX.reduce((a, [, w]) => a + w, 0);
  const pick = (): Interaction => {
    let r = rng.u32() % total;
    for (const [i, w] of MIX) if ((r -= w) < 0) return i;
    return 'read';
  };
  const started = performance.now();
  for (let done = 0; done < RECORDS; ) {
    const batch: AuditRecord[] = [];
    for (let k = 0; k < 5_000 && done < RECORDS; k++, done++) {
      const interaction = pick();
      const member = `pt-${String(1 + (rng.u32() % MEMBERS)).padStart(6, '0')}`;
      const roll = rng.u32() % 100;
      const status = roll < 2 ? 404 : roll < 3 ? 403 : roll === 3 ? 401 : roll === 4 ? 500 : interaction === 'export-kickoff' ? 202 : 200;
      batch.push({
        tenant, recorded: new Date(start + done * step), durationUs: 500 + (rng.u32() % 40_000), clientId: clients[rng.u32() % CLIENTS], sourceIp: `192.0.2.${1 + (rng.u32() % 20)}`,
        interaction, method: 'GET', path: interaction === 'read' ? `/payer/system-access/v2/${tenant}/Patient/${member}` : `/payer/system-access/v2/${tenant}/ExplanationOfBenefit`,
        query: interaction === 'search' ? `patient=${member}` : null, resourceType: interaction === 'read' ? 'Patient' : interaction === 'search' ? 'ExplanationOfBenefit' : null,
        resourceId: interaction === 'read' ? member : null, jobId: null, status, resources: status === 200 ? 1 + (rng.u32() % 20) : null, bytes: 200 + (rng.u32() % 30_000),
        detail: status >= 400 ? 'bench failure' : null, requestId: crypto.randomUUID(),
      });
    }
    await appendRecords(pool, batch);
    if (done % 200_000 === 0) process.stderr.write(`  ${done} audit records (${Math.round(done / ((performance.now() - started) / 1000))}/s)\n`);
  }
  await trimMinuteCounts(pool); // as the hourly sweep keeps them: a day of per-minute counts
  const client = await pool.connect();
  try {
    for (let j = 0; j < 300; j++) {
      await createJob(client, { id: crypto.randomUUID(), tenant, clientId: clients[j % CLIENTS], requestUrl: `bench/${j}`, params: { level: 'system' } as never, scope: 'system/*.rs', storage: 'file:/nowhere' });
    }
  } finally {
    client.release();
  }
  await pool.query(`UPDATE export_job SET state = 'completed', completed_at = now(), units_total = 10, units_done = 10 WHERE tenant = $1 AND request_url <> 'bench/299'`, [tenant]);
  await pool.query(
    `INSERT INTO security_alert (tenant, rule, client_id, summary, raised_at, status)
     SELECT $1, 'auth-failures', $2, 'bench alert ' || g, now() - make_interval(hours => g), CASE WHEN g % 10 = 0 THEN 'open' ELSE 'resolved' END FROM generate_series(1, 2000) g`,
    [tenant, clients[0]],
  );
  await pool.query('ANALYZE');
}

async function ensureTenant(pool: pg.Pool): Promise<string> {
  const tenant = `bench-admin-${MEMBERS}`;
  if (process.env.BENCH_ADMIN_RESEED === '1') await dropTenant(pool, tenant);
  const ready = (await pool.query(`SELECT 1 FROM audit_chain WHERE tenant = $1 AND seq >= $2`, [tenant, RECORDS])).rowCount;
  if (ready) return tenant;
  await dropTenant(pool, tenant);
  await addTenant(pool, tenant);
  process.stderr.write(`seeding ${MEMBERS} members into ${tenant} and filling a year of audit records (kept for later runs)…\n`);
  await seedTenant(pool, tenant, { seed: 'bench-admin', members: MEMBERS });
  await fill(pool, tenant);
  return tenant;
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', PUBLIC_URL: 'http://127.0.0.1:0' });
  const db = await openDatabase(config, (m) => process.stderr.write(`${m}\n`));
  const tenant = await ensureTenant(db.pool);
  const app = await buildServer(config, db.pool, { logger: false, workers: 0, alerts: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const email = `bench-${crypto.randomBytes(4).toString('hex')}@bench.example`;
  await addAccount(db.pool, { email, role: 'admin', password: 'bench password 123' });
  try {
    // PUBLIC_URL is fixed before the port is known, so requests carry no Origin (as scripts send them).
    const signIn = await fetch(`${origin}/admin/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'bench password 123' }) });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0];
    const get = async (path: string) => {
      const res = await fetch(`${origin}/admin/api${path}`, { headers: { cookie } });
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<any>;
    };
    const T = `/tenants/${tenant}`;
    const clients = (await get(`${T}/clients`)).clients;
    const someClient = clients[3].clientId;
    const firstPage = await get(`${T}/audit?limit=50`);
    const jobs = (await get(`${T}/exports`)).jobs;
    const alerts = (await get(`${T}/alerts`)).alerts;
    const calls: [string, string, string][] = [
      ['sign-in', 'GET /session', '/session'],
      ['sign-in', 'GET /tenants', '/tenants'],
      ['overview', 'GET overview', `${T}/overview`],
      ['clients', 'GET clients', `${T}/clients`],
      ['clients', 'GET client', `${T}/clients/${someClient}`],
      ['clients', 'GET client keys', `${T}/clients/${someClient}/keys`],
      ['clients', 'GET client usage (7 days)', `${T}/clients/${someClient}/usage?days=7`],
      ['clients', 'GET scopes', `${T}/scopes`],
      ['reports', 'GET usage report (7 days, per day)', `${T}/reports/usage`],
      ['audit', 'GET audit (newest 50)', `${T}/audit?limit=50`],
      ['audit', 'GET audit next page', `${T}/audit?limit=50&before=${firstPage.next}`],
      ['audit', 'GET audit by client', `${T}/audit?limit=50&client=${someClient}`],
      ['audit', 'GET audit by member', `${T}/audit?limit=50&patient=pt-000123`],
      ['audit', 'GET audit failures', `${T}/audit?limit=50&outcome=client-error`],
      ['audit', 'GET audit by interaction (rare)', `${T}/audit?limit=50&interaction=export-kickoff`],
      ['audit', 'GET audit record', `${T}/audit/${firstPage.records[7].seq}`],
      ['exports', 'GET exports', `${T}/exports`],
      ['exports', 'GET export', `${T}/exports/${jobs[0].id}`],
      ['alerts', 'GET open alerts', `${T}/alerts?status=open`],
      ['alerts', 'GET alert', `${T}/alerts/${alerts[0].id}`],
    ];
    const rows = [['page', 'call', 'p50 ms', 'p95 ms', 'limit']];
    const figures: Figure[] = [];
    for (const [page, name, path] of calls) {
      for (let i = 0; i < 3; i++) await get(path);
      const ms: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const t0 = performance.now();
        await get(path);
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      const p95 = ms[Math.ceil(ms.length * 0.95) - 1];
      rows.push([page, name, ms[Math.floor(ms.length / 2)].toFixed(1), p95.toFixed(1), String(LIMIT_MS)]);
      figures.push(figure(`${page}: ${name} p95`, p95, 'ms', LIMIT_MS));
    }
    const { rows: size } = await db.pool.query(`SELECT count(*)::int AS n, min(recorded) AS first FROM audit_event WHERE tenant = $1`, [tenant]);
    process.stdout.write(`Admin API on ${tenant}: ${size[0].n} audit records since ${(size[0].first as Date).toISOString().slice(0, 10)}, ${clients.length} clients, ${SAMPLES} samples per call\n`);
    process.stdout.write(`${table(rows)}\n`);
    printFigures('admin', figures);
    if (figures.some((f) => f.ratio > 1)) process.exitCode = 1;
  } finally {
    await app.close();
    if (process.env.BENCH_ADMIN_DROP === '1') await dropTenant(db.pool, tenant);
    await db.close();
  }
}

await main();
