// Search parameter semantics on purpose-built fixtures: date ranges per prefix, token
// system/code forms, string modifiers, reference forms, chains and _has, includes, sorting,
// keyset paging, GET vs POST, unknown and malformed parameters, granular scopes, and a
// property test throwing hostile parameters (never a 500).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { after, before, describe, it } from 'node:test';
import { reindex, INDEX_TABLES } from '../src/store/search-index.js';
import { tokenFor } from './helpers/auth.js';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

async function ids(url: string, init: Parameters<typeof http>[1] = {}): Promise<string[]> {
  const r = await http(url, init);
  assert.equal(r.status, 200, `${url}: ${r.text}`);
  assertValidR4(r.json);
  return (r.json.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id).sort();
}

const LOINC = 'http://loinc.org';
const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';

describe('search parameters', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant } = await server.newTenant('search'));
    const put = async (r: any) => {
      const res = await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r });
      assert.ok(res.status < 300, res.text);
    };
    await put({ resourceType: 'Organization', id: 'org1', name: 'Acme Health' });
    await put({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Müller', given: ['Zoë'] }], gender: 'female', birthDate: '1980-03-15', managingOrganization: { reference: 'Organization/org1' }, identifier: [{ system: 'urn:mrn', value: 'A1', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }] });
    await put({ resourceType: 'Patient', id: 'p2', name: [{ family: 'Mullerton' }], gender: 'male', birthDate: '1980', identifier: [{ value: 'A1' }] });
    await put({ resourceType: 'Patient', id: 'p3', name: [{ family: 'Smith' }], gender: 'male', birthDate: '1980-03', identifier: [{ system: 'urn:other', value: 'A1' }] });
    const obs = (id: string, subject: string, code: string, date: any, value?: number, cat = 'laboratory') => ({
      resourceType: 'Observation', id, status: 'final', category: [{ coding: [{ system: CAT, code: cat }] }],
      code: { coding: [{ system: LOINC, code }], text: `Code ${code}` }, subject: { reference: subject }, ...date,
      ...(value !== undefined ? { valueQuantity: { value, system: 'http://unitsofmeasure.org', code: 'mg' } } : {}),
    });
    await put(obs('o1', 'Patient/p1', '111-1', { effectiveDateTime: '2021-06-15T10:00:00Z' }, 5));
    await put(obs('o2', 'Patient/p1', '222-2', { effectiveDateTime: '2021-06' }, 10, 'vital-signs'));
    await put(obs('o3', 'Patient/p2', '111-1', { effectivePeriod: { start: '2021-06-10', end: '2021-06-20' } }, 100));
    await put(obs('o4', 'Patient/p3', '111-1', { effectivePeriod: { start: '2022-01-01' } }));
    await put(obs('o5', `${base}/Patient/p2`, '333-3', { effectiveDateTime: '2020' }, 0.5));
  });
  after(() => server.close());

  it('date prefixes with range semantics (dateTime, partial dates, Periods, open Periods)', async () => {
    const table: [string, string[]][] = [
      ['2021-06-15', ['o1']],
      ['eq2021-06', ['o1', 'o2', 'o3']],
      ['2021', ['o1', 'o2', 'o3']],
      ['ne2021', ['o4', 'o5']],
      ['gt2021-06-15', ['o2', 'o3', 'o4']],
      ['lt2021-06-15', ['o2', 'o3', 'o5']],
      ['ge2021-06-15', ['o1', 'o2', 'o3', 'o4']],
      ['le2021-06-15', ['o1', 'o2', 'o3', 'o5']],
      ['sa2021-06-30', ['o4']],
      ['eb2021-06-01', ['o5']],
      ['ge2030', ['o4']],
      ['2021-06-15T10:00:00Z', ['o1']],
      ['2021-06-15T10:00:00+02:00', []],
    ];
    for (const [value, expected] of table) assert.deepEqual(await ids(`${base}/Observation?date=${encodeURIComponent(value)}`), expected, value);
    assert.deepEqual(await ids(`${base}/Observation?date=ge2021-06-01&date=lt2021-07`), ['o1', 'o2', 'o3']);
    // ap widens by 10% of the distance from now, so only the certain part is asserted.
    const ap = await ids(`${base}/Observation?date=ap2021-06-15`);
    for (const id of ['o1', 'o2', 'o3']) assert.ok(ap.includes(id), id);
    assert.deepEqual(await ids(`${base}/Patient?birthdate=1980-03`), ['p1', 'p3']);
    assert.deepEqual(await ids(`${base}/Patient?birthdate=1980-03-15`), ['p1']);
  });

  it('token forms: code, system|code, |code, system|, :not, :text, :missing, identifier :of-type', async () => {
    assert.deepEqual(await ids(`${base}/Patient?identifier=A1`), ['p1', 'p2', 'p3']);
    assert.deepEqual(await ids(`${base}/Patient?identifier=urn:mrn|A1`), ['p1']);
    assert.deepEqual(await ids(`${base}/Patient?identifier=|A1`), ['p2']);
    assert.deepEqual(await ids(`${base}/Patient?identifier=urn:other|`), ['p3']);
    assert.deepEqual(await ids(`${base}/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A1`), ['p1']);
    assert.deepEqual(await ids(`${base}/Observation?code=${LOINC}|111-1`), ['o1', 'o3', 'o4']);
    assert.deepEqual(await ids(`${base}/Observation?code=http://snomed.info/sct|111-1`), []);
    assert.deepEqual(await ids(`${base}/Observation?code=111-1,333-3`), ['o1', 'o3', 'o4', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?code:not=111-1`), ['o2', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?code:text=code 22`), ['o2']);
    assert.deepEqual(await ids(`${base}/Observation?value-quantity:missing=true`), ['o4']);
    assert.deepEqual(await ids(`${base}/Observation?category=vital-signs&code=222-2`), ['o2']);
    assert.deepEqual(await ids(`${base}/Observation?category=vital-signs&code=111-1`), []);
  });

  it('string: starts-with, case- and accent-insensitive; :exact; :contains', async () => {
    assert.deepEqual(await ids(`${base}/Patient?family=muller`), ['p1', 'p2']);
    assert.deepEqual(await ids(`${base}/Patient?given=zoe`), ['p1']);
    assert.deepEqual(await ids(`${base}/Patient?family:exact=Müller`), ['p1']);
    assert.deepEqual(await ids(`${base}/Patient?family:exact=muller`), []);
    assert.deepEqual(await ids(`${base}/Patient?family:contains=LLER`), ['p1', 'p2']);
    assert.deepEqual(await ids(`${base}/Patient?family=%25`), []);
  });

  it('references: Type/id, id, absolute URL on this base, :Type; quantity and number prefixes', async () => {
    assert.deepEqual(await ids(`${base}/Observation?subject=Patient/p2`), ['o3', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?subject=p2`), ['o3', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?subject=${encodeURIComponent(`${base}/Patient/p2`)}`), ['o3', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?subject:Patient=p1`), ['o1', 'o2']);
    assert.deepEqual(await ids(`${base}/Observation?subject:Group=p1`), []);
    assert.deepEqual(await ids(`${base}/Observation?value-quantity=10`), ['o2']);
    assert.deepEqual(await ids(`${base}/Observation?value-quantity=gt9`), ['o2', 'o3']);
    assert.deepEqual(await ids(`${base}/Observation?value-quantity=le5|http://unitsofmeasure.org|mg`), ['o1', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?value-quantity=5||kg`), []);
    assert.deepEqual(await ids(`${base}/Observation?code-value-quantity=111-1$gt50`), ['o3']);
  });

  it('chains, _has, compartment search and includes', async () => {
    assert.deepEqual(await ids(`${base}/Observation?subject:Patient.name=muller`), ['o1', 'o2', 'o3', 'o5']);
    assert.deepEqual(await ids(`${base}/Observation?patient.organization.name=acme`), ['o1', 'o2']);
    assert.deepEqual(await ids(`${base}/Patient?_has:Observation:patient:code=111-1`), ['p1', 'p2', 'p3']);
    assert.deepEqual(await ids(`${base}/Patient?_has:Observation:patient:code=333-3`), ['p2']);
    assert.deepEqual(await ids(`${base}/Patient/p1/Observation`), ['o1', 'o2']);
    assert.deepEqual(await ids(`${base}/Patient/p1/Observation?code=222-2`), ['o2']);
    const r = await http(`${base}/Observation?_id=o1,o3&_include=Observation:patient&_include:iterate=Patient:organization`);
    assertValidR4(r.json);
    const got = r.json.entry.map((e: any) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id}`).sort();
    assert.deepEqual(got, ['include:Organization/org1', 'include:Patient/p1', 'include:Patient/p2', 'match:Observation/o1', 'match:Observation/o3']);
    const rev = await http(`${base}/Patient?_id=p3&_revinclude=Observation:subject`);
    assert.deepEqual(rev.json.entry.map((e: any) => `${e.search.mode}:${e.resource.id}`), ['match:p3', 'include:o4']);
  });

  it('_total=estimate: exact while few resources match; beyond SEARCH_ESTIMATE_EXACT_UP_TO the planner\'s estimate, never below what was counted', async () => {
    const exact = await http(`${base}/Observation?code=111-1&_total=estimate&_count=1`);
    assert.equal(exact.json.total, 3);
    assert.equal(exact.json.entry.length, 1);
    const small = await startServer({ search: { ...server.config.search, exactTotalUpTo: 1 } });
    try {
      const { token } = await tokenFor(small.db.pool, small.origin, tenant, 'system/*.rs');
      const smallBase = base.replace(server.origin, small.origin);
      const get = (q: string) => http(`${smallBase}/Observation?${q}`, { headers: { authorization: `Bearer ${token}` } });
      const many = await get('code=111-1&_total=estimate&_count=1');
      assert.equal(many.status, 200);
      assert.ok(Number.isInteger(many.json.total) && many.json.total >= 2, `estimate ${many.json.total} is below the 2 rows counted`);
      assert.equal((await get('code=222-2&_total=estimate')).json.total, 1);
      assert.equal((await get('code=999-9&_total=estimate')).json.total, 0);
      // accurate stays exact whatever the threshold.
      assert.equal((await get('code=111-1&_total=accurate&_count=1')).json.total, 3);
    } finally {
      await small.close();
    }
  });

  it('_sort (several keys, descending), _summary, _elements, _total', async () => {
    const r = await http(`${base}/Patient?_sort=-birthdate,family`);
    // Descending date sorts on the latest end of each value's range: 1980 ends after 1980-03.
    assert.deepEqual(r.json.entry.map((e: any) => e.resource.id), ['p2', 'p3', 'p1']);
    const s = await http(`${base}/Observation?_sort=value-quantity`);
    assert.deepEqual(s.json.entry.map((e: any) => e.resource.id), ['o5', 'o1', 'o2', 'o3', 'o4']);
    const count = await http(`${base}/Observation?code=111-1&_summary=count`);
    assert.equal(count.json.total, 3);
    assert.equal(count.json.entry, undefined);
    const none = await http(`${base}/Observation?code=111-1`);
    assert.equal(none.json.total, undefined);
    assert.equal((await http(`${base}/Observation?code=111-1&_total=accurate&_count=1`)).json.total, 3);
    const el = await http(`${base}/Patient?_id=p1&_elements=gender`);
    assertValidR4(el.json);
    const p = el.json.entry[0].resource;
    assert.equal(p.gender, 'female');
    assert.equal(p.name, undefined);
    assert.ok(p.meta.tag.some((t: any) => t.code === 'SUBSETTED'));
  });

  it('paging through more than _count returns every match exactly once; next/previous; tampered cursor → 400', async () => {
    for (let i = 0; i < 23; i++) {
      await http(`${base}/Basic/b${String(i).padStart(2, '0')}`, { method: 'PUT', body: { resourceType: 'Basic', id: `b${String(i).padStart(2, '0')}`, code: { text: 'page' }, created: `2020-01-${String((i % 5) + 1).padStart(2, '0')}` } });
    }
    for (const sort of ['', '&_sort=-created', '&_sort=created,-_id']) {
      const seen: string[] = [];
      let url: string | undefined = `${base}/Basic?_count=4${sort}`;
      let pages = 0;
      let lastPage: any;
      while (url) {
        const r = await http(url);
        assert.equal(r.status, 200, r.text);
        assertValidR4(r.json);
        seen.push(...r.json.entry.map((e: any) => e.resource.id));
        lastPage = r.json;
        url = r.json.link.find((l: any) => l.relation === 'next')?.url;
        assert.ok(++pages < 20);
      }
      assert.equal(seen.length, 23, sort);
      assert.equal(new Set(seen).size, 23, sort);
      const prev = lastPage.link.find((l: any) => l.relation === 'previous')?.url;
      const back = await http(prev);
      assert.deepEqual(back.json.entry.map((e: any) => e.resource.id), seen.slice(-3 - 4, -3), sort);
    }
    const first = await http(`${base}/Basic?_count=4`);
    const next = new URL(first.json.link.find((l: any) => l.relation === 'next').url);
    const token = next.searchParams.get('_page')!;
    next.searchParams.set('_page', `${token.slice(0, 5)}${token[5] === 'A' ? 'B' : 'A'}${token.slice(6)}`);
    const bad = await http(next.toString());
    assert.equal(bad.status, 400);
    assert.ok(isOperationOutcome(bad));
    // A cursor from another search is refused too.
    const other = await http(`${base}/Basic?_count=3&_page=${encodeURIComponent(token)}`);
    assert.equal(other.status, 400);
  });

  it('POST _search agrees with GET; system search with _type', async () => {
    const q = 'code=111-1&date=ge2021&_sort=_id';
    const get = await ids(`${base}/Observation?${q}`);
    const post = await ids(`${base}/Observation/_search`, { method: 'POST', body: q, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual(post, get);
    assert.deepEqual(await ids(`${base}/Observation/_search?code=111-1`, { method: 'POST', body: 'date=ge2021', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), get);
    const sys = await http(`${base}?_type=Patient,Organization&_id=p1,org1,o1`);
    assert.deepEqual(sys.json.entry.map((e: any) => e.resource.id).sort(), ['org1', 'p1']);
  });

  it('unknown parameters: outcome entry by default, 400 with Prefer: handling=strict; malformed values → 400 naming the parameter', async () => {
    const r = await http(`${base}/Patient?family=muller&nonsense=1`);
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    const outcome = r.json.entry.find((e: any) => e.search.mode === 'outcome');
    assert.match(outcome.resource.issue[0].diagnostics, /nonsense/);
    assert.ok(!r.json.link[0].url.includes('nonsense'));
    const strict = await http(`${base}/Patient?nonsense=1`, { headers: { prefer: 'handling=strict' } });
    assert.equal(strict.status, 400);
    assert.ok(isOperationOutcome(strict));
    for (const [q, name] of [['birthdate=1980-13', 'birthdate'], ['value-quantity=abc', 'value-quantity'], ['_count=-1', '_count'], ['identifier=a|b|c', 'identifier'], ['subject=bad id!', 'subject'], ['family:bogus=x', 'family:bogus'], ['_summary=maybe', '_summary']]) {
      const bad = await http(`${base}/${name.startsWith('value') || name === 'subject' ? 'Observation' : 'Patient'}?${q}`);
      assert.equal(bad.status, 400, q);
      assert.ok(isOperationOutcome(bad));
      assert.ok(bad.json.issue[0].diagnostics.includes(name) || bad.json.issue[0].expression?.includes(name), q);
    }
  });

  it('granular scopes: results are limited by the scope filter in the database; includes need read access', async () => {
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, `system/Observation.rs?category=${CAT}|vital-signs system/Patient.s`);
    const auth = { headers: { authorization: `Bearer ${token}` } };
    assert.deepEqual(await ids(`${base}/Observation`, auth), ['o2']);
    assert.deepEqual(await ids(`${base}/Observation?code=111-1`, auth), []);
    const inc = await http(`${base}/Observation?_include=Observation:subject`, auth);
    assert.deepEqual(inc.json.entry.map((e: any) => e.resource.id), ['o2']); // Patient has no read scope
    const denied = await http(`${base}/Encounter`, auth);
    assert.equal(denied.status, 403);
  });

  it('reindex rebuilds lost index rows (the `payer-fhir reindex` command)', async () => {
    for (const table of INDEX_TABLES) await server.db.pool.query(`DELETE FROM ${table} WHERE tenant = $1 AND type = 'Patient'`, [tenant]);
    assert.deepEqual(await ids(`${base}/Patient?family=muller`), []);
    assert.equal(await reindex(server.db.pool, tenant, { type: 'Patient', batchSize: 2 }), 3);
    assert.deepEqual(await ids(`${base}/Patient?family=muller`), ['p1', 'p2']);
    assert.deepEqual(await ids(`${base}/Patient?identifier=urn:mrn|A1`), ['p1']);
  });

  it('property: random and hostile parameter names and values never cause a 500', async () => {
    const names = fc.oneof(
      fc.constantFrom('_id', 'code', 'date', 'subject', 'subject:Patient.name', '_has:Observation:patient:code', 'value-quantity', 'code-value-quantity', 'family:exact', '_sort', '_count', '_include', '_elements', '_summary', '_total', '_page', 'identifier:of-type', 'code:text', '_lastUpdated', "x';drop table resource;--"),
      fc.string({ maxLength: 30 }),
    );
    const values = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom("'; DROP TABLE resource; --", '%', '_', '\\', '|', '$', ',', 'gt', 'ap2020', 'Patient/', '9'.repeat(60), 'le-1e999', 'a|b', '\u0000', '-_id'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(names, values), { maxLength: 4 }), fc.constantFrom('Observation', 'Patient'), async (pairs, type) => {
        const q = new URLSearchParams(pairs).toString();
        const r = await http(`${base}/${type}?${q}`);
        assert.ok(r.status === 200 || r.status === 400 || r.status === 403, `${type}?${q} → ${r.status} ${r.text.slice(0, 300)}`);
        if (r.status === 400) assert.ok(isOperationOutcome(r));
      }),
      { numRuns: 150 },
    );
  });
});
