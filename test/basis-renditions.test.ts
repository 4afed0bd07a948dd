// Stored Basis renditions (migration 17, src/store/migration-basis.ts): what a partner receives
// of ExplanationOfBenefit, Claim, ClaimResponse and Coverage is rendered once when they are
// written. These tests hold every path that serves the stored rendition — read, search page,
// export (per type and organized by patient) — to exactly the bytes src/policy/basis.ts
// `withoutFinancialsJson` makes of the stored JSON, on varied shapes, both for rows written
// with a rendition and for rows written before renditions were stored (basis NULL).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withoutFinancialsJson } from '../src/policy/basis.js';
import { backfillBasis } from '../src/store/basis-backfill.js';
import { partnerWorldBundle, PROVIDER_A } from './fixtures/partner-world.js';
import { http } from './helpers/http.js';
import { moneyPaths, partnerExport, registerPartner, type Partner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';

const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
const money = (value: number) => ({ value, currency: 'USD' });
const cat = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/adjudication', code }] });
const status = { category: { coding: [{ system: 'http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator', code: 'benefitpaymentstatus' }] }, reason: { coding: [{ code: 'innetwork' }] } };
const moneyExt = (value: number) => ({ url: 'http://example.org/fhir/StructureDefinition/allowed-amount', valueMoney: money(value) });
const noteExt = { url: 'http://example.org/fhir/StructureDefinition/note', valueString: 'kept' };
const cpt = (code: string) => ({ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code }] });

/** Financial resources of member pa1 (attributed to provider A), in shapes that exercise every rule of withoutFinancials. */
function shapes(): any[] {
  const base = (id: string, profile?: string[]) => ({
    resourceType: 'ExplanationOfBenefit',
    id,
    ...(profile ? { meta: { profile } } : {}),
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'institutional' }] },
    use: 'claim',
    patient: { reference: 'Patient/pa1' },
    billablePeriod: { start: '2023-04-01', end: '2023-04-05' },
    created: '2023-04-06T10:00:00Z',
    insurer: { reference: 'Organization/payer' },
    provider: { reference: 'Organization/org-a' },
    outcome: 'complete',
    insurance: [{ focal: true, coverage: { reference: 'Coverage/cov-pa1' } }],
  });
  return [
    {
      ...base('eob-shape-lines', [`${C4BB}C4BB-ExplanationOfBenefit-Inpatient-Institutional|2.1.0`, `${C4BB}C4BB-ExplanationOfBenefit-Inpatient-Institutional-Basis|2.1.0`, 'http://example.org/other']),
      extension: [moneyExt(10.5), noteExt],
      modifierExtension: [{ url: 'http://example.org/fhir/StructureDefinition/mod-money', valueMoney: money(3) }],
      adjudication: [{ category: cat('submitted'), amount: money(1000.25) }, status],
      item: [
        {
          sequence: 1,
          extension: [moneyExt(7)],
          productOrService: cpt('99223'),
          servicedDate: '2023-04-01',
          unitPrice: money(400),
          net: money(800),
          quantity: { value: 2 },
          adjudication: [{ category: cat('submitted'), amount: money(800) }, status, { category: cat('eligpercent'), value: 80 }],
          detail: [
            {
              sequence: 1,
              productOrService: cpt('99224'),
              net: money(300),
              adjudication: [{ category: cat('benefit'), amount: money(240) }],
              subDetail: [{ sequence: 1, productOrService: cpt('99225'), unitPrice: money(50), net: money(50), adjudication: [{ category: cat('copay'), amount: money(10) }, status] }],
            },
          ],
        },
        { sequence: 2, productOrService: cpt('99231'), servicedPeriod: { start: '2023-04-02', end: '2023-04-03' }, adjudication: [status] },
      ],
      addItem: [{ productOrService: cpt('99232'), net: money(20), adjudication: [{ category: cat('submitted'), amount: money(20) }], detail: [{ productOrService: cpt('99233'), net: money(5) }] }],
      total: [{ category: cat('submitted'), amount: money(1000.25) }, { category: cat('benefit'), amount: money(800) }],
      payment: { type: { coding: [{ code: 'complete' }] }, date: '2023-05-01', amount: money(800) },
      benefitBalance: [{ category: { coding: [{ code: '1' }] }, financial: [{ type: { coding: [{ code: 'benefit' }] }, usedMoney: money(800) }] }],
    },
    { ...base('eob-shape-plain'), item: [{ sequence: 1, productOrService: cpt('99213'), servicedDate: '2023-04-01', adjudication: [{ category: cat('submitted'), amount: money(1) }] }] },
    {
      ...base('eob-shape-pharmacy', [`${C4BB}C4BB-ExplanationOfBenefit-Pharmacy`, `${C4BB}C4BB-ExplanationOfBenefit`]),
      adjudication: [{ category: cat('submitted'), amount: money(5) }],
      total: [{ category: cat('submitted'), amount: money(5) }],
    },
    {
      resourceType: 'Claim',
      id: 'claim-shape',
      extension: [moneyExt(1)],
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: 'Patient/pa1' },
      created: '2023-04-06',
      provider: { reference: 'Organization/org-a' },
      priority: { coding: [{ code: 'normal' }] },
      insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/cov-pa1' } }],
      item: [{ sequence: 1, productOrService: cpt('99213'), unitPrice: money(60), net: money(120), quantity: { value: 2 }, detail: [{ sequence: 1, productOrService: cpt('99214'), net: money(40) }] }],
      total: money(120),
    },
    {
      resourceType: 'ClaimResponse',
      id: 'claimresponse-shape',
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: 'Patient/pa1' },
      created: '2023-04-07',
      insurer: { reference: 'Organization/payer' },
      outcome: 'complete',
      item: [{ itemSequence: 1, adjudication: [{ category: cat('benefit'), amount: money(90) }, status] }],
      addItem: [{ productOrService: cpt('99215'), net: money(15), adjudication: [{ category: cat('benefit'), amount: money(15) }] }],
      total: [{ category: cat('benefit'), amount: money(105) }],
      payment: { type: { coding: [{ code: 'complete' }] }, amount: money(105) },
    },
    {
      resourceType: 'Coverage',
      id: 'cov-shape',
      status: 'active',
      beneficiary: { reference: 'Patient/pa1' },
      payor: [{ reference: 'Organization/payer' }],
      costToBeneficiary: [{ type: { coding: [{ code: 'copay' }] }, valueMoney: money(20), exception: [{ type: { coding: [{ code: 'retired' }] } }] }, { valueQuantity: { value: 20, unit: '%' } }],
    },
    { resourceType: 'Coverage', id: 'cov-shape-plain', status: 'active', beneficiary: { reference: 'Patient/pa1' }, payor: [{ reference: 'Organization/payer' }] },
  ];
}

