// Partner access policies (CMS-0057-F Provider Access and Payer-to-Payer) over real HTTP,
// PostgreSQL and real tokens, on a small plan written for these tests (fixtures/partner-world):
// who is visible, which dates, money removed, labels withheld, and that no interaction —
// read, vread, history, search with _include/_revinclude/chains/_has, exports, AuditEvent —
// reaches a member outside the policy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { optOut, partnerWorldBundle, PROVIDER_A, sharedObservations } from './fixtures/partner-world.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { entryKeys as ids, moneyPaths, partnerExport, partnerWorldTenant, registerPartner, type Partner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';
import { loadConfig } from '../src/config.js';
import { parseSearch } from '../src/search/parse.js';
import { policyFilter } from '../src/search/policy-filter.js';
import { searchPage, type Cursor } from '../src/search/query.js';

describe('partner access policies', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let provider: Partner;
  let payer: Partner;

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ tenant, base, provider, payer } = await partnerWorldTenant(server, 'policy', 'system/*.rs system/AuditEvent.rs'));
  });
  after(() => server.close());

  const get = (p: Partner, path: string) => http(`${base}/${path}`, { headers: p.auth });

  describe('provider-access', () => {
    it('sees exactly its attributed members that did not opt out and whose attribution is in force', async () => {
      const r = await get(provider, 'Patient?_total=accurate&_count=50');
      assert.equal(r.status, 200);
      assert.deepEqual(ids(r.json), ['Patient/pa1']);
      assert.equal(r.json.total, 1);
      for (const id of ['pa2', 'pa3', 'pb1', 'pm1']) {
        const miss = await get(provider, `Patient/${id}`);
        assert.equal(miss.status, 404, id);
        assert.ok(isOperationOutcome(miss));
        assert.doesNotMatch(miss.text, /opt|attribut|policy/i, 'a 404 says nothing about why');
      }
      assert.equal((await get(provider, 'Patient/pa1')).status, 200);
      assert.equal((await get(provider, 'Patient/pa1/_history/1')).status, 200);
      assert.equal((await get(provider, 'Patient/pb1/_history/1')).status, 404);
    });

    it('sends data with dates of service on or after 2016-01-01 only', async () => {
      const r = await get(provider, 'Encounter?_count=50');
      assert.deepEqual(ids(r.json), ['Encounter/enc-pa1-2021']);
      assert.equal((await get(provider, 'Encounter/enc-pa1-2015')).status, 404);
      const eobs = await get(provider, 'ExplanationOfBenefit?patient=pa1');
      assert.deepEqual(ids(eobs.json), ['ExplanationOfBenefit/eob-pa1']);
    });

    it('serves ExplanationOfBenefit as its CARIN BB Basis profile, with no money anywhere', async () => {
      for (const r of [await get(provider, 'ExplanationOfBenefit/eob-pa1'), await get(provider, 'ExplanationOfBenefit?_id=eob-pa1')]) {
        assert.equal(r.status, 200);
        const eob = r.json.resourceType === 'Bundle' ? r.json.entry[0].resource : r.json;
        assert.deepEqual(moneyPaths(eob), []);
        assert.deepEqual(eob.meta.profile, ['http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Professional-NonClinician-Basis|2.1.0']);
        assert.equal(eob.item[0].adjudication.length, 1, 'the network-status adjudication stays');
      }
      const cov = await get(provider, 'Coverage/cov-pa1');
      assert.equal(cov.status, 200);
      assert.deepEqual(moneyPaths(cov.json), [], 'no member cost-sharing');
      // The payer's own systems still see the money.
      const internal = await http(`${base}/ExplanationOfBenefit/eob-pa1`);
      assert.ok(moneyPaths(internal.json).length > 0);
    });

    it('reads arriving together (coalesced into shared statements) each get the policy\'s own answer', async () => {
      // Sent at once, these reach the server in the same few event-loop turns and share statements
      // per policy and type (src/store/current-reads.ts): visible and hidden ids mixed, and an
      // internal client's reads of the same ids among them.
      const paths = ['Patient/pa1', 'Patient/pa2', 'Patient/pb1', 'Patient/pm1', 'Patient/none', 'Encounter/enc-pa1-2021', 'Encounter/enc-pa1-2015', 'Encounter/enc-pb1-2021', 'ExplanationOfBenefit/eob-pa1', 'ExplanationOfBenefit/eob-pa1-2014'];
      for (let round = 0; round < 3; round++) {
        const [mine, theirs] = await Promise.all([Promise.all(paths.map((p) => get(provider, p))), Promise.all(paths.map((p) => http(`${base}/${p}`)))]);
        assert.deepEqual(
          mine.map((r, i) => `${paths[i]} ${r.status}`),
          paths.map((p) => `${p} ${['Patient/pa1', 'Encounter/enc-pa1-2021', 'ExplanationOfBenefit/eob-pa1'].includes(p) ? 200 : 404}`),
        );
        assert.deepEqual(moneyPaths(mine[8].json), []);
        assert.deepEqual(
          theirs.map((r, i) => `${paths[i]} ${r.status}`),
          paths.map((p) => `${p} ${p === 'Patient/none' ? 404 : 200}`),
        );
        assert.ok(moneyPaths(theirs[8].json).length > 0, 'the internal read in the same turn keeps the money');
      }
    });

    it('_include, _revinclude, chains and _has reach no one outside the policy', async () => {
      const inc = await get(provider, 'Encounter?_include=Encounter:patient&_include=Encounter:participant&_count=50');
      assert.deepEqual(ids(inc.json), ['Encounter/enc-pa1-2021', 'Patient/pa1', 'Practitioner/prac-1']);
      const rev = await get(provider, 'Practitioner?_id=prac-1&_revinclude=Encounter:participant');
      assert.deepEqual(ids(rev.json), ['Encounter/enc-pa1-2021', 'Practitioner/prac-1']);
      const revPatient = await get(provider, 'Group?_revinclude=Encounter:subject&_count=50');
      assert.ok(!ids(revPatient.json).some((x) => x.startsWith('Encounter/') && x !== 'Encounter/enc-pa1-2021'));
      // Chains: the chained resource must itself be visible.
      assert.deepEqual(ids((await get(provider, 'Encounter?patient.family=Otherprovider')).json), []);
      assert.deepEqual(ids((await get(provider, 'Encounter?patient.family=Attributed')).json), ['Encounter/enc-pa1-2021']);
      // _has: asking about another member's encounters finds nothing (no oracle).
      assert.deepEqual(ids((await get(provider, 'Practitioner?_has:Encounter:participant:patient=pb1')).json), []);
      assert.deepEqual(ids((await get(provider, 'Practitioner?_has:Encounter:participant:patient=pa1')).json), ['Practitioner/prac-1']);
      const internal = await http(`${base}/Practitioner?_has:Encounter:participant:patient=pb1`);
      assert.deepEqual(ids(internal.json), ['Practitioner/prac-1'], 'the same search under internal finds it');
    });

    it('finds and reads only its own attribution lists; type and system history are refused', async () => {
      assert.deepEqual(ids((await get(provider, 'Group?_count=50')).json), ['Group/att-a', 'Group/draft-a']);
      assert.equal((await get(provider, 'Group/att-b')).status, 404);
      assert.equal((await get(provider, 'Consent/optout-pa2')).status, 404);
      const hist = await get(provider, 'Patient/_history');
      assert.equal(hist.status, 403);
      assert.ok(isOperationOutcome(hist));
      assert.equal((await get(provider, '_history')).status, 403);
    });

    it('Group export: the attributed members minus the opted-out, 2016 onwards, money-free; another provider\'s list is absent', async () => {
      const x = await partnerExport(provider, `${base}/Group/att-a/$export`);
      const got = x.resources.map((r) => `${r.resourceType}/${r.id}`).sort();
      assert.ok(got.includes('Patient/pa1'));
      for (const hidden of ['Patient/pa2', 'Patient/pa3', 'Patient/pb1', 'Encounter/enc-pa1-2015', 'Encounter/enc-pa2-2021', 'ExplanationOfBenefit/eob-pa1-2014']) assert.ok(!got.includes(hidden), hidden);
      assert.ok(got.includes('ExplanationOfBenefit/eob-pa1'));
      for (const r of x.resources) assert.deepEqual(moneyPaths(r), [], `${r.resourceType}/${r.id}`);
      const other = await http(`${base}/Group/att-b/$export`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...provider.auth } });
      assert.equal(other.status, 404);
      // Patient-level and system-level exports hold the same members.
      for (const url of [`${base}/Patient/$export`, `${base}/$export?_type=Patient,Encounter`]) {
        const all = await partnerExport(provider, url);
        const patients = all.resources.filter((r) => r.resourceType === 'Patient').map((r) => r.id);
        assert.deepEqual(patients, ['pa1'], url);
      }
    });

    it('an opt-out takes effect on the next request, and withdrawing it restores access', async () => {
      assert.equal((await http(`${base}/Consent/optout-pa1`, { method: 'PUT', body: optOut('optout-pa1', 'pa1', 'deny', '2025-01-01') })).status, 201);
      assert.equal((await get(provider, 'Patient/pa1')).status, 404);
      assert.deepEqual(ids((await get(provider, 'Encounter')).json), []);
      assert.equal((await http(`${base}/Consent/optin-pa1`, { method: 'PUT', body: optOut('optin-pa1', 'pa1', 'permit', '2026-01-01') })).status, 201);
      assert.equal((await get(provider, 'Patient/pa1')).status, 200);
    });

    it('SQL on FHIR views read under the policy: its members only, money removed', async () => {
      const view = {
        resourceType: 'ViewDefinition',
        status: 'active',
        resource: 'ExplanationOfBenefit',
        select: [{ column: [{ name: 'id', path: 'id' }, { name: 'paid', path: "payment.amount.value", type: 'decimal' }] }],
      };
      const r = await http(`${base}/ViewDefinition/$run`, {
        headers: provider.auth,
        body: { resourceType: 'Parameters', parameter: [{ name: 'viewResource', resource: view }, { name: '_format', valueCode: 'json' }] },
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, [{ id: 'eob-pa1', paid: null }]);
    });

    it('AuditEvent shows only its own records, and every record names the policy', async () => {
      await get(provider, 'Patient/pa1');
      // The trail is appended in groups; wait until the request above is there.
      let rows: any[] = [];
      for (let i = 0; i < 50 && !rows.length; i++) {
        ({ rows } = await server.db.pool.query(`SELECT policy FROM audit_event WHERE tenant = $1 AND client_id = $2 AND path LIKE '%/Patient/pa1'`, [tenant, provider.clientId]));
        if (!rows.length) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(rows.length > 0);
      for (const r of rows) assert.equal(r.policy, `provider-access ${PROVIDER_A.system}|${PROVIDER_A.value}`);
      const trail = await get(provider, 'AuditEvent?_count=200');
      assert.equal(trail.status, 200);
      const agents = new Set(trail.json.entry.map((e: any) => e.resource.agent[0].who.identifier?.value));
      assert.deepEqual([...agents], [provider.clientId]);
      assert.ok(trail.json.entry.some((e: any) => e.resource.agent[0].policy?.[0] === 'urn:payer-fhir:partner-policy:provider-access'));
    });
  });

  describe('payer-to-payer', () => {
    it('sees only members it matched that have a consent in force naming it', async () => {
      assert.deepEqual(ids((await get(payer, 'Patient?_count=50')).json), ['Patient/pm1', 'Patient/pm2']);
      assert.equal((await get(payer, 'Patient/pm3')).status, 404);
      assert.equal((await get(payer, 'Patient/pa1')).status, 404);
    });

    it('sends the five years before the request, and sensitive data only under a #sensitive consent', async () => {
      assert.deepEqual(ids((await get(payer, 'Encounter?_count=50')).json), ['Encounter/enc-pm1-new']);
      assert.deepEqual(ids((await get(payer, 'Condition?_count=50')).json), ['Condition/cond-pm2']);
      assert.equal((await get(payer, 'Condition/cond-pm1')).status, 404);
      const eob = await get(payer, 'ExplanationOfBenefit/eob-pm1');
      assert.equal(eob.status, 200);
      assert.deepEqual(moneyPaths(eob.json), []);
      const consents = await get(payer, 'Consent?_count=50');
      assert.deepEqual(ids(consents.json), ['Consent/consent-pm1', 'Consent/consent-pm2'], consents.text);
    });

    it('a revoked consent stops data at once', async () => {
      const consent = (await http(`${base}/Consent/consent-pm1`)).json;
      consent.status = 'inactive';
      assert.equal((await http(`${base}/Consent/consent-pm1`, { method: 'PUT', body: consent })).status, 200);
      assert.equal((await get(payer, 'Patient/pm1')).status, 404);
      assert.deepEqual(ids((await get(payer, 'Encounter?_count=50')).json), []);
      const x = await partnerExport(payer, `${base}/Patient/$export`);
      assert.deepEqual(x.resources.filter((r) => r.resourceType === 'Patient').map((r) => r.id), ['pm2']);
    });
  });

  describe('Provenance', () => {
    let tb: string;
    let tt: string;
    let p: Partner;
    const provenance = (id: string, targets: string[]) => ({
      resourceType: 'Provenance', id, recorded: '2024-01-01T00:00:00Z', target: targets.map((reference) => ({ reference })),
      agent: [{ who: { reference: 'Organization/org-a' } }],
    });
    before(async () => {
      ({ tenant: tt, base: tb } = await server.newTenant('policy-prov'));
      assert.equal((await http(tb, { body: partnerWorldBundle() })).status, 200);
      for (const r of [provenance('prov-new', ['Patient/pa1', 'Encounter/enc-pa1-2021']), provenance('prov-old', ['Patient/pa1', 'Encounter/enc-pa1-2015']), provenance('prov-patient', ['Patient/pa1'])]) {
        assert.equal((await http(`${tb}/Provenance/${r.id}`, { method: 'PUT', body: r })).status, 201);
      }
      p = await registerPartner(server.db.pool, server.origin, tt, 'provider-access', PROVIDER_A);
    });
    const pget = (path: string) => http(`${tb}/${path}`, { headers: p.auth });

    it('a Provenance goes only when every resource it targets does: search, read, _revinclude, $everything, export', async () => {
      assert.deepEqual(ids((await pget('Provenance?patient=pa1&_count=50')).json), ['Provenance/prov-new', 'Provenance/prov-patient']);
      assert.equal((await pget('Provenance/prov-old')).status, 404);
      assert.equal((await pget('Provenance/prov-new')).status, 200);
      const rev = await pget('Encounter?patient=pa1&_revinclude=Provenance:target');
      assert.deepEqual(ids(rev.json, 'Provenance'), ['Provenance/prov-new']);
      const all = await pget('Patient/pa1/$everything?_count=100');
      assert.equal(all.status, 200);
      assert.deepEqual(ids(all.json, 'Provenance'), ['Provenance/prov-new', 'Provenance/prov-patient']);
      const x = await partnerExport(p, `${tb}/Patient/$export?_type=Provenance`);
      assert.deepEqual(x.resources.map((r) => r.id).sort(), ['prov-new', 'prov-patient']);
      // The internal view of the same tenant has all three.
      assert.equal(ids((await http(`${tb}/Provenance?_count=50`)).json).length, 3);
    });
  });

  it('a search by one member checks the policy after the sort (patient hint): the same pages as checking every row first', async () => {
    const rule = { policy: { kind: 'provider-access' as const, clientId: provider.clientId, organization: PROVIDER_A }, now: new Date() };
    let pages = 0;
    let rows = 0;
    for (const patient of ['pa1', 'pa2', 'pa3', 'pb1']) {
      for (const type of ['Encounter', 'Observation', 'ExplanationOfBenefit', 'Coverage']) {
        for (const sort of [undefined, '-_lastUpdated']) {
          const plan = parseSearch([type], false, [['patient', patient], ['_count', '1'], ...(sort ? [['_sort', sort] as [string, string]] : [])], { defaultCount: 1, maxCount: 100, strict: false });
          let everyRow: Cursor | undefined;
          let late: Cursor | undefined;
          for (let i = 0; i < 10; i++) {
            const a = await searchPage(server.db.pool, tenant, plan, base, [policyFilter(rule, [type])], everyRow, true);
            const b = await searchPage(server.db.pool, tenant, plan, base, [policyFilter(rule, [type], patient)], late, true);
            assert.deepEqual([b.rows.map((r) => r.id), b.more, b.last], [a.rows.map((r) => r.id), a.more, a.last], `${type}?patient=${patient} ${sort ?? ''} page ${i}`);
            pages++;
            rows += a.rows.length;
            if (!a.more) break;
            everyRow = { q: '', k: a.last!, dir: 'next' };
            late = { q: '', k: b.last!, dir: 'next' };
          }
        }
      }
    }
    assert.ok(rows >= 6 && pages > rows, `${pages} pages, ${rows} rows`);
  });

  it('internal clients keep seeing everything', async () => {
    const r = await http(`${base}/Patient?_count=50`);
    assert.equal(ids(r.json).length, 7);
  });
});

