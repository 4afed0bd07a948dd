/**
 * Brute-force protection of `$member-match` (issue 12 §2): failed matches are counted per
 * client per hour; past MEMBER_MATCH_FAILURES_PER_HOUR every match request of that client is
 * refused with 429 and Retry-After (even one that would match), other clients are not
 * affected, and the alert rule raises one `member-match-failures` alert, stored and audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { http } from './helpers/http.js';
import { NEW_PAYER, memberMatchRequest, partnerToken, writePlan, type Member } from './helpers/member-match.js';
import { startServer, type TestServer } from './helpers/server.js';

const BO: Member = { id: 'bo', family: 'Berg', given: 'Bo', birthDate: '1970-10-11', gender: 'male', memberId: 'MB-77', subscriberId: 'SB-77' };

describe('$member-match throttle and alert', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;

  before(async () => {
    const defaults = loadConfig();
    server = await startServer({ memberMatch: { ...defaults.memberMatch, failuresPerHour: 3 }, alerts: { ...defaults.alerts, intervalSeconds: 0, memberMatchFailures: 3 } });
    ({ tenant, base } = await server.newTenant('mmt'));
    await writePlan(base, [BO]);
  });
  after(async () => server.close());

  it('429 with Retry-After once the hour\'s failures reach the limit; other clients unaffected; one alert', async () => {
    const prober = await partnerToken(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PAYER);
    const honest = await partnerToken(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PAYER);
    const match = (token: string, m: Parameters<typeof memberMatchRequest>[0]) =>
      http(`${base}/Patient/$member-match`, { method: 'POST', body: memberMatchRequest(m), headers: { authorization: `Bearer ${token}` } });

    for (let i = 0; i < 3; i++) assert.equal((await match(prober.token, { ...BO, memberId: `GUESS-${i}` })).status, 422);
    const refused = await match(prober.token, BO);
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json.issue[0].code, 'throttled');
    const retry = Number(refused.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 3600, `Retry-After ${retry}`);
    assert.equal((await server.db.pool.query('SELECT count(*)::int AS n FROM member_match WHERE tenant = $1', [tenant])).rows[0].n, 0, 'a throttled match writes nothing');
    // The verdict comes first whatever the input (the count is read while the input is checked):
    // a malformed request and one naming nobody answer 429 too, and count nothing more.
    const malformed = await http(`${base}/Patient/$member-match`, { method: 'POST', body: { resourceType: 'Parameters', parameter: [{ name: 'Nonsense', valueString: 'x' }] }, headers: { authorization: `Bearer ${prober.token}` } });
    assert.equal(malformed.status, 429, malformed.text);
    assert.equal((await match(prober.token, { ...BO, memberId: 'GUESS-9' })).status, 429);
    const counted = await server.db.pool.query('SELECT failures FROM member_match_failure WHERE tenant = $1 AND client_id = $2', [tenant, prober.clientId]);
    assert.deepEqual(counted.rows, [{ failures: 3 }]);
    const bulk = await http(`${base}/Group/$bulk-member-match`, {
      method: 'POST',
      body: { resourceType: 'Parameters', parameter: [{ name: 'MemberBundle', part: memberMatchRequest(BO).parameter }] },
      headers: { authorization: `Bearer ${prober.token}`, prefer: 'respond-async' },
    });
    assert.equal(bulk.status, 429, 'bulk matching is closed to it too');

    assert.equal((await match(honest.token, BO)).status, 200, 'another client is not throttled');

    const raised = await server.app.alertMonitor.evaluate();
    const mine = raised.filter((a) => a.tenant === tenant);
    assert.deepEqual(mine.map((a) => [a.rule, a.clientId]), [['member-match-failures', prober.clientId]]);
    assert.match(mine[0].summary, /3 failed member matches/);
    assert.deepEqual((await server.app.alertMonitor.evaluate()).filter((a) => a.tenant === tenant), [], 'raised once');
    const stored = await server.db.pool.query("SELECT client_id FROM security_alert WHERE tenant = $1 AND rule = 'member-match-failures'", [tenant]);
    assert.deepEqual(stored.rows, [{ client_id: prober.clientId }]);

    await server.app.auditLog!.flush();
    const audit = await server.db.pool.query("SELECT status, detail FROM audit_event WHERE tenant = $1 AND client_id = $2 AND interaction = 'member-match' ORDER BY seq", [tenant, prober.clientId]);
    assert.deepEqual(audit.rows.map((r) => r.status), [422, 422, 422, 429, 429, 429]);
    assert.match(audit.rows[3].detail, /throttled: 3 failed matches this hour \(limit 3\)/);
    const alertRecord = await server.db.pool.query("SELECT detail FROM audit_event WHERE tenant = $1 AND interaction = 'security-alert' AND path = 'member-match-failures'", [tenant]);
    assert.equal(alertRecord.rows.length, 1);
  });
});
