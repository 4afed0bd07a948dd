/**
 * HRex `Patient/$member-match` over real HTTP, PostgreSQL and tokens (issue 12 §2): one match
 * answers MemberIdentifier (UMB) and MemberId, stores the Consent and the match in one go and
 * opens the member to the payer-to-payer client — until the consent is revoked (CLI). No
 * match, several matches and unhonourable consents answer 422 without a hint; malformed
 * input 400; a provider-access client 403; nothing is half-written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/bulk.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { HREX_POLICY, NEW_PAYER, OTHER_PAYER, hrexConsent, memberMatchRequest, partnerToken, writePlan, type Member } from './helpers/member-match.js';
import { startServer, tenantRowCount, type TestServer } from './helpers/server.js';

const run = promisify(execFile);

const ANNA: Member = { id: 'anna', family: 'Müller', given: 'Anna', birthDate: '1980-02-03', gender: 'female', memberId: 'M1000101', subscriberId: 'S10001' };
// Twins sharing a subscriber id, a family name, a birth date and an initial: a subscriber-id match finds both.
const JO: Member = { id: 'jo', family: 'Ng', given: 'Jo', birthDate: '2001-06-07', gender: 'male', memberId: 'M2000101', subscriberId: 'S20001' };
const JAY: Member = { id: 'jay', family: 'Ng', given: 'Jay', birthDate: '2001-06-07', gender: 'male', memberId: 'M2000102', subscriberId: 'S20001' };

describe('$member-match (HRex 1.1.0)', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let p2p: { token: string; clientId: string };
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });
  const match = (body: unknown, token = p2p.token, headers: Record<string, string> = {}) =>
    http(`${base}/Patient/$member-match`, { method: 'POST', body, headers: { ...auth(token), ...headers } });
  const count = async (sql: string) => Number((await server.db.pool.query(sql, [tenant])).rows[0].n);
  const consents = () => count("SELECT count(*) AS n FROM resource WHERE tenant = $1 AND type = 'Consent'");
  const matches = () => count('SELECT count(*) AS n FROM member_match WHERE tenant = $1');

  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('mm'));
    await writePlan(base, [ANNA, JO, JAY]);
    p2p = await partnerToken(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PAYER);
  });
  after(async () => server.close());

  it('before any match the payer-to-payer client cannot see the member', async () => {
    assert.equal((await http(`${base}/Patient/anna`, { headers: auth(p2p.token) })).status, 404);
  });

  it('no match and several matches: the same 422, nothing written, each counted and audited with its reason', async () => {
    const before = await tenantRowCount(server.db, tenant);
    const none = await match(memberMatchRequest({ ...ANNA, memberId: 'NOPE-1' }));
    const several = await match(memberMatchRequest({ family: 'NG', given: 'J.', birthDate: JO.birthDate, gender: 'male', subscriberId: 'S20001' }));
    for (const r of [none, several]) {
      assert.equal(r.status, 422, r.text);
      assert.ok(isOperationOutcome(r));
      assert.equal(r.json.issue[0].code, 'processing');
    }
    assert.equal(none.text, several.text, 'no match and several matches read the same');
    assert.doesNotMatch(none.text, /\b(anna|jo|jay|ng)\b|Müller|M1000101|S20001/i);
    assert.equal(await tenantRowCount(server.db, tenant), before);
    assert.equal(await matches(), 0);
    const { rows } = await server.db.pool.query('SELECT failures FROM member_match_failure WHERE tenant = $1 AND client_id = $2', [tenant, p2p.clientId]);
    assert.equal(rows[0].failures, 2);
    await server.app.auditLog!.flush();
    const audit = await server.db.pool.query(
      "SELECT status, detail, resource_type, policy FROM audit_event WHERE tenant = $1 AND interaction = 'member-match' AND client_id = $2 ORDER BY seq",
      [tenant, p2p.clientId],
    );
    assert.deepEqual(audit.rows.map((r) => r.status), [422, 422]);
    assert.match(audit.rows[0].detail, /no member matched \(failure 1 of 20/);
    assert.match(audit.rows[1].detail, /several members matched \(failure 2 of 20/);
    for (const r of audit.rows) {
      assert.doesNotMatch(r.detail, /anna|jay|Müller|Ng\b/i);
      assert.equal(r.resource_type, 'Patient');
      assert.match(r.policy, /^payer-to-payer /);
    }
  });

  it('a consent that cannot be honoured: 422 naming the term, nothing written, not counted as a failed match', async () => {
    const year = new Date().getUTCFullYear();
    const cases: [string, Record<string, any>, RegExp][] = [
      ['inactive', { ...hrexConsent(), status: 'inactive' }, /status is 'inactive'/],
      ['deny', { ...hrexConsent(), provision: { ...hrexConsent().provision, type: 'deny' } }, /not permit/],
      ['expired', hrexConsent(NEW_PAYER, { start: `${year - 3}-01-01`, end: `${year - 2}-12-31` }), /does not cover today/],
      ['unknown policy', { ...hrexConsent(), policy: [{ uri: `${HREX_POLICY}#everything` }] }, /exactly one uri/],
      ['other recipient', hrexConsent(OTHER_PAYER), /not the requesting organisation/],
      ['no performer', (({ performer: _p, ...c }) => c)(hrexConsent()), /performer is missing/],
      ['no source', (({ sourceReference: _s, ...c }) => c)(hrexConsent()), /source\[x\]/],
      ['no source actor', { ...hrexConsent(), provision: { ...hrexConsent().provision, actor: [hrexConsent().provision.actor[1]] } }, /no source/],
    ];
    const before = await tenantRowCount(server.db, tenant);
    const failures = await count('SELECT coalesce(sum(failures), 0) AS n FROM member_match_failure WHERE tenant = $1');
    for (const [name, consent, why] of cases) {
      const r = await match(memberMatchRequest(ANNA, consent));
      assert.equal(r.status, 422, `${name}: ${r.text}`);
      assert.match(r.json.issue[0].diagnostics, why, name);
    }
    assert.equal(await tenantRowCount(server.db, tenant), before);
    assert.equal(await count('SELECT coalesce(sum(failures), 0) AS n FROM member_match_failure WHERE tenant = $1'), failures);
  });

  it('malformed input: 400 with the place of the problem, nothing written', async () => {
    const good = memberMatchRequest(ANNA);
    const without = (name: string) => ({ ...good, parameter: good.parameter.filter((p: any) => p.name !== name) });
    const cases: [string, unknown, RegExp][] = [
      ['not Parameters', { resourceType: 'Patient' }, /Parameters resource/],
      ['unknown parameter', { ...good, parameter: [...good.parameter, { name: 'Extra', valueString: 'x' }] }, /unknown parameter 'Extra'/],
      ['repeated parameter', { ...good, parameter: [...good.parameter, good.parameter[0]] }, /at most 1 time/],
      ['missing CoverageToMatch', without('CoverageToMatch'), /'CoverageToMatch' is required/],
      ['payer-to-payer without Consent', without('Consent'), /'Consent' is required/],
      ['value instead of resource', { ...good, parameter: [{ name: 'MemberPatient', valueString: 'x' }, ...good.parameter.slice(1)] }, /must carry a Patient/],
      ['invalid Patient', { ...good, parameter: [{ name: 'MemberPatient', resource: { ...good.parameter[0].resource, birthDate: '03/02/1980' } }, ...good.parameter.slice(1)] }, /parameter\[0\]\.resource\.birthDate/],
      ['wrong type', { ...good, parameter: [{ name: 'MemberPatient', resource: good.parameter[1].resource }, ...good.parameter.slice(1)] }, /does not match/],
      ['no member or subscriber id', memberMatchRequest({ ...ANNA, memberId: undefined, subscriberId: undefined }), /subscriberId is required/],
      [
        'beneficiary not the MemberPatient',
        { ...good, parameter: good.parameter.map((p: any) => (p.name === 'CoverageToMatch' ? { ...p, resource: { ...p.resource, beneficiary: { reference: 'Patient/other' } } } : p)) },
        /local reference Patient\/1/,
      ],
    ];
    const before = await tenantRowCount(server.db, tenant);
    for (const [name, body, why] of cases) {
      const r = await match(body);
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.ok(isOperationOutcome(r), name);
      assert.match(r.text, why, name);
    }
    const text = await http(`${base}/Patient/$member-match`, { method: 'POST', body: 'MemberPatient=x', headers: { ...auth(p2p.token), 'content-type': 'text/plain' } });
    assert.equal(text.status, 415);
    assert.equal(await tenantRowCount(server.db, tenant), before);
  });

  it('a provider-access client is refused (403), a client without Patient read too', async () => {
    const provider = await partnerToken(server.db.pool, server.origin, tenant, 'provider-access', { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' });
    const r = await match(memberMatchRequest(ANNA), provider.token);
    assert.equal(r.status, 403);
    assert.match(r.json.issue[0].diagnostics, /provider-access/);
    const narrow = await partnerToken(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PAYER, 'system/Observation.rs');
    assert.equal((await match(memberMatchRequest(ANNA), narrow.token)).status, 403);
  });

  it('one match: MemberIdentifier (UMB) and MemberId; the Consent and the match stored; the member opens to the client until the consent is revoked', async () => {
    const r = await match(memberMatchRequest({ ...ANNA, family: 'MULLER', given: 'A' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.resourceType, 'Parameters');
    const byName = Object.fromEntries(r.json.parameter.map((p: any) => [p.name, p]));
    assert.deepEqual(Object.keys(byName).sort(), ['MemberId', 'MemberIdentifier']);
    assert.deepEqual(byName.MemberIdentifier.valueIdentifier.type.coding[0], { system: 'http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp', code: 'UMB', display: 'Member Number' });
    assert.equal(byName.MemberIdentifier.valueIdentifier.value, 'U-anna');
    assert.deepEqual(byName.MemberId.valueReference, { reference: 'Patient/anna' });

    const row = (await server.db.pool.query('SELECT consent_id, coverage_to_link FROM member_match WHERE tenant = $1 AND client_id = $2 AND patient_id = $3', [tenant, p2p.clientId, 'anna'])).rows[0];
    assert.ok(row.consent_id);
    assert.equal(JSON.parse(row.coverage_to_link).identifier[0].value, 'NEW-555');
    const consent = JSON.parse((await server.db.pool.query("SELECT content FROM resource WHERE tenant = $1 AND type = 'Consent' AND id = $2", [tenant, row.consent_id])).rows[0].content);
    assert.equal(consent.status, 'active');
    assert.deepEqual(consent.patient, { reference: 'Patient/anna' });
    assert.deepEqual(consent.performer, [{ reference: 'Patient/anna' }]);
    assert.ok(consent.category.some((c: any) => c.coding[0].code === 'payer-to-payer' && c.coding[0].system === 'http://hl7.org/fhir/us/davinci-pdex/CodeSystem/pdex-consent-api-purpose'));
    const rule = (await server.db.pool.query('SELECT purpose, decision, recipient_value, level FROM consent_rule WHERE tenant = $1 AND consent_id = $2', [tenant, row.consent_id])).rows;
    assert.deepEqual(rule, [{ purpose: 'payer-to-payer', decision: 'permit', recipient_value: NEW_PAYER.value, level: 'sensitive' }]);

    assert.equal((await http(`${base}/Patient/anna`, { headers: auth(p2p.token) })).status, 200);
    assert.equal((await http(`${base}/Patient/jo`, { headers: auth(p2p.token) })).status, 404, 'a member it did not match stays hidden');

    await run(process.execPath, [path.join(repoRoot, 'bin', 'payer-fhir.js'), 'consent', 'revoke', '--tenant', tenant, '--id', row.consent_id], { env: process.env });
    assert.equal((await http(`${base}/Patient/anna`, { headers: auth(p2p.token) })).status, 404, 'revoked: at once');
    const { stdout } = await run(process.execPath, [path.join(repoRoot, 'bin', 'payer-fhir.js'), 'consent', 'list', '--tenant', tenant, '--patient', 'anna'], { env: process.env });
    assert.match(stdout, new RegExp(`${row.consent_id}\\tinactive\\tpayer-to-payer\\tpermit`));

    await server.app.auditLog!.flush();
    const audit = await server.db.pool.query("SELECT status, resource_type, resource_id, resources FROM audit_event WHERE tenant = $1 AND interaction = 'member-match' AND status = 200", [tenant]);
    assert.deepEqual(audit.rows, [{ status: 200, resource_type: 'Patient', resource_id: 'anna', resources: '1' }]);
  });

  it('an internal client may match without a consent', async () => {
    const before = await consents();
    const r = await http(`${base}/Patient/$member-match`, { method: 'POST', body: memberMatchRequest(JO, null) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.parameter[1].valueReference, { reference: 'Patient/jo' });
    assert.equal(await consents(), before);
  });

  it('a CoverageToMatch with several member ids matches on any of them (looked up together)', async () => {
    const body = memberMatchRequest(JO, null);
    const coverage = body.parameter.find((p: { name: string }) => p.name === 'CoverageToMatch').resource;
    const mb = coverage.identifier[0];
    coverage.identifier = [{ ...mb, value: 'NOT-A-MEMBER-7' }, mb, { ...mb, value: 'NOT-A-MEMBER-8' }];
    const r = await http(`${base}/Patient/$member-match`, { method: 'POST', body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.parameter[1].valueReference, { reference: 'Patient/jo' });
    coverage.identifier = [{ ...mb, value: 'NOT-A-MEMBER-7' }, { ...mb, value: 'NOT-A-MEMBER-8' }];
    assert.equal((await http(`${base}/Patient/$member-match`, { method: 'POST', body })).status, 422);
  });
});
