/**
 * Search benchmark on a database of at least a million resources (the synthetic plan of
 * 10,000 members; the export benchmark's tenant is reused when present): throughput and
 * p50/p99 latency at 1, 16 and 64 connections for a read and the issue's searches, next to a
 * bare Fastify route returning the same bytes from memory (the framework's limit), and the
 * EXPLAIN of every statement each search runs — no sequential scan of a resource or index
 * table is allowed.
 *
 *   npm run bench -- search     (BENCH_SEARCH_MEMBERS=10000, BENCH_SEARCH_SECONDS=5,
 *                                BENCH_SEARCH_ONLY=read to run only the read and the bare route)
 */
import autocannon, { type Result } from 'autocannon';
import Fastify from 'fastify';
import type pg from 'pg';
import { addClient } from '../src/auth/clients.js';
import { loadConfig } from '../src/config.js';
import { CursorCodec } from '../src/http/cursor.js';
import { fhirBase } from '../src/http/urls.js';
import { search } from '../src/interactions/search.js';
import { buildServer, loadCursorKey } from '../src/server.js';
import { seedTenant } from '../src/seed/load.js';
import { openDatabase } from '../src/store/database.js';
import { reindex } from '../src/store/search-index.js';
import { addTenant } from '../src/store/tenants.js';
import { figure, printFigures, table, type Figure } from './lib/report.js';

const MEMBERS = Number(process.env.BENCH_SEARCH_MEMBERS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SEARCH_SECONDS ?? 5);
const CONNECTIONS = [1, 16, 64];
const RATIO_ROUNDS = 3;

/** The run with the median throughput. */
function median(runs: Result[]): Result {
  return [...runs].sort((a, b) => a.requests.average - b.requests.average)[Math.floor(runs.length / 2)];
}

async function tenantWithData(pool: pg.Pool): Promise<string> {
  const tenant = `bench-export-${MEMBERS}`;
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant = $1', [tenant]);
  if (Number(rows[0].n) > 0) {
    // Indexes written before the CARIN parameters existed are rebuilt once (cheap to check).
    const { rows: carin } = await pool.query(`SELECT 1 FROM search_token WHERE tenant = $1 AND type = 'ExplanationOfBenefit' AND param = 'type' LIMIT 1`, [tenant]);
    if (!carin.length) {
      process.stderr.write('reindexing ExplanationOfBenefit for the CARIN parameters…\n');
      await reindex(pool, tenant, { type: 'ExplanationOfBenefit' });
    }
    return tenant;
  }
  await addTenant(pool, tenant).catch(() => undefined);
  process.stderr.write(`seeding ${MEMBERS} members into ${tenant} (kept for later runs)…\n`);
  await seedTenant(pool, tenant, { seed: 'bench-export', members: MEMBERS });
  await pool.query('ANALYZE');
  return tenant;
}

/** A member with a typical amount of data (the median by Observation count), and one of their identifiers. */
async function typicalMember(pool: pg.Pool, tenant: string): Promise<{ id: string; identifier: string }> {
  const { rows } = await pool.query<{ patient_id: string }>(
    `SELECT patient_id FROM resource_compartment WHERE tenant = $1 AND type = 'Observation'
      GROUP BY patient_id ORDER BY count(*), patient_id OFFSET (SELECT count(DISTINCT patient_id) / 2 FROM resource_compartment WHERE tenant = $1 AND type = 'Observation') LIMIT 1`,
    [tenant],
  );
  const id = rows[0].patient_id;
  const { rows: ident } = await pool.query<{ system: string; code: string }>(
    `SELECT system, code FROM search_token WHERE tenant = $1 AND type = 'Patient' AND id = $2 AND param = 'identifier' LIMIT 1`,
    [tenant, id],
  );
  return { id, identifier: `${ident[0].system}|${ident[0].code}` };
}

