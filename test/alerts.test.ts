/**
 * Security monitoring (issue 7 §7): each rule fires on its anomaly and stays quiet on ordinary
 * traffic; an alert is stored, listed by `payer-fhir alerts`, chained into the audit trail and
 * POSTed to the webhook.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http_ from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { appendRecords, AuditLog } from '../src/audit/log.js';
import type { AuditRecord } from '../src/audit/record.js';
import { verifyChain } from '../src/audit/verify.js';
import { loadConfig } from '../src/config.js';
import { makeKeyPair, requestToken, signAssertion, tokenFor, tokenUrlFor } from './helpers/auth.js';
import { repoRoot } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';
import { addClient } from '../src/auth/clients.js';

const run = promisify(execFile);

describe('security alerts', () => {
  let server: TestServer;
  let hook: http_.Server;
  const received: any[] = [];
  let tenant: string;
  let base: string;

  const alertsOf = async (rule: string) =>
    (await server.db.pool.query('SELECT * FROM security_alert WHERE tenant = $1 AND rule = $2 ORDER BY id', [tenant, rule])).rows;

  before(async () => {
    hook = http_.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const defaults = loadConfig();
    server = await startServer({
      limits: { ...defaults.limits, clientRate: 100000, clientBurst: 100000, tokenPerMinuteClient: 100000, tokenPerMinuteIp: 100000, trustProxy: ['127.0.0.1'] },
      alerts: {
        ...defaults.alerts,
        intervalSeconds: 0,
        windowSeconds: 600,
        authFailures: 5,
        scopeDenials: 4,
        volumeFactor: 5,
        volumeMinRequests: 30,
        webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`,
      },
    });
    ({ tenant, base } = await server.newTenant('alerts'));
  });
  after(async () => {
    await server.close();
    hook.close();
  });

  it('ordinary traffic raises nothing', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await http(`${base}/Patient?_count=1`)).status, 200);
    await server.app.alertMonitor.evaluate();
    const { rows } = await server.db.pool.query('SELECT rule FROM security_alert WHERE tenant = $1', [tenant]);
    assert.deepEqual(rows, []);
  });

  it('auth-failures: a burst of failed authentications from one address, and for one client', async () => {
    const key = await makeKeyPair();
    const { client_id } = await addClient(server.db.pool, { tenant, name: 'stuffed', jwks: { keys: [key.publicJwk] }, scope: 'system/*.rs' });
    const other = await makeKeyPair();
    const attacker = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const url = tokenUrlFor(server.origin, tenant);
    for (let i = 0; i < 5; i++) {
      // Signed with a key the client does not have: invalid_client.
      const r = await requestToken(url, { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await signAssertion(other, client_id, url) }, { 'x-forwarded-for': attacker });
      assert.equal(r.json.error, 'invalid_client', JSON.stringify(r.json));
    }
    await server.app.alertMonitor.evaluate();
    const rows = await alertsOf('auth-failures');
    assert.deepEqual(rows.map((r) => [r.client_id, r.source_ip]).sort(), [[client_id, null], [null, attacker]].sort());
    // Not again for the same subjects within the window.
    await server.app.alertMonitor.evaluate();
    assert.equal((await alertsOf('auth-failures')).length, 2);
  });

  it('scope-denials: a client repeatedly asking for what it was not granted', async () => {
    const { token, clientId } = await tokenFor(server.db.pool, server.origin, tenant, 'system/Patient.rs');
    for (let i = 0; i < 4; i++) assert.equal((await http(`${base}/Observation`, { headers: { authorization: `Bearer ${token}` }, auth: false })).status, 403);
    await server.app.alertMonitor.evaluate();
    const rows = await alertsOf('scope-denials');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].client_id, clientId);
    assert.deepEqual(rows[0].details.types, ['Observation']);
  });

  it('new-address: a client\'s first address is normal; a second, never used before, raises an alert', async () => {
    const { token, clientId } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    const as = (ip: string) => http(`${base}/Patient`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': ip }, auth: false });
    assert.equal((await as('10.50.0.1')).status, 200);
    await server.app.alertMonitor.evaluate();
    // The token request itself came from 127.0.0.1, so that is the client's first address.
    const first = (await alertsOf('new-address')).filter((r) => r.client_id === clientId);
    assert.deepEqual(first.map((r) => r.source_ip), ['10.50.0.1']);
    assert.equal((await as('10.50.0.1')).status, 200);
    assert.equal((await as('10.50.0.2')).status, 200);
    await server.app.alertMonitor.evaluate();
    const now = (await alertsOf('new-address')).filter((r) => r.client_id === clientId);
    assert.deepEqual(now.map((r) => r.source_ip), ['10.50.0.1', '10.50.0.2']);
  });

  it('volume: a client far above its own baseline', async () => {
    const { token, clientId } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    // Its history: two days of light use (3 requests per 10-minute window on average).
    const old: AuditRecord[] = [];
    const start = Date.now() - 2 * 86_400_000;
    for (let t = start; t < Date.now() - 700_000; t += 200_000) {
      old.push({ tenant, recorded: new Date(t), durationUs: 1000, clientId, sourceIp: '127.0.0.1', interaction: 'search', method: 'GET', path: '/x', query: null, resourceType: 'Patient', resourceId: null, jobId: null, status: 200, resources: 1, bytes: 100, detail: null, requestId: null });
    }
    await appendRecords(server.db.pool, old);
    for (let i = 0; i < 30; i++) assert.equal((await http(`${base}/Patient`, { headers: { authorization: `Bearer ${token}` }, auth: false })).status, 200);
    await server.app.alertMonitor.evaluate();
    const rows = (await alertsOf('volume')).filter((r) => r.client_id === clientId);
    assert.equal(rows.length, 1);
    assert.ok(rows[0].details.requests >= 30);
    // newTenant's client made more requests, but has no baseline day yet: no alert for it.
    assert.equal((await alertsOf('volume')).length, 1);
    // The baseline's hourly counts hold exactly what the trail holds for this client, hour by
    // hour — read in one statement, so both sides come from one snapshot while appends go on.
    const { rows: [both] } = await server.db.pool.query(
      `SELECT (SELECT json_agg(json_build_array(hour, requests, bytes) ORDER BY hour) FROM audit_usage WHERE tenant = $1 AND client_id = $2) AS usage,
              (SELECT json_agg(json_build_array(hour, requests, bytes) ORDER BY hour) FROM (
                 SELECT date_trunc('hour', recorded AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, count(*) AS requests, sum(bytes) AS bytes
                   FROM audit_event WHERE tenant = $1 AND client_id = $2 GROUP BY 1) t) AS trail`,
      [tenant, clientId],
    );
    assert.ok(both.usage.length >= 48);
    assert.deepEqual(both.usage, both.trail);
    // Likewise the per-minute counts the current window is read from (migration 8), per address,
    // over the day they are kept for (the rule run above trimmed older minutes).
    const { rows: [minutes] } = await server.db.pool.query(
      `SELECT (SELECT json_agg(json_build_array(source_ip, minute, requests, bytes, ok_requests, first_ok_seq) ORDER BY source_ip, minute)
                 FROM audit_minute WHERE tenant = $1 AND client_id = $2 AND minute > now() - interval '23 hours') AS counted,
              (SELECT json_agg(json_build_array(source_ip, minute, requests, bytes, ok_requests, first_ok_seq) ORDER BY source_ip, minute) FROM (
                 SELECT coalesce(source_ip, '') AS source_ip, date_trunc('minute', recorded AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
                        count(*) AS requests, sum(bytes) AS bytes, count(*) FILTER (WHERE status < 400) AS ok_requests, min(seq) FILTER (WHERE status < 400) AS first_ok_seq
                   FROM audit_event WHERE tenant = $1 AND client_id = $2 GROUP BY 1, 2) t WHERE minute > now() - interval '23 hours') AS trail`,
      [tenant, clientId],
    );
    assert.ok(minutes.counted.length >= 400, `${minutes.counted.length} minutes`);
    assert.deepEqual(minutes.counted, minutes.trail);
  });

  it('the rules read neither the trail\'s successful traffic nor old minutes: failures through their own index, per-minute counts kept a day', async () => {
    const { rows: indexes } = await server.db.pool.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_event_failures'`);
    assert.match(indexes[0].indexdef, /WHERE \(status >= 400\)/);
    const { clientId } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    await server.db.pool.query(
      `INSERT INTO audit_minute (tenant, client_id, source_ip, minute, requests, bytes, ok_requests, first_ok_seq)
       VALUES ($1, $2, '192.0.2.9', now() - interval '2 days', 5, 50, 5, 1)`,
      [tenant, clientId],
    );
    await server.app.alertMonitor.evaluate();
    const { rows } = await server.db.pool.query(`SELECT 1 FROM audit_minute WHERE tenant = $1 AND client_id = $2 AND source_ip = '192.0.2.9'`, [tenant, clientId]);
    assert.deepEqual(rows, []);
    assert.deepEqual((await alertsOf('new-address')).filter((r) => r.source_ip === '192.0.2.9'), [], 'an address from two days ago is outside the window');
  });

  it('per-minute counts past their day are trimmed by the audit sweep too, with alert runs and retention both off', async () => {
    const { clientId } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    await server.db.pool.query(
      `INSERT INTO audit_minute (tenant, client_id, source_ip, minute, requests, bytes, ok_requests, first_ok_seq)
       VALUES ($1, $2, '192.0.2.10', now() - interval '2 days', 5, 50, 5, 1)`,
      [tenant, clientId],
    );
    const log = new AuditLog(server.db.pool, { flushMs: 60_000, maxBuffered: 100, retentionDays: 0, log: server.app.log });
    await log.applyRetention();
    const { rows } = await server.db.pool.query(`SELECT 1 FROM audit_minute WHERE tenant = $1 AND source_ip = '192.0.2.10'`, [tenant]);
    assert.deepEqual(rows, []);
  });

  it('every alert is in the audit trail (still a valid chain), at the webhook, and listed by `payer-fhir alerts`', async () => {
    await server.app.auditLog!.flush();
    const stored = (await server.db.pool.query('SELECT rule, summary FROM security_alert WHERE tenant = $1 ORDER BY id', [tenant])).rows;
    assert.ok(stored.length >= 6);
    const audited = (await server.db.pool.query("SELECT path, detail FROM audit_event WHERE tenant = $1 AND interaction = 'security-alert' ORDER BY seq", [tenant])).rows;
    assert.deepEqual(audited.map((r) => [r.path, r.detail]).sort(), stored.map((r) => [r.rule, r.summary]).sort());
    const chain = await verifyChain(server.db.pool, tenant);
    assert.equal(chain.ok, true, JSON.stringify(chain));
    const hooked = received.filter((a) => a.tenant === tenant);
    assert.deepEqual(hooked.map((a) => a.summary).sort(), stored.map((r) => r.summary).sort());
    const { stdout } = await run(process.execPath, [path.join(repoRoot, 'bin', 'payer-fhir.js'), 'alerts', '--tenant', tenant, '--json']);
    const listed = stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(listed.map((a) => a.rule), stored.map((r) => r.rule));
  });
});
