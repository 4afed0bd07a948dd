/**
 * PDex `Group/$bulk-member-match` (issue 12 §3): asynchronous (202 + status URL, 202 with
 * X-Progress, 200 with the result Parameters, DELETE cancels), MatchedMembers stored as the
 * client's own pdex-member-match-group, NonMatchedMembers and ConsentConstrainedMembers
 * returned; each match stores its Consent and member_match row; a job whose process died is
 * taken over after its lease and resumes after its last committed batch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import crypto from 'node:crypto';
import { runMatchJob } from '../src/operations/bulk-match-runner.js';
import { inTransaction } from '../src/store/database.js';
import { createMatchJob, getMatchJob } from '../src/store/member-match-jobs.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { NEW_PAYER, hrexConsent, memberParts, partnerToken, writePlan, type Member } from './helpers/member-match.js';
import { startServer, type TestServer } from './helpers/server.js';

const member = (i: number): Member => ({
  id: `m${i}`,
  family: `Family${i}`,
  given: `Given${i}`,
  birthDate: `19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}`,
  gender: i % 2 ? 'male' : 'female',
  memberId: `MB${10_000 + i}`,
  subscriberId: `SUB${10_000 + i}`,
});
const MEMBERS = Array.from({ length: 60 }, (_, i) => member(i));
const year = new Date().getUTCFullYear();

function bundle(parts: any[]): any {
  return { name: 'MemberBundle', part: parts };
}

describe('$bulk-member-match (PDex 2.1.0)', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let p2p: { token: string; clientId: string };
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });
  const kickOff = (body: unknown, headers: Record<string, string> = { prefer: 'respond-async' }, token = p2p.token) =>
    http(`${base}/Group/$bulk-member-match`, { method: 'POST', body, headers: { ...auth(token), ...headers } });

  async function poll(url: string, token = p2p.token): Promise<any> {
    for (let i = 0; i < 600; i++) {
      const r = await http(url, { headers: auth(token) });
      if (r.status !== 202) return r;
      assert.match(r.headers.get('x-progress') ?? '', /^\d+ of \d+ members matched$/);
      await sleep(100);
    }
    throw new Error('the match job did not finish');
  }

  before(async () => {
    server = await startServer({}, { workers: 1 });
    ({ tenant, base } = await server.newTenant('bmm'));
    await writePlan(base, MEMBERS);
    p2p = await partnerToken(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PAYER);
  });
  after(async () => server.close());

  it('refuses what it cannot run: no Prefer: respond-async, malformed bundles, a member without Consent, a provider client — nothing queued', async () => {
    const good = { resourceType: 'Parameters', parameter: [bundle(memberParts(MEMBERS[0]))] };
    const jobs = async () => Number((await server.db.pool.query('SELECT count(*) AS n FROM member_match_job WHERE tenant = $1', [tenant])).rows[0].n);
    const cases: [string, unknown, Record<string, string>, number, RegExp][] = [
      ['no respond-async', good, {}, 400, /respond-async/],
      ['unknown parameter', { ...good, parameter: [...good.parameter, { name: 'Other', valueString: 'x' }] }, { prefer: 'respond-async' }, 400, /unknown parameter 'Other'/],
      ['no member', { resourceType: 'Parameters', parameter: [{ name: 'Other', valueString: 'x' }] }, { prefer: 'respond-async' }, 400, /unknown parameter/],
      ['member without Consent', { resourceType: 'Parameters', parameter: [bundle(memberParts(MEMBERS[0], null))] }, { prefer: 'respond-async' }, 400, /'Consent' is required/],
      ['unknown part', { resourceType: 'Parameters', parameter: [bundle([...memberParts(MEMBERS[0]), { name: 'Extra', valueString: 'x' }])] }, { prefer: 'respond-async' }, 400, /part\[4\]: unknown parameter 'Extra'/],
    ];
    for (const [name, body, headers, status, why] of cases) {
      const r = await kickOff(body, headers);
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.ok(isOperationOutcome(r));
      assert.match(r.text, why, name);
    }
    const provider = await partnerToken(server.db.pool, server.origin, tenant, 'provider-access', { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' });
    assert.equal((await kickOff(good, { prefer: 'respond-async' }, provider.token)).status, 403);
    assert.equal(await jobs(), 0);
  });

  it('matches, refuses consents it cannot honour, reports the unmatched; MatchedMembers is the client\'s own Group', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        bundle(memberParts(MEMBERS[1])),
        bundle(memberParts({ ...MEMBERS[2], memberId: 'UNKNOWN-9' })),
        bundle(memberParts(MEMBERS[3], hrexConsent(NEW_PAYER, { start: `${year - 3}-01-01`, end: `${year - 2}-01-01` }))),
        bundle(memberParts(MEMBERS[4], hrexConsent(NEW_PAYER, { level: 'regular' }))),
      ],
    };
    const r = await kickOff(body);
    assert.equal(r.status, 202, r.text);
    const status = r.headers.get('content-location')!;
    assert.match(status, new RegExp(`^${base.replace(/[$.]/g, '\\$&')}/\\$bulk-member-match-status/[0-9a-f-]{36}$`));
    const done = await poll(status);
    assert.equal(done.status, 200, done.text);
    const out = Object.fromEntries(done.json.parameter.map((p: any) => [p.name, p.resource]));
    assert.deepEqual(Object.keys(out).sort(), ['ConsentConstrainedMembers', 'MatchedMembers', 'NonMatchedMembers']);

    const matched = out.MatchedMembers;
    assert.deepEqual(matched.meta.profile, ['http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-member-match-group']);
    assert.equal(matched.code.coding[0].code, 'match');
    assert.deepEqual(matched.characteristic[0].valueReference, { identifier: NEW_PAYER });
    assert.deepEqual(matched.member.map((m: any) => m.entity.reference).sort(), ['Patient/m1', 'Patient/m4']);
    for (const m of matched.member) {
      const contained = matched.contained.find((c: any) => `#${c.id}` === m.entity.extension[0].valueReference.reference);
      assert.equal(contained.resourceType, 'Patient');
    }
    assert.equal(out.NonMatchedMembers.code.coding[0].code, 'nomatch');
    assert.deepEqual(out.NonMatchedMembers.contained.map((p: any) => p.name[0].family), ['Family2']);
    assert.equal(out.ConsentConstrainedMembers.code.coding[0].code, 'consentconstraint');
    assert.deepEqual(out.ConsentConstrainedMembers.contained.map((p: any) => p.name[0].family), ['Family3']);

    // Stored, indexed as the client's own, readable by it; the matched members open to it.
    const group = await http(`${base}/Group/${matched.id}`, { headers: auth(p2p.token) });
    assert.equal(group.status, 200, group.text);
    const owner = await server.db.pool.query('SELECT kind, org_value FROM partner_group WHERE tenant = $1 AND group_id = $2', [tenant, matched.id]);
    assert.deepEqual(owner.rows, [{ kind: 'match', org_value: NEW_PAYER.value }]);
    const rows = await server.db.pool.query('SELECT patient_id FROM member_match WHERE tenant = $1 AND client_id = $2 ORDER BY patient_id', [tenant, p2p.clientId]);
    assert.deepEqual(rows.rows.map((x) => x.patient_id), ['m1', 'm4']);
    const levels = await server.db.pool.query("SELECT patient_id, level FROM consent_rule WHERE tenant = $1 AND purpose = 'payer-to-payer' ORDER BY patient_id", [tenant]);
    assert.deepEqual(levels.rows, [{ patient_id: 'm1', level: 'sensitive' }, { patient_id: 'm4', level: 'regular' }]);
    assert.equal((await http(`${base}/Patient/m1`, { headers: auth(p2p.token) })).status, 200);
    assert.equal((await http(`${base}/Patient/m2`, { headers: auth(p2p.token) })).status, 404);

    // The job belongs to its client: to any other it does not exist.
    assert.equal((await http(status)).status, 404);
    await server.app.auditLog!.flush();
    const audit = await server.db.pool.query(
      "SELECT interaction, status, resource_type FROM audit_event WHERE tenant = $1 AND client_id = $2 AND job_id = $3 ORDER BY seq",
      [tenant, p2p.clientId, status.split('/').pop()],
    );
    assert.deepEqual(audit.rows[0], { interaction: 'bulk-member-match', status: 202, resource_type: 'Group' });
    assert.ok(audit.rows.some((a) => a.interaction === 'bulk-member-match-status' && a.status === 200));
  });

  it('DELETE cancels: the status URL is gone', async () => {
    const r = await kickOff({ resourceType: 'Parameters', parameter: [bundle(memberParts(MEMBERS[5]))] });
    const status = r.headers.get('content-location')!;
    const del = await http(status, { method: 'DELETE', headers: auth(p2p.token) });
    assert.equal(del.status, 202);
    assert.equal((await http(status, { headers: auth(p2p.token) })).status, 404);
    assert.equal((await http(status, { method: 'DELETE', headers: auth(p2p.token) })).status, 404);
  });

  it('a job whose process died mid-way is taken over after its lease and resumes after its last batch', async () => {
    const org = { system: NEW_PAYER.system, value: 'RESUME-03' };
    const other = await partnerToken(server.db.pool, server.origin, tenant, 'payer-to-payer', org);
    const input = MEMBERS.map((m) => {
      const parts = Object.fromEntries(memberParts(m, hrexConsent(org)).map((p) => [p.name, p.resource]));
      return { patient: parts.MemberPatient, coverageToMatch: parts.CoverageToMatch, coverageToLink: parts.CoverageToLink, consent: parts.Consent };
    });
    // A process took the job (its lease held) and dies after committing one batch.
    const id = crypto.randomUUID();
    await inTransaction(server.db.pool, async (c) => {
      await createMatchJob(c, { id, tenant, clientId: other.clientId, organization: org, policy: 'payer-to-payer', requestUrl: `${base}/Group/$bulk-member-match`, input });
      await c.query("UPDATE member_match_job SET status = 'running', lease_owner = 'doomed', lease_until = now() + interval '1 hour', attempts = 1 WHERE id = $1", [id]);
    });
    const job = { ...(await getMatchJob(server.db.pool, tenant, other.clientId, id))!, input };
    let batches = 0;
    await assert.rejects(runMatchJob(server.db.pool, server.config, job, 'doomed', () => batches++ >= 1));
    const progress = await server.db.pool.query('SELECT done, status FROM member_match_job WHERE id = $1', [id]);
    assert.deepEqual(progress.rows[0], { done: 50, status: 'running' });
    // Its lease lapses; the server's own worker takes the job over and finishes it.
    await server.db.pool.query("UPDATE member_match_job SET lease_until = now() - interval '1 second' WHERE id = $1", [id]);
    const done = await poll(`${base}/$bulk-member-match-status/${id}`, other.token);
    assert.equal(done.status, 200, done.text);
    const matched = done.json.parameter.find((p: any) => p.name === 'MatchedMembers').resource;
    assert.equal(matched.member.length, 60);
    const consents = await server.db.pool.query("SELECT count(*)::int AS n FROM consent_rule WHERE tenant = $1 AND recipient_value = 'RESUME-03'", [tenant]);
    assert.equal(consents.rows[0].n, 60, 'one Consent per member: the first batch was not redone');
    const items = await server.db.pool.query('SELECT count(*)::int AS n FROM member_match_job_item WHERE job_id = $1', [id]);
    assert.equal(items.rows[0].n, 60);
  });
});