/** Statements a search runs, captured from the pool it is given. */
function capturingPool(pool: pg.Pool, into: { sql: string; values: unknown[] }[]): pg.Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (q: string | pg.QueryConfig, values?: unknown[]) => {
          into.push(typeof q === 'string' ? { sql: q, values: values ?? [] } : { sql: q.text, values: q.values ?? [] });
          return typeof q === 'string' ? target.query(q, values) : target.query(q);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

/** Sequential scans of resource or search-index tables in a plan (an empty list is the goal). */
function seqScans(plan: any, out: string[] = []): string[] {
  if (plan['Node Type'] === 'Seq Scan' && /^(resource|search_)/.test(plan['Relation Name'] ?? '')) out.push(plan['Relation Name']);
  for (const child of plan.Plans ?? []) seqScans(child, out);
  return out;
}

/** The generic plan of a statement (PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN)): prepared, then explained with planning forced generic. */
async function genericPlan(pool: pg.Pool, sql: string, values: unknown[]): Promise<any> {
  const client = await pool.connect();
  try {
    const lit = (v: unknown): string =>
      v === null || v === undefined
        ? 'NULL'
        : Array.isArray(v)
          ? client.escapeLiteral(`{${v.map((x) => `"${String(x).replace(/["\\]/g, '\\$&')}"`).join(',')}}`)
          : client.escapeLiteral(v instanceof Date ? v.toISOString() : String(v));
    await client.query(`PREPARE bench_generic AS ${sql}`);
    await client.query('SET plan_cache_mode = force_generic_plan');
    const { rows } = await client.query(`EXPLAIN (FORMAT JSON) EXECUTE bench_generic(${values.map(lit).join(', ')})`);
    return (rows[0] as { 'QUERY PLAN': any[] })['QUERY PLAN'][0].Plan;
  } finally {
    await client.query('DEALLOCATE bench_generic').catch(() => undefined);
    await client.query('RESET plan_cache_mode').catch(() => undefined);
    client.release();
  }
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const db = await openDatabase(config, (m) => process.stderr.write(`${m}\n`));
  const tenant = await tenantWithData(db.pool);
  const { rows: count } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant = $1', [tenant]);
  const member = await typicalMember(db.pool, tenant);

  const probe = Fastify();
  await probe.listen({ port: 0, host: '127.0.0.1' });
  const port = (probe.server.address() as { port: number }).port;
  await probe.close();
  const origin = `http://127.0.0.1:${port}`;
  // No per-client rate limit: the bench measures the server, not the limiter's refusals (the audit trail stays on).
  const serverConfig = { ...config, publicUrl: origin, port, limits: { ...config.limits, clientRate: 0 } };
  const app = await buildServer(serverConfig, db.pool, { logger: false, workers: 0 });
  await app.listen({ port, host: '127.0.0.1' });
  const base = fhirBase(origin, tenant);
  const { client_id, client_secret } = await addClient(db.pool, { tenant, name: 'bench search', secret: true, scope: 'system/*.rs', tokenTtl: 3600 });
  const tokenRes = await fetch(`${origin}/auth/${tenant}/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials&scope=system%2F*.rs',
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  const headers = { authorization: `Bearer ${token}` };

  const queries: [string, string, [string, string][] | undefined][] = [
    ['Patient/[id]', `Patient/${member.id}`, undefined],
    ['Patient?identifier=', `Patient?identifier=${encodeURIComponent(member.identifier)}`, [['identifier', member.identifier]]],
    ['Observation?patient&category=laboratory&date=ge', `Observation?patient=${member.id}&category=laboratory&date=ge2020-01-01`, [['patient', member.id], ['category', 'laboratory'], ['date', 'ge2020-01-01']]],
    ['Condition?patient&clinical-status=active', `Condition?patient=${member.id}&clinical-status=active`, [['patient', member.id], ['clinical-status', 'active']]],
    ['EOB?patient&_include=coverage', `ExplanationOfBenefit?patient=${member.id}&_include=ExplanationOfBenefit:coverage`, [['patient', member.id], ['_include', 'ExplanationOfBenefit:coverage']]],
    ['Coverage?patient', `Coverage?patient=${member.id}`, [['patient', member.id]]],
  ];
  const rows: string[][] = [['request', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors']];
  const figures: Figure[] = [];
  let failures = 0;
  try {
    // The framework's limit: the same request (with its bearer token, which costs the network
    // and the parser alike) answered with the read's bytes from memory on a bare route.
    const bytes = await (await fetch(`${base}/Patient/${member.id}`, { headers })).text();
    const side = Fastify({ logger: false });
    side.get('/bare', async (_req, reply) => reply.type('application/fhir+json; charset=utf-8').send(bytes));
    await side.listen({ port: 0, host: '127.0.0.1' });
    const bareUrl = `http://127.0.0.1:${(side.server.address() as { port: number }).port}/bare`;
    // The machine's speed drifts over a run (a shared host), so the read-vs-bare ratio comes
    // from rounds that alternate the two, each figure the median of its rounds.
    const bareRuns: Result[] = [];
    const readRuns: Result[] = [];
    // Warm-up, not counted: compiled code paths, statements prepared on every pooled connection.
    await autocannon({ url: bareUrl, connections: 16, duration: 2, headers });
    await autocannon({ url: `${base}/${queries[0][1]}`, connections: 16, duration: 2, headers });
    for (let round = 0; round < RATIO_ROUNDS; round++) {
      bareRuns.push(await autocannon({ url: bareUrl, connections: 16, duration: SECONDS, headers }));
      readRuns.push(await autocannon({ url: `${base}/${queries[0][1]}`, connections: 16, duration: SECONDS, headers }));
    }
    const bare = median(bareRuns);
    const read = median(readRuns);
    failures += readRuns.reduce((n, r) => n + r.errors + r.non2xx, 0);
    rows.push(['bare route (same bytes), median', '16', bare.requests.average.toFixed(0), String(bare.latency.p50), String(bare.latency.p99), String(bare.errors + bare.non2xx)]);
    rows.push(['Patient/[id] alternating with it, median', '16', read.requests.average.toFixed(0), String(read.latency.p50), String(read.latency.p99), String(read.errors + read.non2xx)]);
    figures.push(figure(`read req/s at 16 conns vs bare route, medians of ${RATIO_ROUNDS} alternating rounds (goal ≥ 0.4)`, read.requests.average, 'req/s', bare.requests.average));
    await side.close();

    const explained: string[][] = [['search', 'statements', 'seq scans of resource/index tables (custom and generic plans)']];
    const only = process.env.BENCH_SEARCH_ONLY === 'read' ? queries.slice(0, 1) : queries;
    for (const [name, path, pairs] of only) {
      for (const connections of CONNECTIONS) {
        const r = await autocannon({ url: `${base}/${path}`, connections, duration: SECONDS, headers });
        failures += r.errors + r.non2xx;
        rows.push([name, String(connections), r.requests.average.toFixed(0), String(r.latency.p50), String(r.latency.p99), String(r.errors + r.non2xx)]);
        if (name !== 'Patient/[id]' && connections === 16) figures.push(figure(`${name} p99 at 16 conns (goal < 50 ms)`, r.latency.p99, 'ms', 50));
      }
      if (pairs) {
        const captured: { sql: string; values: unknown[] }[] = [];
        const ctx = { config: serverConfig, pool: capturingPool(db.pool, captured), cursors: new CursorCodec(await loadCursorKey(db.pool)), tenant, base };
        const type = path.split('?')[0];
        await search(ctx, { type, pairs, strict: false });
        const scans: string[] = [];
        for (const st of captured) {
          // The plan for these values, and the generic plan PostgreSQL may keep for the named
          // statement after five runs (see store/statement-names.ts): neither may scan a table.
          const { rows: plan } = await db.pool.query(`EXPLAIN (FORMAT JSON) ${st.sql}`, st.values);
          scans.push(...seqScans((plan[0] as { 'QUERY PLAN': any[] })['QUERY PLAN'][0].Plan));
          scans.push(...seqScans(await genericPlan(db.pool, st.sql, st.values)).map((t) => `${t} (generic plan)`));
        }
        explained.push([name, String(captured.length), scans.length ? scans.join(', ') : 'none']);
        if (scans.length) failures++;
      }
    }
    process.stdout.write(`tenant ${tenant}: ${count[0].n} resources; member ${member.id}\n\n${table(rows)}\n\n${table(explained)}\n\n`);
    process.stdout.write(`${table([['figure', 'value', 'unit', 'limit', 'ratio'], ...figures.map((f) => [f.name, String(f.value), f.unit, String(f.limit), String(f.ratio)])])}\n`);
    printFigures('search', figures);
  } finally {
    await app.close();
    await db.close();
  }
  if (failures) {
    process.stderr.write(`${failures} failed requests or sequential scans\n`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
