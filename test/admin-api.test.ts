/**
 * The admin API's features over HTTP (issue 14 §2–7): partner applications registered here work
 * at the token endpoint and over FHIR; the overview, per-client usage, the usage report (the same
 * figures as `payer-fhir audit report`), the audit trail with filters, paging, detail, CSV and
 * chain verification, export jobs and their cancellation, alerts acknowledged and resolved.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { api, isProblem, makeAccount, signIn, type AdminSession } from './helpers/admin.js';
import { makeKeyPair, requestToken, signAssertion, tokenUrlFor } from './helpers/auth.js';
import { KICKOFF_HEADERS } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

describe('admin API: partner applications, usage, audit, exports, alerts', () => {
  let server: TestServer;
  let origin: string;
  let tenant: string;
  let base: string;
  let admin: AdminSession;
  let operator: AdminSession;
  let auditor: AdminSession;
  let keyClient: string;
  const key = makeKeyPair('ES384');

  const tokenWith = async (clientId: string, form: Record<string, string>) =>
    requestToken(tokenUrlFor(origin, tenant), { grant_type: 'client_credentials', scope: 'system/Patient.rs', ...form, ...(form.client_secret ? { client_id: clientId } : {}) });
  const assertionToken = async (clientId: string) =>
    tokenWith(clientId, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await signAssertion(await key, clientId, tokenUrlFor(origin, tenant)) });

  before(async () => {
    server = await startServer();
    origin = server.origin;
    ({ tenant, base } = await server.newTenant('adm-api'));
    admin = await signIn(origin, await makeAccount(server.db.pool, 'admin', null));
    operator = await signIn(origin, await makeAccount(server.db.pool, 'operator', tenant));
    auditor = await signIn(origin, await makeAccount(server.db.pool, 'auditor', tenant));
    await http(`${base}/Patient/m1`, { method: 'PUT', body: { resourceType: 'Patient', id: 'm1' } });
  });
  after(async () => server.close());

  it('registers a client with an uploaded JWKS; it gets a token and reads over FHIR; it is listed with its last use', async () => {
    const k = await key;
    const bad = await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'x', scope: 'system/Patient.rs' } });
    assert.ok(isProblem(bad, 400), 'one authentication method is required');
    const priv = await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'x', scope: 'system/Patient.rs', jwks: { keys: [{ ...k.publicJwk, d: 'secret' }] } } });
    assert.ok(isProblem(priv, 400));
    assert.match(priv.json.detail, /private key/);
    const badScope = await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'x', scope: 'patient/*.read', secret: true } });
    assert.ok(isProblem(badScope, 400));
    const badLimit = await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'x', scope: 'system/Patient.rs', secret: true, tokenTtl: 5 } });
    assert.ok(isProblem(badLimit, 400));
    const r = await api(origin, `/tenants/${tenant}/clients`, {
      method: 'POST', session: operator,
      body: { name: 'Analytics <b>Inc</b>', scope: 'system/Patient.rs system/Observation.rs', jwks: { keys: [k.publicJwk] }, ratePerSecond: 20, rateBurst: 40, maxExports: 2, allowedIps: '127.0.0.1, ::1', tokenTtl: 600 },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.clientSecret, undefined);
    keyClient = r.json.clientId;
    const tok = await assertionToken(keyClient);
    assert.equal(tok.status, 200, JSON.stringify(tok.json));
    assert.equal(tok.json.expires_in, 600);
    const read = await http(`${base}/Patient/m1`, { headers: { authorization: `Bearer ${tok.json.access_token}` } });
    assert.equal(read.status, 200);
    await server.app.auditLog!.flush();
    const list = await api(origin, `/tenants/${tenant}/clients`, { session: auditor });
    const c = list.json.clients.find((x: any) => x.clientId === keyClient);
    assert.equal(c.name, 'Analytics <b>Inc</b>');
    assert.equal(c.status, 'active');
    assert.equal(c.auth, 'jwks');
    assert.equal(c.ratePerSecond, 20);
    assert.equal(c.allowedIps, '127.0.0.1, ::1');
    assert.ok(c.lastUsed && Date.parse(c.lastUsed) > Date.now() - 120_000, JSON.stringify(c));
    assert.equal(c.dailyRequests.length, 14);
    assert.ok(c.dailyRequests[13].requests >= 2, 'token + read today');
    assert.ok(!('secretHash' in c) && !list.text.includes('scrypt$'));
    const keys = await api(origin, `/tenants/${tenant}/clients/${keyClient}/keys`, { session: auditor });
    assert.deepEqual(keys.json.keys.map((x: any) => [x.kid, x.alg]), [[k.kid, 'ES384']]);
    const one = await api(origin, `/tenants/${tenant}/clients/${keyClient}`, { session: auditor });
    assert.equal(one.json.clientId, keyClient);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/00000000-0000-0000-0000-000000000000`, { session: auditor }), 404));
  });

  it('a secret is shown once; rotation replaces it; disable stops tokens, enable restores them; limits change', async () => {
    const r = await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'secret client', scope: 'system/Patient.rs', secret: true } });
    assert.equal(r.status, 201);
    const id = r.json.clientId;
    const first = r.json.clientSecret;
    assert.match(first, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await tokenWith(id, { client_secret: first })).status, 200);
    const list = await api(origin, `/tenants/${tenant}/clients`, { session: operator });
    assert.ok(!list.text.includes(first), 'never shown again');
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/${id}/rotate-secret`, { method: 'POST', session: auditor }), 403));
    const rot = await api(origin, `/tenants/${tenant}/clients/${id}/rotate-secret`, { method: 'POST', session: operator });
    assert.equal(rot.status, 200);
    assert.notEqual(rot.json.clientSecret, first);
    assert.notEqual((await tokenWith(id, { client_secret: first })).status, 200, 'the old secret no longer works');
    assert.equal((await tokenWith(id, { client_secret: rot.json.clientSecret })).status, 200);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/${keyClient}/rotate-secret`, { method: 'POST', session: operator }), 400), 'a key client has no secret');
    const dis = await api(origin, `/tenants/${tenant}/clients/${id}/disable`, { method: 'POST', session: operator });
    assert.equal(dis.json.status, 'disabled');
    assert.notEqual((await tokenWith(id, { client_secret: rot.json.clientSecret })).status, 200);
    const en = await api(origin, `/tenants/${tenant}/clients/${id}/enable`, { method: 'POST', session: operator });
    assert.equal(en.json.status, 'active');
    assert.equal((await tokenWith(id, { client_secret: rot.json.clientSecret })).status, 200);
    const lim = await api(origin, `/tenants/${tenant}/clients/${id}/limits`, { method: 'PUT', session: operator, body: { ratePerSecond: 5, allowedIps: '10.0.0.0/8' } });
    assert.equal(lim.status, 200, lim.text);
    assert.equal(lim.json.ratePerSecond, 5);
    assert.equal(lim.json.allowedIps, '10.0.0.0/8');
    const reset = await api(origin, `/tenants/${tenant}/clients/${id}/limits`, { method: 'PUT', session: operator, body: { ratePerSecond: null, allowedIps: null } });
    assert.equal(reset.json.ratePerSecond, null);
    assert.equal(reset.json.allowedIps, null);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/${id}/limits`, { method: 'PUT', session: operator, body: { allowedIps: 'not an ip' } }), 400));
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/${id}/limits`, { method: 'PUT', session: operator, body: {} }), 400));
    const scopes = await api(origin, `/tenants/${tenant}/scopes`, { session: operator });
    assert.deepEqual(scopes.json.storedTypes, ['Patient']);
    assert.ok(scopes.json.resourceTypes.includes('ExplanationOfBenefit'));
  });

  it('partner policy and token rate: set at registration and changed later; bad values are 400 problems with nothing written', async () => {
    const npi = 'http://hl7.org/fhir/sid/us-npi|1234567893';
    const r = await api(origin, `/tenants/${tenant}/clients`, {
      method: 'POST', session: operator, body: { name: 'valley clinic', scope: 'system/*.rs', secret: true, policy: 'provider-access', organization: npi, tokenPerMinute: 300 },
    });
    assert.equal(r.status, 201, r.text);
    const one = await api(origin, `/tenants/${tenant}/clients/${r.json.clientId}`, { session: auditor });
    assert.equal(one.json.policy, 'provider-access');
    assert.equal(one.json.organization, npi);
    assert.equal(one.json.tokenPerMinute, 300);
    const { rows } = await server.db.pool.query('SELECT policy, organization_value FROM client WHERE tenant = $1 AND client_id = $2', [tenant, r.json.clientId]);
    assert.deepEqual(rows[0], { policy: 'provider-access', organization_value: '1234567893' });
    const changed = await api(origin, `/tenants/${tenant}/clients/${r.json.clientId}/policy`, { method: 'PUT', session: operator, body: { policy: 'internal' } });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json.policy, 'internal');
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/${r.json.clientId}/policy`, { method: 'PUT', session: auditor, body: { policy: 'internal' } }), 403));
    const before = (await server.db.pool.query('SELECT count(*)::int AS n FROM client WHERE tenant = $1', [tenant])).rows[0].n;
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'x', scope: 'system/*.rs', secret: true, policy: 'everything' } }), 400));
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients`, { method: 'POST', session: operator, body: { name: 'x', scope: 'system/*.rs', secret: true, policy: 'payer-to-payer' } }), 400), 'a partner policy needs its organisation');
    assert.equal((await server.db.pool.query('SELECT count(*)::int AS n FROM client WHERE tenant = $1', [tenant])).rows[0].n, before);
  });

  it('overview and per-client usage come from the rollups: requests, failures, p95', async () => {
    const tok = (await assertionToken(keyClient)).json.access_token;
    for (let i = 0; i < 5; i++) await http(`${base}/Patient/m1`, { headers: { authorization: `Bearer ${tok}` } });
    await http(`${base}/Patient/nope`, { headers: { authorization: `Bearer ${tok}` } });
    await server.app.auditLog!.flush();
    const o = await api(origin, `/tenants/${tenant}/overview`, { session: auditor });
    assert.equal(o.status, 200);
    const { rows } = await server.db.pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE status >= 400)::int AS failed FROM audit_event WHERE tenant = $1 AND client_id IS NOT NULL AND recorded > now() - interval '1 hour'`, [tenant]);
    assert.equal(o.json.lastHour.total.requests, rows[0].n);
    assert.equal(o.json.lastHour.total.failed, rows[0].failed);
    assert.equal(o.json.lastDay.total.requests, rows[0].n);
    assert.ok(o.json.lastHour.total.p95Ms > 0);
    assert.ok(o.json.lastHour.points.length >= 1);
    assert.equal(o.json.runningExports, 0);
    const u = await api(origin, `/tenants/${tenant}/clients/${keyClient}/usage?days=1`, { session: auditor });
    assert.ok(u.json.total.requests >= 8);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/clients/${keyClient}/usage?days=1000`, { session: auditor }), 400));
  });

  it('the usage report gives the figures of `payer-fhir audit report` (JSON and CSV)', async () => {
    await server.app.auditLog!.flush();
    const day = new Date().toISOString().slice(0, 10);
    const r = await api(origin, `/tenants/${tenant}/reports/usage?from=${day}&to=${day}`, { session: auditor });
    assert.equal(r.status, 200, r.text);
    const mine = r.json.rows.find((x: any) => x.clientId === keyClient);
    assert.equal(mine.day, day);
    assert.equal(mine.clientErrors, 1);
    const cli = await run(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), 'audit', 'report', '--tenant', tenant, '--since', r.json.from, '--until', r.json.to, '--by-day', '--json'], { env: process.env });
    const fromCli = cli.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(r.json.rows, fromCli);
    const csv = await fetch(`${origin}/admin/api/tenants/${tenant}/reports/usage?from=${day}&to=${day}&format=csv`, { headers: { cookie: auditor.cookie } });
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(csv.headers.get('content-disposition') ?? '', /attachment; filename="usage-/);
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines[0], 'client,day,requests,resources,exports,bytes,denials,auth failures,4xx,5xx,p95 ms');
    assert.equal(lines.length, r.json.rows.length + 1);
    assert.ok(lines.some((l) => l.startsWith(`${keyClient},${day},${mine.requests},`)));
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/reports/usage?from=yesterday`, { session: auditor }), 400));
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/reports/usage?from=${day}&to=2000-01-01`, { session: auditor }), 400));
  });

  it('the audit trail: filters, keyset paging without overlap, detail, CSV, and chain verification', async () => {
    await server.app.auditLog!.flush();
    const byClient = await api(origin, `/tenants/${tenant}/audit?client=${keyClient}&limit=3`, { session: auditor });
    assert.equal(byClient.json.records.length, 3);
    assert.ok(byClient.json.records.every((x: any) => x.clientId === keyClient));
    const seen = new Set<number>();
    let before = byClient.json.next;
    for (const x of byClient.json.records) seen.add(x.seq);
    while (before) {
      const page = await api(origin, `/tenants/${tenant}/audit?client=${keyClient}&limit=3&before=${before}`, { session: auditor });
      for (const x of page.json.records) {
        assert.ok(!seen.has(x.seq), 'no overlap');
        assert.ok(x.seq < before);
        seen.add(x.seq);
      }
      before = page.json.next;
    }
    const { rows } = await server.db.pool.query('SELECT count(*)::int AS n FROM audit_event WHERE tenant = $1 AND client_id = $2', [tenant, keyClient]);
    assert.equal(seen.size, rows[0].n);
    const member = await api(origin, `/tenants/${tenant}/audit?patient=m1&interaction=read&outcome=success`, { session: auditor });
    assert.ok(member.json.records.length >= 6);
    assert.ok(member.json.records.every((x: any) => x.resourceType === 'Patient' && x.resourceId === 'm1' && x.interaction === 'read' && x.status < 400));
    const failed = await api(origin, `/tenants/${tenant}/audit?outcome=client-error&client=${keyClient}`, { session: auditor });
    assert.ok(failed.json.records.some((x: any) => x.resourceId === 'nope' && x.status === 404));
    const future = await api(origin, `/tenants/${tenant}/audit?from=2999-01-01`, { session: auditor });
    assert.equal(future.json.records.length, 0);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/audit?outcome=maybe`, { session: auditor }), 400));
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/audit?patient=${encodeURIComponent('a b')}`, { session: auditor }), 400));
    const detail = await api(origin, `/tenants/${tenant}/audit/${member.json.records[0].seq}`, { session: auditor });
    assert.match(detail.json.hash, /^[0-9a-f]{64}$/);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/audit/999999999`, { session: auditor }), 404));
    const csv = await fetch(`${origin}/admin/api/tenants/${tenant}/audit.csv?client=${keyClient}`, { headers: { cookie: auditor.cookie } });
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines[0].split(',')[0], 'seq');
    assert.equal(lines.length, rows[0].n + 1);
    const v = await api(origin, `/tenants/${tenant}/audit/verify`, { method: 'POST', session: auditor });
    assert.equal(v.status, 200);
    assert.equal(v.json.ok, true);
    assert.ok(v.json.records > 10);
    // Tampering is reported (the trigger refuses updates; a superuser may disable it).
    await server.db.pool.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    try {
      await server.db.pool.query('UPDATE audit_event SET status = 299 WHERE tenant = $1 AND seq = $2', [tenant, member.json.records[0].seq]);
    } finally {
      await server.db.pool.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    }
    const broken = await api(origin, `/tenants/${tenant}/audit/verify`, { method: 'POST', session: auditor });
    assert.equal(broken.json.ok, false);
    assert.equal(broken.json.broken.seq, member.json.records[0].seq);
  });

  it('export jobs with progress and client; an operator cancels, an auditor may not', async () => {
    const tok = (await assertionToken(keyClient)).json.access_token;
    const k = await http(`${base}/Patient/$export`, { headers: { ...KICKOFF_HEADERS, authorization: `Bearer ${tok}` } });
    assert.equal(k.status, 202, k.text);
    const jobId = k.headers.get('content-location')!.split('/').pop()!;
    const list = await api(origin, `/tenants/${tenant}/exports`, { session: auditor });
    const job = list.json.jobs.find((j: any) => j.id === jobId);
    assert.equal(job.clientId, keyClient);
    assert.equal(job.state, 'active');
    assert.equal(job.unitsDone, 0);
    const detail = await api(origin, `/tenants/${tenant}/exports/${jobId}`, { session: auditor });
    assert.deepEqual(detail.json.files, []);
    assert.equal((await api(origin, `/tenants/${tenant}/overview`, { session: auditor })).json.runningExports, 1);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/exports/${jobId}`, { method: 'DELETE', session: auditor }), 403));
    const c = await api(origin, `/tenants/${tenant}/exports/${jobId}`, { method: 'DELETE', session: operator });
    assert.equal(c.status, 200);
    assert.equal(c.json.state, 'cancelled');
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/exports/${jobId}`, { method: 'DELETE', session: operator }), 404));
    // The client sees its job gone, as after its own DELETE.
    assert.equal((await http(k.headers.get('content-location')!, { headers: { authorization: `Bearer ${tok}` } })).status, 404);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/exports/not-a-uuid`, { session: auditor }), 404));
  });

  it('security alerts: list, detail, acknowledge and resolve, stored with who did it and audited', async () => {
    const { rows } = await server.db.pool.query(
      `INSERT INTO security_alert (tenant, rule, client_id, source_ip, summary, details) VALUES ($1, 'auth-failures', $2, NULL, '25 failed authentications', '{"failures":25}') RETURNING id`,
      [tenant, keyClient],
    );
    const id = rows[0].id;
    const list = await api(origin, `/tenants/${tenant}/alerts?status=open`, { session: auditor });
    assert.ok(list.json.alerts.some((a: any) => String(a.id) === String(id)));
    assert.equal((await api(origin, `/tenants/${tenant}/overview`, { session: auditor })).json.openAlerts, 1);
    const one = await api(origin, `/tenants/${tenant}/alerts/${id}`, { session: auditor });
    assert.equal(one.json.details.failures, 25);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/alerts/${id}/acknowledge`, { method: 'POST', session: auditor, body: {} }), 403));
    const ack = await api(origin, `/tenants/${tenant}/alerts/${id}/acknowledge`, { method: 'POST', session: operator, body: { note: 'looking into it' } });
    assert.equal(ack.json.status, 'acknowledged');
    assert.equal(ack.json.acknowledgedBy, operator.body.email);
    const res = await api(origin, `/tenants/${tenant}/alerts/${id}/resolve`, { method: 'POST', session: admin, body: { note: 'partner rotated keys' } });
    assert.equal(res.json.status, 'resolved');
    assert.equal(res.json.acknowledgedBy, operator.body.email);
    assert.equal(res.json.resolvedBy, admin.body.email);
    assert.equal(res.json.note, 'partner rotated keys');
    assert.equal((await api(origin, `/tenants/${tenant}/overview`, { session: auditor })).json.openAlerts, 0);
    assert.ok(isProblem(await api(origin, `/tenants/${tenant}/alerts/424242424/resolve`, { method: 'POST', session: operator, body: {} }), 404));
    await server.app.auditLog!.flush();
    const recs = await server.db.pool.query(`SELECT detail FROM audit_event WHERE tenant = $1 AND interaction = 'admin' AND detail LIKE $2`, [tenant, `%alert ${id}%`]);
    assert.equal(recs.rows.length, 2);
  });
});
