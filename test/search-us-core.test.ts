// US Core 6.1.0 SHALL searches (payer-domain.md §1) on the project's US Core fixtures
// (test/fixtures/us-core.ts), loaded through the API with PUT: exact id sets, near-misses
// excluded, every page valid R4, and `_revinclude=Provenance:target`. The official examples
// run the same searches in `npm run test:conformance`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';
import { loadFixtures } from './helpers/bulk.js';
import { MRN_SYSTEM, NPI } from './fixtures/us-core.js';

/** Runs a search, checks the Bundle, returns `Type/id` of the match entries (sorted). */
async function matches(url: string, mode: 'match' | 'include' = 'match'): Promise<string[]> {
  const r = await http(url);
  assert.equal(r.status, 200, `${url}: ${r.text}`);
  assert.equal(r.json.resourceType, 'Bundle');
  assert.equal(r.json.type, 'searchset');
  assertValidR4(r.json);
  assert.equal(r.json.link?.find((l: any) => l.relation === 'next'), undefined, `${url} has more than one page`);
  return (r.json.entry ?? []).filter((e: any) => e.search?.mode === mode).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
}

describe('US Core 6.1.0 SHALL searches on the US Core fixtures', () => {
  let server: TestServer;
  let base: string;
  const examples: any[] = [];
  /** Oracle: `Type/id` of loaded examples satisfying a predicate. */
  const where = (type: string, pred: (r: any) => boolean) =>
    examples.filter((r) => r.resourceType === type && pred(r)).map((r) => `${type}/${r.id}`).sort();
  const codes = (cc: any): string[] => (Array.isArray(cc) ? cc : cc ? [cc] : []).flatMap((c: any) => (c.coding ?? []).map((x: any) => `${x.system}|${x.code}`));
  const subjectIs = (r: any, ref: string) => r.subject?.reference === ref || r.patient?.reference === ref;

  before(async () => {
    server = await startServer();
    ({ base } = await server.newTenant('uscore'));
    examples.push(...(await loadFixtures(base)));
    assert.ok(examples.length > 200);
  });
  after(() => server.close());

  it('Patient: _id, identifier (system|value, value, |value), name, birthdate+name, gender+name', async () => {
    assert.deepEqual(await matches(`${base}/Patient?_id=adult`), ['Patient/adult']);
    assert.deepEqual(await matches(`${base}/Patient?identifier=${MRN_SYSTEM}|MRN-1001`), ['Patient/adult', 'Patient/adult-duplicate']);
    assert.deepEqual(await matches(`${base}/Patient?identifier=MRN-1002`), ['Patient/child']);
    assert.deepEqual(await matches(`${base}/Patient?identifier=|MRN-1002`), []);
    assert.deepEqual(await matches(`${base}/Patient?identifier=http://other.example|MRN-1002`), []);
    assert.deepEqual(await matches(`${base}/Patient?name=quillfeather`), ['Patient/adult', 'Patient/adult-duplicate', 'Patient/deceased']);
    assert.deepEqual(await matches(`${base}/Patient?name=Quill&birthdate=1981-06-14`), ['Patient/adult', 'Patient/adult-duplicate']);
    assert.deepEqual(await matches(`${base}/Patient?name=quillfeather&gender=male`), []);
    assert.deepEqual(await matches(`${base}/Patient?name=brannagh&gender=male`), ['Patient/child', 'Patient/infant']);
    assert.deepEqual(await matches(`${base}/Patient?family=Brannagh&birthdate=ge2020`), ['Patient/infant']);
  });

  it('patient= on every US Core type with a patient search equals the oracle', async () => {
    const types = ['AllergyIntolerance', 'CarePlan', 'CareTeam', 'Condition', 'Coverage', 'Device', 'DiagnosticReport', 'DocumentReference', 'Encounter', 'Goal', 'Immunization', 'MedicationDispense', 'MedicationRequest', 'Procedure', 'QuestionnaireResponse', 'ServiceRequest', 'Specimen'];
    for (const type of types) {
      const expected = where(type, (r) => subjectIs(r, 'Patient/adult') || r.beneficiary?.reference === 'Patient/adult');
      assert.ok(expected.length > 0, type);
      assert.deepEqual(await matches(`${base}/${type}?patient=adult&_count=500`), expected, type);
      assert.deepEqual(await matches(`${base}/${type}?patient=Patient/adult&_count=500`), expected, type);
      assert.deepEqual(await matches(`${base}/${type}?patient=Patient/child&_count=500`), where(type, (r) => subjectIs(r, 'Patient/child')), type);
    }
  });

  it('Observation patient+category and patient+code, with comma OR', async () => {
    const cat = (r: any, c: string) => codes(r.category).some((x) => x.endsWith(`|${c}`));
    const lab = where('Observation', (r) => subjectIs(r, 'Patient/adult') && cat(r, 'laboratory'));
    assert.ok(lab.length > 3);
    assert.deepEqual(await matches(`${base}/Observation?patient=adult&category=laboratory&_count=500`), lab);
    assert.deepEqual(
      await matches(`${base}/Observation?patient=adult&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&_count=500`),
      lab,
    );
    const labOrVital = where('Observation', (r) => subjectIs(r, 'Patient/adult') && (cat(r, 'laboratory') || cat(r, 'vital-signs')));
    assert.deepEqual(await matches(`${base}/Observation?patient=adult&category=laboratory,vital-signs&_count=500`), labOrVital);
    const bp = where('Observation', (r) => subjectIs(r, 'Patient/adult') && codes(r.code).includes('http://loinc.org|85354-9'));
    assert.ok(bp.length >= 1);
    assert.deepEqual(await matches(`${base}/Observation?patient=adult&code=http://loinc.org|85354-9`), bp);
    assert.deepEqual(await matches(`${base}/Observation?patient=adult&code=http://snomed.info/sct|85354-9`), []);
  });

  it('Observation patient+category+date (gt/lt range) equals the oracle', async () => {
    const eff = (r: any) => r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.effectiveInstant;
    const vitals = (r: any) => subjectIs(r, 'Patient/adult') && codes(r.category).some((x) => x.endsWith('|vital-signs'));
    const expected = where('Observation', (r) => vitals(r) && eff(r) !== undefined && Date.parse(eff(r)) >= Date.parse('1999-01-01') && Date.parse(eff(r)) < Date.parse('2099-01-01'));
    assert.ok(expected.length > 0);
    assert.deepEqual(await matches(`${base}/Observation?patient=adult&category=vital-signs&date=ge1999-01-01&date=lt2099-01-01&_count=500`), expected);
    assert.deepEqual(await matches(`${base}/Observation?patient=adult&category=vital-signs&date=lt1900&_count=500`), []);
  });

  it('Practitioner name/identifier, Organization and Location name/address, PractitionerRole chains', async () => {
    assert.deepEqual(await matches(`${base}/Practitioner?name=marrow`), ['Practitioner/prac-marrow']);
    assert.deepEqual(await matches(`${base}/Practitioner?identifier=${NPI}|1999999984`), ['Practitioner/prac-marrow']);
    assert.deepEqual(await matches(`${base}/Organization?name=harbor`), ['Organization/org-clinic', 'Organization/org-lab', 'Organization/org-payer']);
    assert.deepEqual(await matches(`${base}/Organization?name:exact=Harborview Labs`), ['Organization/org-lab']);
    assert.deepEqual(await matches(`${base}/Organization?name:exact=harborview labs`), []);
    assert.deepEqual(await matches(`${base}/Location?name=saint`), ['Location/loc-clinic']);
    const brookfield = where('Organization', (r) => r.address?.some((a: any) => a.city === 'Brookfield'));
    assert.ok(brookfield.length >= 2);
    assert.deepEqual(await matches(`${base}/Organization?address=brookfield`), brookfield);
    assert.deepEqual(await matches(`${base}/Organization?address-city=brookfield`), brookfield);
  });

  it('_revinclude=Provenance:target adds the Provenance with search.mode include', async () => {
    const provenance = examples.find((r) => r.resourceType === 'Provenance');
    const targets: string[] = provenance.target.map((t: any) => t.reference);
    const [type, id] = targets[0].split('/');
    const r = await http(`${base}/${type}?_id=${id}&_revinclude=Provenance:target`);
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    assert.deepEqual(r.json.entry.map((e: any) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id}`), [`match:${type}/${id}`, `include:Provenance/${provenance.id}`]);
  });
});