// A provider-access Group export narrows each unit's members to those the policy admits, and a
// resource in several members' compartments goes with its first admitted member (src/bulk/
// unit-query.ts membersUnit), one member per unit here.
describe('provider-access Group export, one member per unit', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ export: { ...loadConfig().export, unitPatients: 1 } }, { workers: 2 });
  });
  after(() => server.close());

  it('a resource of a withheld member and an admitted one goes once, with the admitted member', async () => {
    const { tenant, base } = await server.newTenant('policy-units');
    assert.equal((await http(base, { body: partnerWorldBundle() })).status, 200);
    // pa1 (first in id order) opts out; pa2's opt-out is withdrawn: pa2 is admitted, pa1 is not.
    assert.equal((await http(`${base}/Consent/optout-pa1`, { method: 'PUT', body: optOut('optout-pa1', 'pa1', 'deny', '2025-01-01') })).status, 201);
    assert.equal((await http(`${base}/Consent/optin-pa2`, { method: 'PUT', body: optOut('optin-pa2', 'pa2', 'permit', '2026-01-01') })).status, 201);
    for (const o of sharedObservations()) assert.equal((await http(`${base}/Observation/${o.id}`, { method: 'PUT', body: o })).status, 201);
    const provider = await registerPartner(server.db.pool, server.origin, tenant, 'provider-access', PROVIDER_A);
    const x = await partnerExport(provider, `${base}/Group/att-a/$export?_type=Patient,Observation`);
    const got = x.resources.map((r) => `${r.resourceType}/${r.id}`);
    assert.deepEqual(got.filter((k) => k.startsWith('Patient/')).sort(), ['Patient/pa2']);
    assert.equal(got.filter((k) => k === 'Observation/obs-shared').length, 1, got.join(', '));
    assert.ok(!got.includes('Observation/obs-pa1-only'), 'the withheld member\'s own data stays out');
  });
});
