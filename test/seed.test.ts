// The synthetic population generator (src/seed): determinism, R4 validity, profiles,
// references that resolve, identifiers, and claims consistent with the clinical record.
// No database: the generator is a pure function of the seed and the member count.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { Resource } from '../src/fhir/validation.js';
import { generatePopulation } from '../src/seed/generator.js';
import { isValidNpi, luhnCheckDigit, npiFromBase } from '../src/seed/identifiers.js';
import { Rng } from '../src/seed/prng.js';
import { assertValidR4 } from './helpers/schema.js';

function digest(seed: string, members: number): { hash: string; count: number } {
  const h = crypto.createHash('sha256');
  let count = 0;
  for (const r of generatePopulation({ seed, members })) {
    h.update(JSON.stringify(r));
    h.update('\n');
    count++;
  }
  return { hash: h.digest('hex'), count };
}

/** Every `reference` string anywhere in a resource. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

describe('seed generator', () => {
  let population: any[];
  const byKey = new Map<string, any>();
  before(() => {
    population = [...generatePopulation({ seed: 'unit', members: 30 })];
    for (const r of population) byKey.set(`${r.resourceType}/${r.id}`, r);
  });

  it('is deterministic: the same seed and size give identical JSON, ids included', () => {
    const a = digest('same', 25);
    const b = digest('same', 25);
    assert.equal(a.hash, b.hash);
    assert.equal(a.count, b.count);
    assert.ok(a.count > 25 * 40, `only ${a.count} resources for 25 members`);
  });

  it('a different seed gives a different population', () => {
    assert.notEqual(digest('same', 25).hash, digest('other', 25).hash);
  });

  it('streams: a million-member population starts yielding members after its directory', () => {
    // Building a million members up front would take minutes and gigabytes; a stream yields
    // the first member right after the provider directory.
    let before = 0;
    for (const r of generatePopulation({ seed: 'stream', members: 1_000_000 }) as Iterable<Resource>) {
      if (r.resourceType === 'Patient') break;
      before++;
    }
    assert.ok(before > 1000 && before < 60_000, `${before} resources before the first Patient`);
  });

  it('the PRNG is seeded only by its labels', () => {
    const a = new Rng('s', 'x', 1);
    const b = new Rng('s', 'x', 1);
    const c = new Rng('s', 'x', 2);
    const seq = (r: Rng) => Array.from({ length: 5 }, () => r.u32());
    assert.deepEqual(seq(a), seq(b));
    assert.notDeepEqual(seq(new Rng('s', 'x', 1)), seq(c));
  });

  it('generates exactly the requested number of members, each with coverage', () => {
    const patients = population.filter((r) => r.resourceType === 'Patient');
    assert.equal(patients.length, 30);
    for (const p of patients) {
      const covs = population.filter((r) => r.resourceType === 'Coverage' && r.beneficiary.reference === `Patient/${p.id}`);
      assert.ok(covs.length >= 1, `${p.id} has no Coverage`);
    }
  });

  it('every resource is valid against the official R4 JSON schema, with unique ids', () => {
    for (const r of population) assertValidR4(r);
    assert.equal(byKey.size, population.length);
  });

  it('every reference resolves to a generated resource', () => {
    const unresolved = new Set<string>();
    for (const r of population) for (const ref of references(r)) if (!byKey.has(ref)) unresolved.add(ref);
    assert.deepEqual([...unresolved], []);
  });

  it('meta.profile names a US Core 6.1.0, CARIN BB, ATR, PDex or HRex profile on every profiled type', () => {
    const unprofiled = new Set(['InsurancePlan', 'OrganizationAffiliation']);
    for (const r of population) {
      if (unprofiled.has(r.resourceType) || (r.resourceType === 'Group' && r.id.startsWith('cohort-'))) continue;
      assert.ok(r.meta?.profile?.length, `${r.resourceType}/${r.id} has no meta.profile`);
      for (const p of r.meta.profile) assert.match(p, /^http:\/\/hl7\.org\/fhir\/us\/(core|carin-bb|davinci-atr|davinci-pdex|davinci-hrex)\/StructureDefinition\//);
    }
    const eobProfiles = new Set(population.filter((r) => r.resourceType === 'ExplanationOfBenefit' && r.use === 'claim').map((r) => r.meta.profile[0].split('/').pop().split('|')[0]));
    for (const p of ['Professional-NonClinician', 'Pharmacy', 'Oral']) assert.ok(eobProfiles.has(`C4BB-ExplanationOfBenefit-${p}`), `no ${p} EOB among ${[...eobProfiles]}`);
  });

  it('US Core must-haves: Patient race/ethnicity/birth sex, Observation categories and LOINC codes', () => {
    for (const p of population.filter((r) => r.resourceType === 'Patient')) {
      const urls = p.extension.map((e: any) => e.url.split('/').pop());
      assert.deepEqual(urls, ['us-core-race', 'us-core-ethnicity', 'us-core-birthsex']);
      assert.ok(p.identifier.length && p.name.length && p.gender && p.birthDate);
    }
    const expected: Record<string, [string, string]> = {
      'us-core-blood-pressure': ['vital-signs', '85354-9'],
      'us-core-body-weight': ['vital-signs', '29463-7'],
      'us-core-bmi': ['vital-signs', '39156-5'],
      'us-core-smokingstatus': ['social-history', '72166-2'],
    };
    for (const o of population.filter((r) => r.resourceType === 'Observation')) {
      const profile = o.meta.profile[0].split('/').pop().split('|')[0];
      assert.equal(o.code.coding[0].system, 'http://loinc.org');
      if (profile === 'us-core-observation-lab') assert.equal(o.category[0].coding[0].code, 'laboratory');
      const e = expected[profile];
      if (e) assert.deepEqual([o.category[0].coding[0].code, o.code.coding[0].code], e, `${o.id} (${profile})`);
    }
  });

  it('NPIs carry a valid Luhn check digit under the 80840 prefix; member ids are never SSN-shaped', () => {
    assert.equal(npiFromBase(123456789), '1234567893'); // the worked example of the NPI standard
    assert.ok(isValidNpi('1234567893'));
    assert.ok(!isValidNpi('1234567890'));
    assert.equal(luhnCheckDigit('7992739871'), 3);
    let npis = 0;
    for (const r of population) {
      for (const id of r.identifier ?? []) {
        if (id.system === 'http://hl7.org/fhir/sid/us-npi') {
          npis++;
          assert.ok(isValidNpi(id.value), `${r.resourceType}/${r.id}: bad NPI ${id.value}`);
        }
        assert.notEqual(id.system, 'http://hl7.org/fhir/sid/us-ssn');
        if (r.resourceType === 'Patient' || r.resourceType === 'Coverage') assert.doesNotMatch(id.value, /^\d{3}-?\d{2}-?\d{4}$/);
      }
    }
    assert.ok(npis > 10);
  });

  it('claims match the record: one EOB per encounter and per fill, on the coverage in force', () => {
    // Prior authorizations (use = preauthorization, seed-cms.test.ts) are requests, not claims:
    // they are checked for coverage here, and bill nothing.
    const eobs = population.filter((r) => r.resourceType === 'ExplanationOfBenefit');
    const encounters = population.filter((r) => r.resourceType === 'Encounter');
    const billed = new Map<string, number>();
    for (const e of eobs) {
      const cov = byKey.get(e.insurance[0].coverage.reference);
      assert.equal(cov.beneficiary.reference, e.patient.reference, `${e.id}: coverage of someone else`);
      const start = e.billablePeriod.start;
      assert.ok(start >= cov.period.start && (!cov.period.end || start <= cov.period.end), `${e.id}: service ${start} outside coverage ${JSON.stringify(cov.period)}`);
      const encs = new Set<string>(e.item.flatMap((i: any) => (i.encounter ?? []).map((x: any) => x.reference)));
      for (const enc of encs) billed.set(enc, (billed.get(enc) ?? 0) + 1);
    }
    for (const e of eobs) if (e.use === 'preauthorization') assert.ok(e.item.every((i: any) => !i.encounter), `${e.id} bills an encounter`);
    for (const enc of encounters) assert.equal(billed.get(`Encounter/${enc.id}`), 1, `Encounter/${enc.id} billed ${billed.get(`Encounter/${enc.id}`) ?? 0} times`);
    const fills = population.filter((r) => r.resourceType === 'MedicationDispense');
    const pharmacy = eobs.filter((e) => e.use === 'claim' && e.type.coding[0].code === 'pharmacy');
    assert.equal(pharmacy.length, fills.length);
    const claimKeys = new Set(pharmacy.map((e) => `${e.prescription.reference}@${e.item[0].servicedDate}`));
    for (const d of fills) assert.ok(claimKeys.has(`${d.authorizingPrescription[0].reference}@${d.whenHandedOver.slice(0, 10)}`), `${d.id} has no pharmacy claim`);
  });

  it('adjudication adds up: eligible = paid + member cost-sharing, totals = sum of lines', () => {
    const amount = (adj: any[], code: string) => adj.filter((a) => a.category.coding[0].code === code).reduce((s, a) => s + a.amount.value, 0);
    let checked = 0;
    for (const e of population.filter((r) => r.resourceType === 'ExplanationOfBenefit' && r.use === 'claim')) {
      const levels = e.item.some((i: any) => i.adjudication) ? e.item.map((i: any) => i.adjudication) : [e.adjudication];
      for (const adj of levels) {
        const eligible = amount(adj, 'eligible');
        const share = amount(adj, 'deductible') + amount(adj, 'copay') + amount(adj, 'coinsurance');
        assert.ok(Math.abs(eligible - amount(adj, 'paidtoprovider') - share) < 0.011, `${e.id}: ${eligible} ≠ paid + ${share}`);
        assert.ok(amount(adj, 'submitted') >= eligible - 0.001);
        checked++;
      }
      for (const code of ['submitted', 'eligible', 'paidtoprovider', 'memberliability']) {
        const lines = levels.reduce((s: number, adj: any[]) => s + amount(adj, code), 0);
        assert.ok(Math.abs(lines - amount(e.total, code)) < 0.011 * levels.length, `${e.id}: total ${code}`);
      }
      assert.equal(e.payment.amount.value, amount(e.total, 'paidtoprovider'));
    }
    assert.ok(checked > 100);
  });
});
