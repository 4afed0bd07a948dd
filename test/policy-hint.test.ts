// searchedPatient (src/search/policy-filter.ts): the member a search's own filters confine its
// rows to, which lets the partner policy check that member once per statement. A wrong answer
// would let rows outside that member's compartment through, so it must answer only when the
// filters really confine the rows; test/policy-leaks.test.ts checks the searches end to end.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSearch } from '../src/search/parse.js';
import { searchedPatient } from '../src/search/policy-filter.js';

const hint = (type: string, query: string, compartment?: string) =>
  searchedPatient(type, parseSearch([type], false, [...new URLSearchParams(query)], { defaultCount: 10, maxCount: 100, strict: false }).filters, compartment);

describe('the searched member (policy hint)', () => {
  it('names the member of patient=, subject=Patient/…, subject:Patient= and compartment searches', () => {
    assert.equal(hint('Observation', 'patient=p1'), 'p1');
    assert.equal(hint('Observation', 'patient=Patient/p1&code=x'), 'p1');
    assert.equal(hint('Observation', 'subject=Patient/p1'), 'p1');
    assert.equal(hint('Observation', 'subject:Patient=p1'), 'p1');
    assert.equal(hint('ExplanationOfBenefit', 'patient=p1'), 'p1');
    assert.equal(hint('Observation', 'code=x', 'p9'), 'p9', 'a compartment search or $everything');
  });

  it('names nobody when the rows are not confined to one local patient', () => {
    assert.equal(hint('Observation', 'patient=p1,p2'), undefined, 'two patients');
    assert.equal(hint('Observation', 'subject=p1'), undefined, 'a bare id that may be a Group');
    assert.equal(hint('Observation', 'subject=http://elsewhere.example/fhir/Patient/p1'), undefined, "another server's patient");
    assert.equal(hint('Observation', 'subject=Group/g1'), undefined);
    assert.equal(hint('Observation', 'patient:identifier=http://x|1'), undefined);
    assert.equal(hint('Observation', 'patient:missing=false'), undefined);
    assert.equal(hint('Observation', 'patient.name=smith'), undefined, 'a chain');
    assert.equal(hint('Observation', 'code=x'), undefined);
    assert.equal(hint('Practitioner', 'name=x'), undefined, 'a type outside the compartment');
  });
});
