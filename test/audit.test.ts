/**
 * Audit trail (issue 7 §1): one record per request with who, what, outcome and volume; a hash
 * chain per tenant that `audit verify` checks (and that detects an edited or removed row);
 * append-only storage; the trail read as FHIR AuditEvent under an explicit scope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { verifyChain } from '../src/audit/verify.js';
import { removeExpiredFor } from '../src/audit/log.js';
import { addClient } from '../src/auth/clients.js';
import { KICKOFF_HEADERS, poll, repoRoot } from './helpers/bulk.js';
import { requestToken, tokenFor, tokenUrlFor } from './helpers/auth.js';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'bin', 'payer-fhir.js');

describe('audit trail', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let clientId: string;

  const rows = async (where = 'true', values: unknown[] = []) => {
    await server.app.auditLog!.flush();
    return (await server.db.pool.query(`SELECT * FROM audit_event WHERE tenant = $1 AND ${where} ORDER BY seq`, [tenant, ...values])).rows;
  };

  before(async () => {
    server = await startServer({}, { workers: 1 });
    ({ tenant, base } = await server.newTenant('audit'));
    const t = await server.db.pool.query('SELECT client_id FROM client WHERE tenant = $1', [tenant]);
    clientId = t.rows[0].client_id;
  });
  after(() => server.close());

  it('records each interaction kind with tenant, client, address, target, status, resources and bytes', async () => {
    assert.equal((await http(`${base}/Patient/p1`, { method: 'PUT', body: { resourceType: 'Patient', id: 'p1', gender: 'female' } })).status, 201);
    assert.equal((await http(`${base}/Patient/p2`, { method: 'PUT', body: { resourceType: 'Patient', id: 'p2' } })).status, 201);
    assert.equal((await http(`${base}/Patient/p1`)).status, 200);
    assert.equal((await http(`${base}/Patient/p1/_history/1`)).status, 200);
    assert.equal((await http(`${base}/Patient?gender=female`)).status, 200);
    assert.equal((await http(`${base}/Patient/p2`, { method: 'DELETE' })).status, 204);
    assert.equal((await http(`${base}/Patient/nope`)).status, 404);
    const k = await http(`${base}/Patient/$export?_type=Patient`, { headers: KICKOFF_HEADERS });
    assert.equal(k.status, 202);
    const statusUrl = k.headers.get('content-location')!;
    const jobId = statusUrl.split('/').pop()!;
    const done = await poll(statusUrl);
    assert.equal(done.status, 200);
    const file = await http(done.json.output[0].url, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(file.status, 200);

    // A streamed download is recorded when the server finishes sending, which can be just
    // after the client has read the last byte: wait for that record.
    let all = await rows();
    for (let i = 0; i < 100 && !all.some((r) => r.interaction === 'export-download'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      all = await rows();
    }
    const by = (interaction: string) => all.filter((r) => r.interaction === interaction);
    for (const r of all) {
      assert.equal(r.client_id, clientId, `${r.interaction} carries the client`);
      assert.equal(r.source_ip, '127.0.0.1');
      assert.ok(r.request_id);
      assert.ok(Number(r.duration_us) >= 0);
    }
    const updates = by('update');
    assert.deepEqual(updates.map((r) => [r.resource_type, r.resource_id, r.status, Number(r.resources)]), [['Patient', 'p1', 201, 1], ['Patient', 'p2', 201, 1]]);
    const reads = by('read');
    assert.deepEqual(reads.map((r) => [r.resource_id, r.status]), [['p1', 200], ['nope', 404]]);
    assert.ok(Number(reads[0].bytes) > 20, 'bytes of the body sent');
    assert.match(reads[1].detail, /nope/, 'why it failed');
    assert.equal(by('vread')[0].resource_id, 'p1');
    const search = by('search')[0];
    assert.equal(search.resource_type, 'Patient');
    assert.equal(search.query, 'gender=female');
    assert.equal(Number(search.resources), 1);
    assert.deepEqual(by('delete').map((r) => [r.resource_id, r.status]), [['p2', 204]]);
    const kick = by('export-kickoff')[0];
    assert.equal(kick.job_id, jobId);
    assert.equal(kick.status, 202);
    assert.ok(by('export-status').length >= 1);
    assert.ok(by('export-status').every((r) => r.job_id === jobId));
    const dl = by('export-download')[0];
    assert.equal(dl.job_id, jobId);
    assert.equal(Number(dl.resources), 1, 'p1 only: p2 was deleted');
    assert.equal(Number(dl.bytes), Buffer.byteLength(file.text), 'bytes sent (uncompressed here)');
  });

  it('bulk export with _type=AuditEvent writes the trail up to transactionTime as AuditEvent NDJSON — only under an explicit scope', async () => {
    const wildcard = await http(`${base}/$export?_type=AuditEvent`, { headers: KICKOFF_HEADERS });
    assert.equal(wildcard.status, 403, 'system/*.cruds does not open the audit trail');
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/AuditEvent.rs');
    const h = { authorization: `Bearer ${token}` };
    await server.app.auditLog!.flush();
    const before = (await server.db.pool.query('SELECT seq FROM audit_event WHERE tenant = $1 ORDER BY seq', [tenant])).rows.map((r) => String(r.seq));
    const k = await http(`${base}/$export?_type=AuditEvent`, { headers: { ...KICKOFF_HEADERS, ...h }, auth: false });
    assert.equal(k.status, 202);
    const done = await poll(k.headers.get('content-location')!, h);
    assert.equal(done.status, 200, done.text);
    const tt = new Date(done.json.transactionTime);
    assert.deepEqual(done.json.output.map((o: any) => o.type), ['AuditEvent']);
    const file = await http(done.json.output[0].url, { headers: h, auth: false });
    const events = file.text.trim().split('\n').map((l) => JSON.parse(l));
    for (const e of events) assertValidR4(e);
    // Everything recorded before the kick-off is there; records of requests still in flight at
    // kick-off (the kick-off's own) are there only if already written when the unit ran.
    const ids = events.map((e) => e.id);
    assert.deepEqual(ids.slice(0, before.length), before);
    assert.ok(ids.length <= before.length + 1);
    assert.ok(events.every((e) => new Date(e.recorded) <= tt));
    assert.equal(done.json.output[0].count, ids.length);
  });

  it('records token grants and failed authentications with the reason, never the credential', async () => {
    const { client_id, client_secret } = await addClient(server.db.pool, { tenant, name: 'secret client', secret: true, scope: 'system/Patient.rs' });
    const url = tokenUrlFor(server.origin, tenant);
    const ok = await requestToken(url, { grant_type: 'client_credentials', scope: 'system/Patient.rs', client_id, client_secret: client_secret! });
    assert.equal(ok.status, 200);
    const wrongSecret = `${client_secret}x`;
    const bad = await requestToken(url, { grant_type: 'client_credentials', scope: 'system/Patient.rs', client_id, client_secret: wrongSecret });
    assert.equal(bad.status, 400);
    const badBearer = await http(`${base}/Patient`, { headers: { authorization: 'Bearer not-a-token' }, auth: false });
    assert.equal(badBearer.status, 401);

    const tokens = await rows("interaction = 'token' AND client_id = $2", [client_id]);
    assert.deepEqual(tokens.map((r) => r.status), [200, 400]);
    assert.match(tokens[1].detail, /invalid_client/);
    const failed = (await rows("status = 401 AND interaction = 'search'"))[0];
    assert.ok(failed, 'the refused bearer token is recorded');
    assert.match(failed.detail, /access token/i);
    assert.equal(failed.client_id, null);
    const everything = JSON.stringify(await rows());
    assert.ok(!everything.includes(client_secret!), 'no secret in any record');
    assert.ok(!everything.includes(wrongSecret), 'no attempted secret either');
  });

  it('requests to an unknown tenant are chained under the system tenant, not under any tenant', async () => {
    const unknown = `no-such-tenant-${Date.now()}`;
    const r = await requestToken(tokenUrlFor(server.origin, unknown), { grant_type: 'client_credentials' });
    assert.equal(r.status, 404);
    await server.app.auditLog!.flush();
    const { rows: sys } = await server.db.pool.query("SELECT * FROM audit_event WHERE tenant = '' AND path LIKE $1", [`%${unknown}%`]);
    assert.equal(sys.length, 1);
    assert.equal(sys[0].status, 404);
  });

  it('the chain verifies; editing, removing or inserting a record is detected at its sequence number', async () => {
    await http(`${base}/Patient/p1`);
    await server.app.auditLog!.flush();
    const okRes = await verifyChain(server.db.pool, tenant);
    assert.equal(okRes.ok, true, JSON.stringify(okRes));
    const count = (await rows()).length;
    assert.equal(okRes.records, count);

    const { stdout } = await run(process.execPath, [cli, 'audit', 'verify', '--tenant', tenant], { env: { ...process.env } });
    assert.match(stdout, new RegExp(`${count} records`));

    const c = await server.db.pool.connect();
    try {
      // The trigger refuses changes…
      await assert.rejects(c.query('UPDATE audit_event SET status = 200 WHERE tenant = $1 AND seq = 3', [tenant]), /append-only/);
      await assert.rejects(c.query('DELETE FROM audit_event WHERE tenant = $1 AND seq = 3', [tenant]), /append-only/);
      // …and a superuser who bypasses it is still caught by the hashes.
      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query("UPDATE audit_event SET status = 200, detail = NULL WHERE tenant = $1 AND seq = 3", [tenant]);
      await c.query('COMMIT');
      const edited = await verifyChain(server.db.pool, tenant);
      assert.equal(edited.ok, false);
      assert.equal(edited.broken!.seq, 3);
      assert.match(edited.broken!.reason, /changed/);
      const cliRun = await run(process.execPath, [cli, 'audit', 'verify', '--tenant', tenant]).then(() => 0, (e) => e.code);
      assert.equal(cliRun, 1, 'audit verify exits 1 on a broken chain');

      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query('DELETE FROM audit_event WHERE tenant = $1 AND seq = 3', [tenant]);
      await c.query('COMMIT');
      const removed = await verifyChain(server.db.pool, tenant);
      assert.equal(removed.broken!.seq, 3);
      assert.match(removed.broken!.reason, /missing/);
    } finally {
      c.release();
    }
  });

  it('retention removes old records and moves the anchor, so the rest still verifies', async () => {
    const t2 = await server.newTenant('audit-ret');
    for (let i = 0; i < 4; i++) await http(`${t2.base}/Patient?_id=x${i}`);
    await server.app.auditLog!.flush();
    const before = (await server.db.pool.query('SELECT seq FROM audit_event WHERE tenant = $1 ORDER BY seq', [t2.tenant])).rows.map((r) => Number(r.seq));
    assert.ok(before.length >= 5, 'the token request and four searches');
    // Retention with its horizon at this moment removes everything recorded so far.
    assert.equal(await removeExpiredFor(server.db.pool, t2.tenant, new Date()), before.length);
    await http(`${t2.base}/Patient?_id=after`);
    await server.app.auditLog!.flush();
    const res = await verifyChain(server.db.pool, t2.tenant);
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.equal(res.records, 1);
    assert.equal(res.firstSeq, before[before.length - 1] + 1);
    // Removing the oldest remaining record outside retention is still detected.
    const c = await server.db.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query('DELETE FROM audit_event WHERE tenant = $1 AND seq = $2', [t2.tenant, res.firstSeq]);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    assert.equal((await verifyChain(server.db.pool, t2.tenant)).ok, false);
  });
});

describe('the audit trail as FHIR AuditEvent', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let auditor: string;
  let memberClient: string;

  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('auditevent'));
    memberClient = (await server.db.pool.query('SELECT client_id FROM client WHERE tenant = $1', [tenant])).rows[0].client_id;
    await http(`${base}/Patient/m1`, { method: 'PUT', body: { resourceType: 'Patient', id: 'm1' } });
    await http(`${base}/Patient/m1`);
    await http(`${base}/Patient/m2`);
    await http(`${base}/Observation?patient=m1`);
    auditor = (await tokenFor(server.db.pool, server.origin, tenant, 'system/AuditEvent.rs')).token;
    await server.app.auditLog!.flush();
  });
  after(() => server.close());

  const get = (q: string, token = auditor) => http(`${base}/AuditEvent${q}`, { headers: { authorization: `Bearer ${token}` }, auth: false });
  const ids = (bundle: any) => (bundle.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource);

  it('needs an explicit AuditEvent scope: a wildcard member-data scope gets 403', async () => {
    const r = await http(`${base}/AuditEvent`);
    assert.equal(r.status, 403);
    assert.equal(r.json.resourceType, 'OperationOutcome');
    assert.equal((await get('')).status, 200);
    // Later tests page through the member client's records: let this refusal's record land first
    // (a record is handed over when the response has finished, just after the client has it).
    for (let i = 0; i < 100; i++) {
      await server.app.auditLog!.flush();
      const { rows } = await server.db.pool.query("SELECT 1 FROM audit_event WHERE tenant = $1 AND client_id = $2 AND status = 403", [tenant, memberClient]);
      if (rows.length) break;
      await new Promise((res) => setTimeout(res, 20));
    }
  });

  it('every AuditEvent is valid R4 and names client, address, entity and outcome', async () => {
    const r = await get('?agent=' + memberClient + '&_count=100');
    assert.equal(r.status, 200);
    const events = ids(r.json);
    assert.ok(events.length >= 4);
    for (const e of events) {
      assertValidR4(e);
      assert.equal(e.agent[0].who.identifier.value, memberClient);
      assert.equal(e.agent[0].network.address, '127.0.0.1');
    }
    const read404 = events.find((e: any) => e.entity.some((x: any) => x.what?.reference === 'Patient/m2'));
    assert.equal(read404.outcome, '4');
    assert.ok(read404.subtype.some((c: any) => c.code === 'read'));
    const one = await get(`/${read404.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, read404);
    assert.equal((await get('/999999999')).status, 404);
  });

  it('search by entity, outcome, subtype, date and agent returns exactly the matching records', async () => {
    const m1 = ids((await get('?entity=Patient/m1')).json);
    assert.deepEqual(m1.map((e: any) => e.subtype.find((c: any) => c.system === 'urn:payer-fhir:interaction').code).sort(), ['read', 'update']);
    // (The 403s of the scope test are failures too, but not reads.)
    const failures = ids((await get('?outcome=4&subtype=read')).json);
    assert.deepEqual(failures.map((e: any) => e.entity[0].what?.reference), ['Patient/m2']);
    const denied = ids((await get(`?outcome=4&agent=${memberClient}`)).json);
    assert.ok(denied.every((e: any) => e.outcome === '4'));
    const searches = ids((await get('?subtype=search-type')).json);
    assert.equal(searches.length, 1);
    assert.equal(Buffer.from(searches[0].entity.find((x: any) => x.query).query, 'base64').toString(), 'patient=m1');
    const tokens = ids((await get('?subtype=urn:payer-fhir:interaction|token')).json);
    assert.equal(tokens.length, 2, 'the member client\'s token and the auditor\'s');
    assert.equal(ids((await get('?date=lt2000-01-01')).json).length, 0);
    const today = new Date().toISOString().slice(0, 10);
    assert.ok(ids((await get(`?date=ge${today}&agent=${memberClient}`)).json).length >= 4);
    assert.equal(ids((await get('?agent=someone-else')).json).length, 0);
  });

  it('pages with signed cursors, newest first with _sort=-date; a tampered cursor is 400', async () => {
    // The member client's records are all written (the auditor's own searches keep adding records).
    const first = await get(`?agent=${memberClient}&_count=2&_sort=-date`);
    const seen = ids(first.json).map((e: any) => Number(e.id));
    let next = first.json.link.find((l: any) => l.relation === 'next')?.url;
    while (next) {
      const page = await http(next, { headers: { authorization: `Bearer ${auditor}` }, auth: false });
      seen.push(...ids(page.json).map((e: any) => Number(e.id)));
      next = page.json.link.find((l: any) => l.relation === 'next')?.url;
    }
    const all = ids((await get(`?agent=${memberClient}&_count=1000`)).json).map((e: any) => Number(e.id));
    assert.ok(all.length >= 4);
    assert.deepEqual(seen, [...all].sort((a, b) => b - a));
    const url = new URL(first.json.link.find((l: any) => l.relation === 'next').url);
    url.searchParams.set('_page', `${url.searchParams.get('_page')}x`);
    assert.equal((await http(url.toString(), { headers: { authorization: `Bearer ${auditor}` }, auth: false })).status, 400);
  });

  it('bad values are 400 OperationOutcomes; clients cannot write AuditEvents', async () => {
    for (const q of ['?date=yesterday', '?outcome=5', '?entity=not a ref', '?_sort=name']) {
      const r = await get(q);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.resourceType, 'OperationOutcome');
    }
    const w = await http(`${base}/AuditEvent`, { method: 'POST', body: { resourceType: 'AuditEvent' } });
    assert.equal(w.status, 405);
  });
});
