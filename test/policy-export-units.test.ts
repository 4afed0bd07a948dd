// A provider-access export re-checks the policy when each unit runs, not only at kick-off: a
// member who opts out after kick-off gets nothing more, and a resource shared with a member
// still admitted goes once, with that member (src/bulk/unit-query.ts membersUnit: the
// first-member rule counts admitted members only). The kick-off is taken by a server without
// workers, the opt-out written, and only then a second server on the same database and
// export storage runs the units — one member per unit, so the two members fall in two units.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { optOut, partnerWorldBundle, PROVIDER_A, sharedObservations } from './fixtures/partner-world.js';
import { http } from './helpers/http.js';
import { registerPartner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';
import { loadConfig } from '../src/config.js';

describe('provider-access export units re-check the policy as they run', () => {
  let kickoff: TestServer;
  let workers: TestServer | undefined;
  before(async () => {
    kickoff = await startServer({ export: { ...loadConfig().export, unitPatients: 1 } }, { workers: 0 });
  });
  after(async () => {
    await workers?.close();
    await kickoff.close();
  });

  it('a member opted out after kick-off: nothing of theirs, and the resource they share with an admitted member goes once', async () => {
    const { tenant, base } = await kickoff.newTenant('policy-late');
    assert.equal((await http(base, { body: partnerWorldBundle() })).status, 200);
    // pa2's opt-out is withdrawn, so at kick-off both pa1 and pa2 are admitted (pa3's attribution has ended).
    assert.equal((await http(`${base}/Consent/optin-pa2`, { method: 'PUT', body: optOut('optin-pa2', 'pa2', 'permit', '2026-01-01') })).status, 201);
    for (const o of sharedObservations()) assert.equal((await http(`${base}/Observation/${o.id}`, { method: 'PUT', body: o })).status, 201);
    const provider = await registerPartner(kickoff.db.pool, kickoff.origin, tenant, 'provider-access', PROVIDER_A);

    const k = await http(`${base}/Group/att-a/$export?_type=Patient,Observation`, { headers: { ...provider.auth, accept: 'application/fhir+json', prefer: 'respond-async' } });
    assert.equal(k.status, 202, k.text);
    const statusUrl = k.headers.get('content-location')!;
    const jobId = statusUrl.split('/').pop()!;
    const { rows: members } = await kickoff.db.pool.query<{ patient_id: string }>(`SELECT patient_id FROM export_member WHERE job_id = $1 ORDER BY 1`, [jobId]);
    assert.deepEqual(members.map((m) => m.patient_id), ['pa1', 'pa2'], 'both members admitted at kick-off');
    assert.equal((await http(statusUrl, { headers: provider.auth })).status, 202, 'no unit has run');

    // pa1 opts out after kick-off; then the units run.
    assert.equal((await http(`${base}/Consent/optout-pa1`, { method: 'PUT', body: optOut('optout-pa1', 'pa1', 'deny', '2025-01-01') })).status, 201);
    workers = await startServer({ export: { ...kickoff.config.export } }, { workers: 2 });

    let status = await http(statusUrl, { headers: provider.auth });
    for (const deadline = Date.now() + 120_000; status.status === 202; status = await http(statusUrl, { headers: provider.auth })) {
      assert.ok(Date.now() < deadline, 'export did not finish in time');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status.status, 200, status.text);
    // Two member units per type, split at pa2 (unitPatients 1), so obs-shared is judged in both.
    const { rows: units } = await kickoff.db.pool.query(`SELECT lo, hi FROM export_unit WHERE job_id = $1 AND kind = 'members' AND type = 'Observation' ORDER BY seq`, [jobId]);
    assert.deepEqual(units, [{ lo: null, hi: 'pa2' }, { lo: 'pa2', hi: null }]);
    const got: string[] = [];
    for (const item of status.json.output as { url: string }[]) {
      const r = await http(item.url, { headers: { ...provider.auth, accept: 'application/fhir+ndjson' } });
      assert.equal(r.status, 200, r.text);
      for (const line of r.text.split('\n')) if (line) got.push(`${JSON.parse(line).resourceType}/${JSON.parse(line).id}`);
    }
    assert.deepEqual(got.filter((x) => x.startsWith('Patient/')), ['Patient/pa2']);
    assert.equal(got.filter((x) => x === 'Observation/obs-shared').length, 1, got.join(', '));
    assert.ok(!got.includes('Observation/obs-pa1-only'), "the opted-out member's own data stays out");
    assert.ok(!got.includes('Patient/pa1'));
  });
});
