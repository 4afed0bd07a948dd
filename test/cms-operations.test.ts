// Patient/$everything (R4) and Group/$davinci-data-export (ATR 2.1.0 / PDex 2.1.0) over real
// HTTP, for the payer's own systems and under the provider-access policy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { partnerWorldBundle, PROVIDER_A } from './fixtures/partner-world.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { moneyPaths, partnerExport, registerPartner, type Partner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';

const keys = (list: any[]) => list.map((r) => `${r.resourceType}/${r.id}`).sort();

/** Every page of a searchset, following `next`; the matches and the includes. */
async function allPages(url: string, headers: Record<string, string> = {}): Promise<{ matches: any[]; included: any[]; pages: number }> {
  const matches: any[] = [];
  const included: any[] = [];
  let pages = 0;
  for (let next: string | undefined = url; next; pages++) {
    const r = await http(next, { headers });
    assert.equal(r.status, 200, r.text);
    for (const e of r.json.entry ?? []) (e.search.mode === 'match' ? matches : e.search.mode === 'include' ? included : []).push(e.resource);
    next = r.json.link.find((l: any) => l.relation === 'next')?.url;
  }
  return { matches, included, pages };
}

describe('CMS operations: $everything and $davinci-data-export', () => {
  let server: TestServer;
  let base: string;
  let provider: Partner;

  before(async () => {
    server = await startServer({}, { workers: 2 });
    let tenant: string;
    ({ tenant, base } = await server.newTenant('cmsops'));
    assert.equal((await http(base, { body: partnerWorldBundle() })).status, 200);
    provider = await registerPartner(server.db.pool, server.origin, tenant, 'provider-access', PROVIDER_A);
  });
  after(() => server.close());

  it('$everything: the patient, its compartment and the directory it references, paged', async () => {
    const { matches, included, pages } = await allPages(`${base}/Patient/pa1/$everything?_count=2`);
    assert.ok(pages >= 4, `paged (${pages})`);
    assert.deepEqual(keys(matches), [
      'Coverage/cov-pa1', 'Encounter/enc-pa1-2015', 'Encounter/enc-pa1-2021', 'ExplanationOfBenefit/eob-pa1', 'ExplanationOfBenefit/eob-pa1-2014',
      'Group/att-a', 'Observation/obs-pa1', 'Patient/pa1',
    ]);
    const dir = new Set(keys(included));
    for (const k of ['Practitioner/prac-1', 'Organization/org-a', 'Organization/payer']) assert.ok(dir.has(k), k);
    assert.ok(![...dir].some((k) => k.startsWith('Patient/') && k !== 'Patient/pa1'));
    const typed = await allPages(`${base}/Patient/pa1/$everything?_type=Encounter`);
    assert.deepEqual(keys(typed.matches), ['Encounter/enc-pa1-2015', 'Encounter/enc-pa1-2021']);
    const since = await allPages(`${base}/Patient/pa1/$everything?_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    assert.deepEqual(since.matches, []);
  });

  it('$everything: unknown patient 404, bad _type 400', async () => {
    const r = await http(`${base}/Patient/nobody/$everything`);
    assert.equal(r.status, 404);
    assert.ok(isOperationOutcome(r));
    assert.equal((await http(`${base}/Patient/pa1/$everything?_type=Practitioner`)).status, 400);
    assert.equal((await http(`${base}/Patient/pa1/$everything?_type=Nonsense`)).status, 400);
  });

  it('$everything under provider-access: the policy applies (dates, money, members)', async () => {
    const { matches, included } = await allPages(`${base}/Patient/pa1/$everything`, provider.auth);
    const got = keys(matches);
    assert.ok(got.includes('Encounter/enc-pa1-2021'));
    assert.ok(!got.includes('Encounter/enc-pa1-2015'));
    assert.ok(!got.includes('ExplanationOfBenefit/eob-pa1-2014'));
    for (const r of [...matches, ...included]) assert.deepEqual(moneyPaths(r), [], `${r.resourceType}/${r.id}`);
    for (const id of ['pa2', 'pb1']) assert.equal((await http(`${base}/Patient/${id}/$everything`, { headers: provider.auth })).status, 404);
  });

  it('$davinci-data-export: download, lastTransmitted on the list, then a delta with only what changed', async () => {
    const first = await partnerExport(provider, `${base}/Group/att-a/$davinci-data-export?exportType=${encodeURIComponent('hl7.fhir.us.davinci-pdex#provider-download')}`);
    assert.ok(keys(first.resources).includes('Patient/pa1'));
    assert.ok(keys(first.resources).includes('Encounter/enc-pa1-2021'));
    const group = (await http(`${base}/Group/att-a`)).json;
    const pa1 = group.member.find((m: any) => m.entity.reference === 'Patient/pa1');
    const stamp = pa1.extension.find((e: any) => e.url.endsWith('base-ext-last-transmission'));
    assert.equal(stamp.valueDateTime, first.manifest.transactionTime);
    const pa2 = group.member.find((m: any) => m.entity.reference === 'Patient/pa2');
    assert.ok(!(pa2.extension ?? []).some((e: any) => e.url.endsWith('base-ext-last-transmission')), 'an opted-out member was not transmitted');

    const obs = (await http(`${base}/Observation/obs-pa1`)).json;
    obs.valueQuantity.value = 6.4;
    assert.equal((await http(`${base}/Observation/obs-pa1`, { method: 'PUT', body: obs })).status, 200);
    const delta = await partnerExport(provider, `${base}/Group/att-a/$davinci-data-export`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'exportType', valueCanonical: 'hl7.fhir.us.davinci-pdex#provider-delta' }],
    });
    // The directory the data references comes along; of the members' own data only what changed.
    const directory = /^(Group|Organization|Practitioner)\//;
    assert.deepEqual(keys(delta.resources).filter((k) => !directory.test(k)), ['Observation/obs-pa1']);
  });

  it('$davinci-data-export with the ATR export type: the list, its members and their coverage', async () => {
    const x = await partnerExport(provider, `${base}/Group/att-a/$davinci-data-export?exportType=hl7.fhir.us.davinci-atr`);
    const got = keys(x.resources);
    assert.ok(got.includes('Group/att-a'));
    assert.ok(got.includes('Patient/pa1'));
    assert.ok(got.includes('Coverage/cov-pa1'));
    assert.ok(!got.some((k) => k.startsWith('Encounter/')));
    const bad = await http(`${base}/Group/att-a/$davinci-data-export?exportType=hl7.fhir.us.davinci-atr&_type=Patient`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...provider.auth } });
    assert.equal(bad.status, 400);
    const unknown = await http(`${base}/Group/att-a/$davinci-data-export?exportType=nonsense`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...provider.auth } });
    assert.equal(unknown.status, 400);
    assert.ok(isOperationOutcome(unknown));
    const other = await http(`${base}/Group/att-b/$davinci-data-export`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...provider.auth } });
    assert.equal(other.status, 404);
  });
});