describe('stored Basis renditions', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  let provider: Partner;
  /** `Type/id` → what the Node rendering makes of the stored JSON. */
  let expected: Map<string, string>;

  const financialKeys = () => [...expected.keys()];

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ tenant, base } = await server.newTenant('basis'));
    const world = partnerWorldBundle();
    world.entry.push(...shapes().map((r) => ({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })));
    const load = await http(base, { body: world });
    assert.equal(load.status, 200, load.text);
    for (const e of load.json.entry) assert.match(e.response.status, /^20[01]/, JSON.stringify(e.response));
    // A second version of one, so a rendition also moves to history with its row.
    const again = shapes()[0];
    again.item[1].adjudication.push({ category: cat('deductible'), amount: money(2) });
    assert.equal((await http(`${base}/ExplanationOfBenefit/eob-shape-lines`, { method: 'PUT', body: again })).status, 200);
    provider = await registerPartner(server.db.pool, server.origin, tenant, 'provider-access', PROVIDER_A, 'system/*.rs');
    const { rows } = await server.db.pool.query<{ type: string; id: string; content: string }>(
      `SELECT type, id, content FROM resource WHERE tenant = $1 AND type IN ('ExplanationOfBenefit', 'Claim', 'ClaimResponse', 'Coverage') AND id IN ('eob-pa1', 'cov-pa1', ${shapes().map((r) => `'${r.id}'`).join(', ')})`,
      [tenant],
    );
    expected = new Map(rows.map((r) => [`${r.type}/${r.id}`, withoutFinancialsJson(r.type, r.content)]));
    assert.equal(expected.size, shapes().length + 2);
  });
  after(() => server.close());

  it('each financial version is stored with the rendition withoutFinancials makes of it; other types with none', async () => {
    for (const table of ['resource', 'resource_history']) {
      const { rows } = await server.db.pool.query<{ type: string; content: string | null; basis: string | null }>(`SELECT type, content, basis FROM ${table} WHERE tenant = $1`, [tenant]);
      assert.ok(rows.length > 0, table);
      for (const r of rows) {
        if (['ExplanationOfBenefit', 'Claim', 'ClaimResponse', 'Coverage'].includes(r.type) && r.content !== null) assert.equal(r.basis, withoutFinancialsJson(r.type, r.content), `${table} ${r.type}`);
        else assert.equal(r.basis, null, `${table} ${r.type}`);
      }
    }
    const { rows } = await server.db.pool.query(`SELECT 1 FROM resource_history WHERE tenant = $1 AND id = 'eob-shape-lines' AND basis IS NOT NULL`, [tenant]);
    assert.equal(rows.length, 1);
    // The renditions are what the rule asks for (the rule itself is tested in partner-policy.test).
    for (const json of expected.values()) assert.deepEqual(moneyPaths(JSON.parse(json)), []);
    assert.deepEqual(JSON.parse(expected.get('ExplanationOfBenefit/eob-shape-lines')!).meta.profile, [
      `${C4BB}C4BB-ExplanationOfBenefit-Inpatient-Institutional-Basis|2.1.0`,
      'http://example.org/other',
    ]);
  });

  for (const stored of ['stored renditions', 'rows written before renditions were stored']) {
    describe(stored, () => {
      before(async () => {
        if (stored !== 'stored renditions') await server.db.pool.query('UPDATE resource SET basis = NULL WHERE tenant = $1', [tenant]);
      });

      it('read: exactly the Node rendering of the stored JSON', async () => {
        for (const key of financialKeys()) {
          const r = await http(`${base}/${key}`, { headers: provider.auth });
          assert.equal(r.status, 200, key);
          assert.equal(r.text, expected.get(key), key);
        }
      });

      it('search: every match exactly the Node rendering', async () => {
        for (const type of ['ExplanationOfBenefit', 'Claim', 'ClaimResponse', 'Coverage']) {
          const r = await http(`${base}/${type}?patient=pa1&_count=50`, { headers: provider.auth });
          assert.equal(r.status, 200, r.text);
          const want = financialKeys().filter((k) => k.startsWith(`${type}/`));
          assert.ok(want.length > 0);
          for (const key of want) assert.ok(r.text.includes(`"resource":${expected.get(key)}`), `${key} in ${type} search`);
        }
      });

      if (stored !== 'stored renditions') {
        it('the backfill stores the missing renditions (and records that it ran)', async () => {
          await server.db.pool.query(`DELETE FROM server_setting WHERE name = 'basis_backfill_done'`);
          await server.db.pool.query(`UPDATE resource_history SET basis = NULL WHERE tenant = $1`, [tenant]);
          await backfillBasis(server.db.pool, () => undefined);
          for (const table of ['resource', 'resource_history']) {
            const { rows } = await server.db.pool.query<{ type: string; content: string; basis: string | null }>(
              `SELECT type, content, basis FROM ${table} WHERE tenant = $1 AND type IN ('ExplanationOfBenefit', 'Claim', 'ClaimResponse', 'Coverage') AND content IS NOT NULL`,
              [tenant],
            );
            assert.ok(rows.length > 0);
            for (const r of rows) assert.equal(r.basis, withoutFinancialsJson(r.type, r.content), `${table} ${r.type}`);
          }
          assert.equal((await server.db.pool.query(`SELECT 1 FROM server_setting WHERE name = 'basis_backfill_done'`)).rows.length, 1);
          // Back to the state this group tests.
          await server.db.pool.query('UPDATE resource SET basis = NULL WHERE tenant = $1', [tenant]);
        });
      }

      for (const organized of [false, true]) {
        it(`Group export${organized ? ' organized by patient' : ''}: every financial line exactly the Node rendering`, async () => {
          const x = await partnerExport(provider, `${base}/Group/att-a/$export${organized ? '?organizeOutputBy=Patient' : ''}`);
          const lines = new Map(x.resources.filter((r) => expected.has(`${r.resourceType}/${r.id}`)).map((r) => [`${r.resourceType}/${r.id}`, JSON.stringify(r)]));
          assert.deepEqual([...lines.keys()].sort(), financialKeys().sort());
          for (const [key, line] of lines) assert.equal(line, expected.get(key), key);
        });
      }
    });
  }
});
