// CARIN Blue Button 2.1 ExplanationOfBenefit searches (payer-domain.md §2): type,
// service-date, service-start-date, billable-period-start and insurer, from the official
// CARIN definitions — exact id sets on purpose-built claims, near-misses excluded.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const CLAIM_TYPE = 'http://terminology.hl7.org/CodeSystem/claim-type';

function eob(id: string, type: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    resourceType: 'ExplanationOfBenefit',
    id,
    status: 'active',
    type: { coding: [{ system: CLAIM_TYPE, code: type }] },
    use: 'claim',
    patient: { reference: 'Patient/p1' },
    created: '2024-06-01T00:00:00Z',
    insurer: { reference: 'Organization/payer-a' },
    provider: { reference: 'Organization/clinic' },
    outcome: 'complete',
    insurance: [{ focal: true, coverage: { reference: 'Coverage/c1' } }],
    ...extra,
  };
}

describe('CARIN Blue Button ExplanationOfBenefit searches', () => {
  let server: TestServer;
  let base: string;
  const ids = async (query: string) => {
    const r = await http(`${base}/ExplanationOfBenefit?${query}`);
    assert.equal(r.status, 200, `${query}: ${r.text}`);
    return (r.json.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id).sort();
  };

  before(async () => {
    server = await startServer();
    ({ base } = await server.newTenant('carin'));
    const put = async (r: any) => {
      const res = await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r });
      assert.equal(res.status, 201, res.text);
    };
    await put({ resourceType: 'Organization', id: 'payer-a', name: 'Payer A' });
    await put({ resourceType: 'Organization', id: 'payer-b', name: 'Payer B' });
    // Institutional: dates from billablePeriod.
    await put(eob('inpatient', 'institutional', { billablePeriod: { start: '2024-01-10', end: '2024-01-14' } }));
    // Pharmacy: item.servicedDate, billablePeriod absent.
    await put(eob('pharmacy', 'pharmacy', { insurer: { reference: 'Organization/payer-b' }, item: [{ sequence: 1, productOrService: { text: 'drug' }, servicedDate: '2024-02-20' }] }));
    // Professional: item.servicedPeriod.
    await put(eob('professional', 'professional', { item: [{ sequence: 1, productOrService: { text: 'visit' }, servicedPeriod: { start: '2024-03-05', end: '2024-03-06' } }] }));
  });
  after(() => server.close());

  it('type: system|code and code', async () => {
    assert.deepEqual(await ids(`type=${CLAIM_TYPE}|pharmacy`), ['pharmacy']);
    assert.deepEqual(await ids('type=institutional,professional'), ['inpatient', 'professional']);
    assert.deepEqual(await ids('type=http://other.example|pharmacy'), []);
  });

  it('service-date: billablePeriod or item.serviced, whichever the claim type uses', async () => {
    // eq: the search range must contain the whole service range (R4 date semantics).
    assert.deepEqual(await ids('service-date=2024-01'), ['inpatient']);
    assert.deepEqual(await ids('service-date=2024-01-12'), [], 'a day inside a longer stay is not eq');
    assert.deepEqual(await ids('service-date=2024-02-20'), ['pharmacy']);
    assert.deepEqual(await ids('service-date=ge2024-02-01'), ['pharmacy', 'professional']);
    assert.deepEqual(await ids('service-date=lt2024-01-10'), []);
  });

  it('service-start-date: billablePeriod.start, item.servicedDate, item.servicedPeriod.start', async () => {
    assert.deepEqual(await ids('service-start-date=2024-01-10'), ['inpatient']);
    assert.deepEqual(await ids('service-start-date=2024-01-12'), [], 'inside the period but not its start');
    assert.deepEqual(await ids('service-start-date=2024-03-05'), ['professional']);
    assert.deepEqual(await ids('service-start-date=ge2024-02-01&service-start-date=le2024-02-28'), ['pharmacy']);
  });

  it('billable-period-start: only billablePeriod.start', async () => {
    assert.deepEqual(await ids('billable-period-start=ge2024-01-01'), ['inpatient']);
    assert.deepEqual(await ids('billable-period-start=2024-02-20'), []);
  });

  it('insurer and _include=ExplanationOfBenefit:insurer (C4BB SHALL)', async () => {
    assert.deepEqual(await ids('insurer=Organization/payer-b'), ['pharmacy']);
    const r = await http(`${base}/ExplanationOfBenefit?_id=pharmacy&_include=ExplanationOfBenefit:insurer`);
    const included = r.json.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
    assert.deepEqual(included, ['Organization/payer-b']);
  });

  it('the CapabilityStatement lists them with the CARIN canonicals', async () => {
    const cs = (await http(`${base}/metadata`)).json;
    const eobEntry = cs.rest[0].resource.find((r: any) => r.type === 'ExplanationOfBenefit');
    const byName = new Map(eobEntry.searchParam.map((p: any) => [p.name, p.definition]));
    for (const code of ['type', 'service-date', 'service-start-date', 'billable-period-start', 'insurer']) {
      assert.equal(byName.get(code), `http://hl7.org/fhir/us/carin-bb/SearchParameter/explanationofbenefit-${code}`);
    }
  });
});
