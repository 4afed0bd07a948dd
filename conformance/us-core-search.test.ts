// Conformance: US Core 6.1.0 SHALL searches (payer-domain.md §1) on the official US Core
// examples (read from ../shared/data, see examples.ts), loaded through the API with PUT: exact id sets, near-misses excluded, every page valid R4, and
// `_revinclude=Provenance:target`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http } from '../test/helpers/http.js';
import { assertValidR4 } from '../test/helpers/schema.js';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { examplesDir } from './examples.js';

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

describe('US Core 6.1.0 SHALL searches on the US Core examples', () => {
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
    for (const f of fs.readdirSync(examplesDir).filter((n) => n.endsWith('.json')).sort()) {
      const r = JSON.parse(fs.readFileSync(path.join(examplesDir, f), 'utf8'));
      if (r.resourceType === 'Bundle') continue;
      const put = await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r });
      // A few published examples are not schema-valid R4 (e.g. a text without div); the
      // oracle covers exactly what was stored.
      if (put.status === 201 || put.status === 200) examples.push(r);
      else assert.equal(put.status, 400, `${f}: ${put.text.slice(0, 300)}`);
    }
    assert.ok(examples.length > 150);
  });
  after(() => server.close());

  it('Patient: _id, identifier (system|value, value, |value), name, birthdate+name, gender+name', async () => {
    assert.deepEqual(await matches(`${base}/Patient?_id=example`), ['Patient/example']);
    assert.deepEqual(await matches(`${base}/Patient?identifier=http://hospital.smarthealthit.org|1032702`), ['Patient/example', 'Patient/example-targeted-provenance']);
    assert.deepEqual(await matches(`${base}/Patient?identifier=1032704`), ['Patient/child-example']);
    assert.deepEqual(await matches(`${base}/Patient?identifier=|1032704`), []);
    assert.deepEqual(await matches(`${base}/Patient?identifier=http://other.example|1032704`), []);
    assert.deepEqual(await matches(`${base}/Patient?name=shaw`), ['Patient/deceased-example', 'Patient/example', 'Patient/example-targeted-provenance']);
    assert.deepEqual(await matches(`${base}/Patient?name=Sha&birthdate=1987-02-20`), ['Patient/example', 'Patient/example-targeted-provenance']);
    assert.deepEqual(await matches(`${base}/Patient?name=shaw&gender=male`), []);
    assert.deepEqual(await matches(`${base}/Patient?name=example&gender=male`), ['Patient/child-example', 'Patient/infant-example']);
    assert.deepEqual(await matches(`${base}/Patient?family=Example&birthdate=ge2020`), ['Patient/infant-example']);
  });

  it('patient= on every US Core type with a patient search equals the oracle', async () => {
    const types = ['AllergyIntolerance', 'CarePlan', 'CareTeam', 'Condition', 'Coverage', 'Device', 'DiagnosticReport', 'DocumentReference', 'Encounter', 'Goal', 'Immunization', 'MedicationDispense', 'MedicationRequest', 'Procedure', 'QuestionnaireResponse', 'ServiceRequest', 'Specimen'];
    for (const type of types) {
      const expected = where(type, (r) => subjectIs(r, 'Patient/example') || r.beneficiary?.reference === 'Patient/example');
      assert.ok(expected.length > 0, type);
      assert.deepEqual(await matches(`${base}/${type}?patient=example&_count=500`), expected, type);
      assert.deepEqual(await matches(`${base}/${type}?patient=Patient/example&_count=500`), expected, type);
      assert.deepEqual(await matches(`${base}/${type}?patient=Patient/child-example&_count=500`), where(type, (r) => subjectIs(r, 'Patient/child-example')), type);
    }
  });

  it('Observation patient+category and patient+code, with comma OR', async () => {
    const cat = (r: any, c: string) => codes(r.category).some((x) => x.endsWith(`|${c}`));
    const lab = where('Observation', (r) => subjectIs(r, 'Patient/example') && cat(r, 'laboratory'));
    assert.ok(lab.length > 3);
    assert.deepEqual(await matches(`${base}/Observation?patient=example&category=laboratory&_count=500`), lab);
    assert.deepEqual(
      await matches(`${base}/Observation?patient=example&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&_count=500`),
      lab,
    );
    const labOrVital = where('Observation', (r) => subjectIs(r, 'Patient/example') && (cat(r, 'laboratory') || cat(r, 'vital-signs')));
    assert.deepEqual(await matches(`${base}/Observation?patient=example&category=laboratory,vital-signs&_count=500`), labOrVital);
    const bp = where('Observation', (r) => subjectIs(r, 'Patient/example') && codes(r.code).includes('http://loinc.org|85354-9'));
    assert.ok(bp.length >= 1);
    assert.deepEqual(await matches(`${base}/Observation?patient=example&code=http://loinc.org|85354-9`), bp);
    assert.deepEqual(await matches(`${base}/Observation?patient=example&code=http://snomed.info/sct|85354-9`), []);
  });

  it('Observation patient+category+date (gt/lt range) equals the oracle', async () => {
    const eff = (r: any) => r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.effectiveInstant;
    const vitals = (r: any) => subjectIs(r, 'Patient/example') && codes(r.category).some((x) => x.endsWith('|vital-signs'));
    const expected = where('Observation', (r) => vitals(r) && eff(r) !== undefined && Date.parse(eff(r)) >= Date.parse('1999-01-01') && Date.parse(eff(r)) < Date.parse('2099-01-01'));
    assert.ok(expected.length > 0);
    assert.deepEqual(await matches(`${base}/Observation?patient=example&category=vital-signs&date=ge1999-01-01&date=lt2099-01-01&_count=500`), expected);
    assert.deepEqual(await matches(`${base}/Observation?patient=example&category=vital-signs&date=lt1900&_count=500`), []);
  });

  it('Practitioner name/identifier, Organization and Location name/address, PractitionerRole chains', async () => {
    assert.deepEqual(await matches(`${base}/Practitioner?name=bone`), ['Practitioner/practitioner-1']);
    assert.deepEqual(await matches(`${base}/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9941339100`), ['Practitioner/practitioner-1']);
    assert.deepEqual(await matches(`${base}/Organization?name=acme`), ['Organization/acme-lab', 'Organization/acme-payer', 'Organization/example-organization-2']);
    assert.deepEqual(await matches(`${base}/Organization?name:exact=Acme Labs`), ['Organization/acme-lab']);
    assert.deepEqual(await matches(`${base}/Organization?name:exact=acme labs`), []);
    assert.deepEqual(await matches(`${base}/Location?name=holy`), ['Location/hospital']);
    const amherst = where('Organization', (r) => r.address?.some((a: any) => a.city === 'Amherst'));
    assert.deepEqual(await matches(`${base}/Organization?address=amherst`), amherst);
    assert.deepEqual(await matches(`${base}/Organization?address-city=amherst`), amherst);
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
