// The Parameters shell check of operation input (src/operations/parameters.ts): with the nested
// resources replaced by stand-ins, validateParametersShell must answer exactly as the full R4
// schema does (validateResource), on valid shells and on each kind of structural fault — it
// only skips R4's ResourceList oneOf, which a stand-in always passes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FhirError } from '../src/errors.js';
import { validateParametersShell, validateResource } from '../src/fhir/validation.js';

type Json = Record<string, unknown>;
const STAND_IN = { resourceType: 'Parameters' };

function outcome(check: () => unknown): string {
  try {
    check();
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof FhirError, `a FhirError, got ${(err as Error).message}`);
    return `${err.status} ${JSON.stringify(err.issues)}`;
  }
}

const shells: [string, Json][] = [
  ['resources, a value and parts', { resourceType: 'Parameters', parameter: [{ name: 'a', resource: STAND_IN }, { name: 'b', valueString: 'x' }, { name: 'c', part: [{ name: 'd', resource: STAND_IN }, { name: 'e', valueIdentifier: { value: '1' } }] }] }],
  ['no parameters', { resourceType: 'Parameters', id: 'p1' }],
  ['an unknown element on a parameter', { resourceType: 'Parameters', parameter: [{ name: 'a', resource: STAND_IN, valueFoo: 1 }] }],
  ['an unknown element on a part', { resourceType: 'Parameters', parameter: [{ name: 'a', part: [{ name: 'b', resource: STAND_IN, colour: 'red' }] }] }],
  ['a parameter without a name', { resourceType: 'Parameters', parameter: [{ resource: STAND_IN }] }],
  ['a name that is not a string', { resourceType: 'Parameters', parameter: [{ name: 7, resource: STAND_IN }] }],
  ['a badly typed value', { resourceType: 'Parameters', parameter: [{ name: 'a', valueDate: '03/02/1980' }, { name: 'b', valueInteger: 'x' }] }],
  ['parameter not an array', { resourceType: 'Parameters', parameter: { name: 'a', resource: STAND_IN } }],
  ['part not an array', { resourceType: 'Parameters', parameter: [{ name: 'a', part: { name: 'b', resource: STAND_IN } }] }],
  ['an unknown element on Parameters', { resourceType: 'Parameters', parameter: [{ name: 'a', resource: STAND_IN }], subject: 'x' }],
  ['a value and a resource (inv-1)', { resourceType: 'Parameters', parameter: [{ name: 'a', valueString: 'x', resource: STAND_IN }] }],
  ['a parameter with nothing (inv-1)', { resourceType: 'Parameters', parameter: [{ name: 'a' }] }],
  ['an empty array', { resourceType: 'Parameters', parameter: [{ name: 'a', part: [] }] }],
  ['a bad id', { resourceType: 'Parameters', id: 'no spaces allowed', parameter: [{ name: 'a', resource: STAND_IN }] }],
];

describe('Parameters shell check', () => {
  for (const [name, shell] of shells) {
    it(`${name}: the same outcome as the full R4 schema`, () => {
      const full = outcome(() => validateResource(structuredClone(shell), 'Parameters'));
      assert.equal(outcome(() => validateParametersShell(structuredClone(shell))), full);
    });
  }

  it('the cases include acceptances and refusals', () => {
    const results = shells.map(([, s]) => outcome(() => validateResource(structuredClone(s), 'Parameters')));
    assert.ok(results.filter((r) => r === 'accepted').length >= 2);
    assert.ok(results.filter((r) => r.startsWith('400')).length >= 10);
  });
});
