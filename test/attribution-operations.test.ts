/**
 * ATR list maintenance (issue 12 §4): `Group/[id]/$member-add`, `$member-remove`,
 * `$confirm-attribution-list` — each a new Group version through the normal write path (so
 * the provider's access follows at once), internal clients only, every bad input a precise
 * 4xx with nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { partnerToken, writePlan, type Member } from './helpers/member-match.js';
import { startServer, tenantRowCount, type TestServer } from './helpers/server.js';

const NPI = 'http://hl7.org/fhir/sid/us-npi';
const ATR = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/';
const CLINIC = { system: NPI, value: '1234567893' };
const ZOE: Member = { id: 'zoe', family: 'Adams', given: 'Zoe', birthDate: '1990-01-02', gender: 'female', memberId: 'MZ-1', subscriberId: 'SZ-1' };
const YAN: Member = { id: 'yan', family: 'Li', given: 'Yan', birthDate: '1985-03-04', gender: 'male', memberId: 'MY-1', subscriberId: 'SY-1' };

describe('ATR attribution list operations', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let provider: { token: string };
  const op = (name: string, body?: unknown, headers: Record<string, string> = {}) => http(`${base}/Group/list-1/$${name}`, { method: 'POST', body, headers });
  const params = (...parameter: unknown[]) => ({ resourceType: 'Parameters', parameter });
  const group = async () => (await http(`${base}/Group/list-1`)).json;
  const status = (g: any) => g.extension.find((e: any) => e.url === `${ATR}ext-attributionListStatus`).valueCode;

  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('atr'));
    await writePlan(base, [ZOE, YAN]);
    for (const r of [
      { resourceType: 'Organization', id: 'clinic', identifier: [CLINIC], name: 'Clinic' },
      { resourceType: 'Group', id: 'cohort', type: 'person', actual: true },
      {
        resourceType: 'Group',
        id: 'list-1',
        meta: { profile: [`${ATR}atr-group`] },
        extension: [{ url: `${ATR}ext-attributionListStatus`, valueCode: 'open' }],
        identifier: [CLINIC],
        type: 'person',
        actual: true,
        active: true,
      },
    ]) assert.ok((await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r })).status < 300);
    provider = await partnerToken(server.db.pool, server.origin, tenant, 'provider-access', CLINIC);
  });
  after(async () => server.close());

  it('$member-add by member id and NPI, then by references: the provider sees the member at once', async () => {
    assert.equal((await http(`${base}/Patient/zoe`, { headers: { authorization: `Bearer ${provider.token}` } })).status, 404);
    const r = await op('member-add', params(
      { name: 'memberId', valueIdentifier: { system: 'http://example.org/members', value: 'MZ-1' } },
      { name: 'providerNpi', valueIdentifier: CLINIC },
      { name: 'attributionPeriod', valuePeriod: { start: '2020-01-01' } },
      { name: 'coverageReference', valueReference: { reference: 'Coverage/cov-zoe' } },
    ));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.meta.versionId, '2');
    const entry = r.json.member[0];
    assert.equal(entry.entity.reference, 'Patient/zoe');
    assert.deepEqual(entry.period, { start: '2020-01-01' });
    assert.deepEqual(Object.fromEntries(entry.extension.map((e: any) => [e.url.slice(ATR.length), e.valueCode ?? e.valueReference.reference])), {
      'ext-changeType': 'new', 'ext-coverageReference': 'Coverage/cov-zoe', 'ext-attributedProvider': 'Organization/clinic',
    });
    assert.equal(r.json.quantity, 1);
    assert.equal((await http(`${base}/Patient/zoe`, { headers: { authorization: `Bearer ${provider.token}` } })).status, 200);

    const again = await op('member-add', params({ name: 'patientReference', valueReference: { reference: 'Patient/zoe' } }, { name: 'providerReference', valueReference: { reference: 'Organization/clinic' } }));
    assert.equal(again.status, 200);
    assert.equal(again.json.member.length, 1, 'the same member and provider: updated, not duplicated');
    assert.equal(again.json.member[0].extension[0].valueCode, 'changed');
  });

  it('$confirm-attribution-list makes it final; a later change reopens it', async () => {
    const r = await op('confirm-attribution-list');
    assert.equal(r.status, 200, r.text);
    assert.equal(status(r.json), 'final');
    const add = await op('member-add', params({ name: 'patientReference', valueReference: { reference: 'Patient/yan' } }, { name: 'providerNpi', valueIdentifier: CLINIC }));
    assert.equal(add.status, 200, add.text);
    assert.equal(status(add.json), 'open');
    assert.equal(add.json.quantity, 2);
  });

  it('$member-remove takes the member off: the provider loses it at once', async () => {
    const r = await op('member-remove', params({ name: 'patientReference', valueReference: { reference: 'Patient/zoe' } }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.member.map((m: any) => m.entity.reference), ['Patient/yan']);
    assert.equal((await http(`${base}/Patient/zoe`, { headers: { authorization: `Bearer ${provider.token}` } })).status, 404);
    const none = await op('member-remove', params({ name: 'patientReference', valueReference: { reference: 'Patient/zoe' } }));
    assert.equal(none.status, 422);
    assert.match(none.json.issue[0].diagnostics, /not on this attribution list/);
  });

  it('bad input: precise 4xx, nothing written; partners are refused', async () => {
    const before = await tenantRowCount(server.db, tenant);
    const v = (await group()).meta.versionId;
    const cases: [string, string, unknown, number, RegExp][] = [
      ['member-add', 'list-1', params({ name: 'patientReference', valueReference: { reference: 'Patient/yan' } }), 400, /providerNpi or providerReference is required/],
      ['member-add', 'list-1', params({ name: 'providerNpi', valueIdentifier: CLINIC }), 400, /memberId or patientReference is required/],
      ['member-add', 'list-1', params({ name: 'patientReference', valueReference: { reference: 'Patient/ghost' } }, { name: 'providerNpi', valueIdentifier: CLINIC }), 422, /does not exist/],
      ['member-add', 'list-1', params({ name: 'memberId', valueIdentifier: { value: 'NOBODY' } }, { name: 'providerNpi', valueIdentifier: CLINIC }), 422, /no resource carries/],
      ['member-add', 'list-1', params({ name: 'patientReference', valueReference: { reference: 'Patient/yan' } }, { name: 'providerNpi', valueIdentifier: { system: NPI, value: '9999999991' } }), 422, /no resource carries/],
      ['member-add', 'list-1', params({ name: 'patientReference', valueString: 'Patient/yan' }), 400, /must be a value of type Reference/],
      ['member-add', 'list-1', params({ name: 'unknown', valueString: 'x' }), 400, /unknown parameter 'unknown'/],
      ['member-add', 'list-1', params({ name: 'patientReference', valueReference: { reference: 'Patient/yan' } }, { name: 'memberId', valueIdentifier: { value: 'MY-1' } }, { name: 'providerNpi', valueIdentifier: CLINIC }), 400, /not both/],
      ['member-remove', 'list-1', params({ name: 'attributionPeriod', valuePeriod: { start: '2020-01-01' } }), 400, /unknown parameter 'attributionPeriod'/],
      ['confirm-attribution-list', 'list-1', params({ name: 'x', valueString: 'y' }), 400, /unknown parameter/],
      ['confirm-attribution-list', 'ghost', undefined, 404, /not known/],
      ['confirm-attribution-list', 'cohort', undefined, 422, /not an attribution list/],
    ];
    for (const [name, id, body, code, why] of cases) {
      const r = await http(`${base}/Group/${id}/$${name}`, { method: 'POST', body });
      assert.equal(r.status, code, `${name} ${JSON.stringify(body)}: ${r.text}`);
      assert.ok(isOperationOutcome(r));
      assert.match(r.text, why);
    }
    const denied = await http(`${base}/Group/list-1/$confirm-attribution-list`, { method: 'POST', headers: { authorization: `Bearer ${provider.token}` } });
    assert.equal(denied.status, 403);
    assert.equal(await tenantRowCount(server.db, tenant), before);
    assert.equal((await group()).meta.versionId, v);
    await server.app.auditLog!.flush();
    const audit = await server.db.pool.query("SELECT status, resource_type, resource_id FROM audit_event WHERE tenant = $1 AND interaction = 'attribution-change' AND status = 403", [tenant]);
    assert.deepEqual(audit.rows, [{ status: 403, resource_type: 'Group', resource_id: 'list-1' }]);
  });
});
