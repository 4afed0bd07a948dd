// Prometheus metrics: /metrics on the main port only with METRICS_TOKEN (401 without it, 404
// when none is configured); request counts and latency by interaction and status, token
// issuance, export jobs and the unit queue read from PostgreSQL, resources and bytes exported,
// and the pool. Two servers in this process keep separate registries. The servers here use a
// schema of their own, so the export figures are exact (no other test's jobs in them).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { requestToken, tokenUrlFor } from './helpers/auth.js';
import { KICKOFF_HEADERS, poll } from './helpers/bulk.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const TOKEN = 'metrics-token-for-tests';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample named `name` whose labels include `labels` (0 when absent). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

async function scrape(server: TestServer): Promise<Sample[]> {
  const r = await fetch(`${server.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return parse(await r.text());
}

/**
 * A schema of its own on the test database (search_path), so the export figures hold only this
 * file's jobs; dropped afterwards.
 */
async function isolatedSchema(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  const name = `metrics_${crypto.randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${name}`);
  const url = new URL(process.env.DATABASE_URL!);
  url.searchParams.set('options', `-c search_path=${name}`);
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      await admin.end();
    },
  };
}

describe('metrics', () => {
  let db: Awaited<ReturnType<typeof isolatedSchema>>;
  let api: TestServer;
  let base: string;
  let tenant: string;
  const metrics = { token: TOKEN, port: undefined, host: '127.0.0.1' };
  before(async () => {
    db = await isolatedSchema();
    // The API server runs no export workers: its jobs wait in the queue until a worker comes.
    api = await startServer({ databaseUrl: db.url, metrics }, { workers: 0 });
    ({ base, tenant } = await api.newTenant('metrics'));
  });
  after(async () => {
    await api?.close();
    await db?.drop();
  });

  it('/metrics on the main port needs the metrics token; without METRICS_TOKEN it does not exist', async () => {
    const none = await http(`${api.origin}/metrics`);
    assert.equal(none.status, 401);
    assert.ok(isOperationOutcome(none));
    assert.equal(none.json.issue[0].code, 'login');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="metrics"/);
    const wrong = await http(`${api.origin}/metrics`, { headers: { authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    const right = await fetch(`${api.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(right.status, 200);
    assert.match(right.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(right.headers.get('cache-control'), 'no-store');

    const plain = await startServer({ databaseUrl: db.url });
    try {
      const r = await http(`${plain.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 404);
      assert.ok(isOperationOutcome(r));
    } finally {
      await plain.close();
    }
  });

  it('requests are counted and timed by interaction and status; token issuance by status', async () => {
    const before = await scrape(api);
    const created = await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'female' } });
    for (let i = 0; i < 3; i++) assert.equal((await http(`${base}/Patient/${created.json.id}`)).status, 200);
    assert.equal((await http(`${base}/Patient/nobody`)).status, 404);
    assert.equal((await http(`${base}/Patient?gender=female`)).status, 200);
    await api.newTenant('metrics'); // one token issued (200)
    assert.equal((await requestToken(tokenUrlFor(api.origin, tenant), { grant_type: 'password' })).status, 400);
    const after = await scrape(api);

    const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
    assert.equal(delta('payer_fhir_http_requests_total', { interaction: 'read', status: '200' }), 3);
    assert.equal(delta('payer_fhir_http_requests_total', { interaction: 'read', status: '404' }), 1);
    assert.equal(delta('payer_fhir_http_requests_total', { interaction: 'create', status: '201' }), 1);
    assert.equal(delta('payer_fhir_http_requests_total', { interaction: 'search', status: '200' }), 1);
    assert.equal(delta('payer_fhir_http_requests_total', { interaction: 'token', status: '200' }), 1);
    assert.equal(delta('payer_fhir_http_requests_total', { interaction: 'token', status: '400' }), 1);
    assert.equal(delta('payer_fhir_http_request_duration_seconds_count', { interaction: 'read', status: '200' }), 3);
    assert.ok(delta('payer_fhir_http_request_duration_seconds_sum', { interaction: 'read', status: '200' }) > 0);
    assert.equal(delta('payer_fhir_http_request_duration_seconds_bucket', { interaction: 'read', status: '200', le: '+Inf' }), 3);
    assert.ok(value(after, 'payer_fhir_db_pool_connections') >= 1);
    assert.ok(value(after, 'payer_fhir_db_pool_idle_connections') <= value(after, 'payer_fhir_db_pool_connections'));
    assert.ok(after.some((s) => s.name === 'payer_fhir_db_pool_waiting_requests' && s.value >= 0));
    assert.equal(value(after, 'payer_fhir_database_up'), 1);
    assert.ok(after.some((s) => s.name === 'process_resident_memory_bytes'), 'process metrics');
  });

  it('export jobs and the unit queue come from PostgreSQL; the worker that ran a unit counts its resources and bytes', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await http(`${base}/Patient`, { body: { resourceType: 'Patient', gender: 'male' } })).status, 201);
    const patients = Number((await http(`${base}/Patient?_summary=count`)).json.total);
    const idle = await scrape(api);
    assert.equal(value(idle, 'payer_fhir_export_jobs', { state: 'active' }), 0);
    assert.equal(value(idle, 'payer_fhir_export_units', { state: 'pending' }), 0);

    const kick = await http(`${base}/$export?_type=Patient`, { headers: KICKOFF_HEADERS });
    assert.equal(kick.status, 202, kick.text);
    const queued = await scrape(api);
    assert.equal(value(queued, 'payer_fhir_export_jobs', { state: 'active' }), 1);
    assert.equal(value(queued, 'payer_fhir_export_units', { state: 'pending' }), 1, 'the planning unit waits for a worker');
    assert.equal(value(queued, 'payer_fhir_export_units', { state: 'running' }), 0);

    // A worker process of its own (same database and export storage) runs the job.
    const worker = await startServer({ databaseUrl: db.url, metrics, export: { ...api.config.export } }, { workers: 1 });
    try {
      const status = await poll(kick.headers.get('content-location')!);
      assert.equal(status.status, 200, status.text);
      const file = status.json.output.find((o: any) => o.type === 'Patient');
      const bytes = Buffer.byteLength((await http(file.url, { headers: { accept: 'application/fhir+ndjson' } })).text);

      const done = await scrape(api);
      assert.equal(value(done, 'payer_fhir_export_jobs', { state: 'active' }), 0);
      assert.equal(value(done, 'payer_fhir_export_jobs', { state: 'completed' }), 1);
      assert.equal(value(done, 'payer_fhir_export_units', { state: 'pending' }), 0);
      assert.equal(value(done, 'payer_fhir_export_resources_total', { type: 'Patient' }), 0, 'the API server exported nothing itself');

      const ran = await scrape(worker);
      assert.equal(value(ran, 'payer_fhir_export_resources_total', { type: 'Patient' }), patients);
      assert.equal(value(ran, 'payer_fhir_export_bytes_total', { type: 'Patient' }), bytes);
      // Registries are per server: the worker's never saw the API's reads.
      assert.equal(value(ran, 'payer_fhir_http_requests_total', { interaction: 'read', status: '200' }), 0);
      assert.equal(value(ran, 'payer_fhir_export_jobs', { state: 'completed' }), 1, 'job figures are the shared database truth');
    } finally {
      await worker.close();
    }
  });
});
