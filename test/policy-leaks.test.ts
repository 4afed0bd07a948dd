// Property test: for random members and random interactions, a partner reaches a member's data
// exactly when its policy allows that member — never through a side door (vread, history,
// _has, chains, _include, $everything, compartment search, a document's Binary, export with patient=).
// The expected answer comes from the members' generated attributes, not from the server's SQL.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { after, before, describe, it } from 'node:test';
import { attributionList, encounter, hrexConsent, NEW_PLAN, optOut, patient, PROVIDER_A } from './fixtures/partner-world.js';
import { http } from './helpers/http.js';
import { registerPartner, type Partner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';

interface Member {
  id: string;
  attributed: boolean;
  attributionEnded: boolean;
  optedOut: boolean;
  matched: boolean;
  consent: boolean;
}

/** 24 members covering every combination of the attributes, in a fixed order. */
function members(): Member[] {
  const out: Member[] = [];
  for (let i = 0; i < 24; i++) {
    out.push({ id: `m${i}`, attributed: (i & 1) === 1, attributionEnded: i % 6 === 5, optedOut: (i & 2) === 2, matched: (i & 4) === 4, consent: i % 3 !== 0 });
  }
  return out;
}

const visibleToProvider = (m: Member) => m.attributed && !m.attributionEnded && !m.optedOut;
const visibleToPayer = (m: Member) => m.matched && m.consent;

describe('policy leaks (property)', () => {
  let server: TestServer;
  let base: string;
  let provider: Partner;
  let payer: Partner;
  const list = members();

  before(async () => {
    server = await startServer({}, { workers: 1 });
    let tenant: string;
    ({ tenant, base } = await server.newTenant('leaks'));
    const year = new Date().getUTCFullYear();
    const resources: any[] = [{ resourceType: 'Practitioner', id: 'prac-1', name: [{ family: 'Healer' }] }];
    for (const m of list) {
      resources.push(patient(m.id, `Family${m.id}`), encounter(`enc-${m.id}`, m.id, `${year - 1}-02-03`));
      // A document with its attachment kept as a Binary (which goes where the document goes).
      resources.push(
        { resourceType: 'Binary', id: `note-${m.id}`, contentType: 'text/plain', data: Buffer.from(m.id).toString('base64') },
        {
          resourceType: 'DocumentReference', id: `doc-${m.id}`, status: 'current', subject: { reference: `Patient/${m.id}` }, date: `${year - 1}-02-03T00:00:00Z`,
          content: [{ attachment: { contentType: 'text/plain', url: `Binary/note-${m.id}` } }],
        },
      );
      if (m.optedOut) resources.push(optOut(`opt-${m.id}`, m.id, 'deny', '2024-01-01'));
      if (m.consent) resources.push(hrexConsent(`cons-${m.id}`, m.id, 'sensitive'));
    }
    resources.push(attributionList('list-a', PROVIDER_A, 'final', list.filter((m) => m.attributed).map((m) => [m.id, '2019-01-01', m.attributionEnded ? `${year - 1}-01-01` : undefined])));
    const load = await http(base, { body: { resourceType: 'Bundle', type: 'batch', entry: resources.map((r) => ({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })) } });
    assert.equal(load.status, 200);
    provider = await registerPartner(server.db.pool, server.origin, tenant, 'provider-access', PROVIDER_A);
    payer = await registerPartner(server.db.pool, server.origin, tenant, 'payer-to-payer', NEW_PLAN);
    await server.db.pool.query(`INSERT INTO member_match (tenant, client_id, patient_id) SELECT $1, $2, unnest($3::text[])`, [tenant, payer.clientId, list.filter((m) => m.matched).map((m) => m.id)]);
  });
  after(() => server.close());

  /** Each interaction answers whether it revealed the member (true) or treated it as absent (false). */
  const interactions: Record<string, (p: Partner, m: Member) => Promise<boolean>> = {
    read: async (p, m) => (await http(`${base}/Patient/${m.id}`, { headers: p.auth })).status === 200,
    vread: async (p, m) => (await http(`${base}/Encounter/enc-${m.id}/_history/1`, { headers: p.auth })).status === 200,
    history: async (p, m) => (await http(`${base}/Patient/${m.id}/_history`, { headers: p.auth })).status === 200,
    searchId: async (p, m) => (await http(`${base}/Patient?_id=${m.id}`, { headers: p.auth })).json.entry?.length > 0,
    searchPatient: async (p, m) => (await http(`${base}/Encounter?patient=${m.id}`, { headers: p.auth })).json.entry?.length > 0,
    compartment: async (p, m) => (await http(`${base}/Patient/${m.id}/Encounter`, { headers: p.auth })).json.entry?.length > 0,
    chain: async (p, m) => (await http(`${base}/Encounter?patient.family:exact=Family${m.id}`, { headers: p.auth })).json.entry?.length > 0,
    has: async (p, m) => (await http(`${base}/Patient?_has:Encounter:patient:_id=enc-${m.id}`, { headers: p.auth })).json.entry?.length > 0,
    hasOracle: async (p, m) => (await http(`${base}/Practitioner?_has:Encounter:participant:patient=${m.id}`, { headers: p.auth })).json.entry?.length > 0,
    include: async (p, m) =>
      ((await http(`${base}/Encounter?_id=enc-${m.id}&_include=Encounter:patient`, { headers: p.auth })).json.entry ?? []).some((e: any) => e.resource.id === m.id),
    revinclude: async (p, m) =>
      ((await http(`${base}/Practitioner?_revinclude=Encounter:participant&_count=100`, { headers: p.auth })).json.entry ?? []).some((e: any) => e.resource.id === `enc-${m.id}`),
    everything: async (p, m) => (await http(`${base}/Patient/${m.id}/$everything`, { headers: p.auth })).status === 200,
    binary: async (p, m) => (await http(`${base}/Binary/note-${m.id}`, { headers: p.auth })).status === 200,
    binarySearch: async (p, m) => (await http(`${base}/Binary?_id=note-${m.id}`, { headers: p.auth })).json.entry?.length > 0,
  };

  it('no interaction reveals a member outside the policy, and each reveals one inside it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...list), fc.constantFrom(...Object.keys(interactions)), fc.boolean(), async (m, name, asProvider) => {
        const p = asProvider ? provider : payer;
        const expected = asProvider ? visibleToProvider(m) : visibleToPayer(m);
        const got = await interactions[name](p, m);
        assert.equal(got, expected, `${asProvider ? 'provider' : 'payer'} ${name} ${JSON.stringify(m)}`);
      }),
      { numRuns: 80, seed: 20270101 },
    );
  });

  it('exports with patient= hold exactly the allowed members', async () => {
    const ids = list.map((m) => m.id);
    for (const [p, allowed] of [[provider, list.filter(visibleToProvider)], [payer, list.filter(visibleToPayer)]] as const) {
      const k = await http(`${base}/Patient/$export`, {
        headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...p.auth },
        body: { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, ...ids.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } }))] },
      });
      // Members outside the policy are unknown to the partner: refused as unknown patients, in the same words as ids that do not exist.
      assert.equal(k.status, 400, k.text);
      assert.match(k.text, /is not known/);
      const only = await http(`${base}/Patient/$export`, {
        headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...p.auth },
        body: { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, ...allowed.map((m) => ({ name: 'patient', valueReference: { reference: `Patient/${m.id}` } }))] },
      });
      assert.equal(only.status, 202, only.text);
      await http(only.headers.get('content-location')!, { method: 'DELETE', headers: p.auth });
    }
  });
});
