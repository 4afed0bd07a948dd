// The native FHIRPath evaluator against the `fhirpath` engine: every shipped view and every
// view of the SQL on FHIR suite, run over the project's own synthetic plan (src/seed) and the
// suite's resources, gives exactly the same rows (or the same error) both ways. Plus which
// expressions the native evaluator takes and which it leaves to the engine.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatePopulation } from '../src/seed/generator.js';
import { ViewExpressions } from '../src/views/fhirpath.js';
import { shippedViews } from '../src/views/library.js';
import { compileView, type CompiledView } from '../src/views/runner.js';
import { loadSuite } from './helpers/sql-on-fhir.js';

type Json = Record<string, unknown>;

/** Rows or the error message, for one resource. */
function outcome(view: CompiledView, resource: Json): unknown {
  try {
    return view.rows(resource);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function compileBoth(json: unknown): { native: CompiledView; engine: CompiledView } | string {
  let native: CompiledView | string;
  let engine: CompiledView | string;
  try {
    native = compileView(json);
  } catch (err) {
    native = (err as Error).message;
  }
  try {
    engine = compileView(json, { native: false });
  } catch (err) {
    engine = (err as Error).message;
  }
  if (typeof native === 'string' || typeof engine === 'string') {
    assert.equal(native, engine, 'a view one engine refuses, the other refuses with the same message');
    return native as string;
  }
  return { native, engine };
}

/** Compares both engines over `resources`; returns how many rows were compared. */
function compare(label: string, json: unknown, resources: Json[]): number {
  const both = compileBoth(json);
  if (typeof both === 'string') return 0;
  assert.equal(both.native.expressions.engine + both.native.expressions.native > 0, true);
  let rows = 0;
  for (const r of resources) {
    const a = outcome(both.native, r);
    const b = outcome(both.engine, r);
    assert.deepStrictEqual(a, b, `${label}: ${String(r.resourceType)}/${String(r.id)}`);
    if (Array.isArray(a)) rows += a.length;
  }
  return rows;
}

describe('native FHIRPath evaluator', () => {
  const plan = [...generatePopulation({ seed: 'engines', members: 300 })] as Json[];
  const suite = loadSuite();
  const suiteResources = suite.flatMap((f) => f.resources as Json[]);

  it('gives the rows of the fhirpath engine for every shipped view on the synthetic plan', async () => {
    for (const view of await shippedViews()) {
      const rows = compare(`views/${String(view.name)}`, view, plan);
      assert.ok(rows > 0, `${String(view.name)} yields rows on the plan`);
      assert.equal(compileView(view).expressions.engine, 0, `${String(view.name)} runs natively throughout`);
    }
  });

  it('gives the rows of the fhirpath engine for every view of the SQL on FHIR suite, on the plan and on the suite resources', () => {
    let rows = 0;
    for (const file of suite) {
      for (const t of file.tests) rows += compare(`${file.file} › ${t.title}`, t.view, [...plan, ...suiteResources]);
    }
    assert.ok(rows > 0);
  });

  it('gives the rows of the fhirpath engine for expressions beyond the shipped views (truthiness, logic, indexers, choices)', () => {
    const columns = (paths: string[]) => paths.map((path, i) => ({ name: `c${i}`, path, collection: true }));
    const views = [
      {
        resource: 'Patient',
        select: [
          { column: columns(['name.where(use).family', "name.where(given.exists() and family != 'x').given", 'active.not()', 'gender = \'female\' xor active', 'active implies gender = \'male\'', 'deceased', 'deceased.ofType(boolean)', 'deceased.ofType(dateTime)', 'multipleBirth.ofType(integer) >= 2', 'name[1].given[0]', 'name.given.join(\'|\')', 'telecom.where(system = \'phone\' or use = \'home\').value', 'birthDate', 'address.line', 'extension.url', 'identifier.where(value < \'5\').system']) },
          { forEach: 'name', column: columns(['family', 'given.first()', '%rowIndex', 'period.start', '$this.use']) },
          { forEachOrNull: 'contact', column: columns(['name.family', 'relationship.coding.code', 'telecom.value.exists()']) },
        ],
      },
      { resource: 'ExplanationOfBenefit', select: [{ forEach: 'item', select: [{ forEach: 'adjudication', column: columns(['category.coding.code', 'amount.value', 'amount.value > 100', 'reason.coding.code.empty()', 'value']) }] }] },
      { resource: 'Observation', select: [{ column: columns(['value', 'value.ofType(Quantity).value', 'value.ofType(string)', 'value.ofType(CodeableConcept).coding.code', 'effective.ofType(Period).start', 'component.value.ofType(Quantity).value', 'category.coding.where(code = \'laboratory\').exists()']) }] },
    ];
    let rows = 0;
    for (const view of views) rows += compare(`extra ${view.resource}`, view, plan);
    assert.ok(rows > 0);
  });

  it('decides per expression, at compile time, what it evaluates and what it leaves to the engine', () => {
    const e = new ViewExpressions([{ name: 'when', kind: 'Date', value: '2020-01-01' }]);
    const native = (expr: string, base: string | null = 'Patient') => e.compile(expr, 'x', base).native;
    // The subset of navigation, functions and operators it does exactly.
    for (const expr of ["name.where(use = 'official').family.first()", 'name[0].given.join(\', \')', 'deceased.ofType(boolean).exists() and active.not()', 'link.other.getReferenceKey(Patient)', 'getResourceKey()', "extension('u').value.ofType(Coding).code", 'name[%rowIndex].family', 'multipleBirth.ofType(integer) > 1']) {
      assert.equal(native(expr), true, expr);
    }
    // Dates, arithmetic, boundaries, choices without a type, type tests: the engine.
    for (const expr of ['birthDate = %when', 'birthDate > birthDate', 'multipleBirth.ofType(integer) + 1', 'birthDate.lowBoundary()', 'deceased = true', 'deceased is boolean', 'gender.ofType(code)', "'a' & 'b'"]) {
      assert.equal(native(expr), false, expr);
    }
    // Input held as the engine's typed nodes (below an iteration the engine ran) stays with the engine.
    assert.equal(native('family', null), false);
    // Below a native iteration the element's path is known and navigation stays native.
    assert.equal(native("telecom.where(system = 'phone').value", 'Patient.contact'), true);
    const iteration = e.compile('contact', 'x', 'Patient', 'path');
    assert.deepEqual([iteration.native, iteration.path], [true, 'Patient.contact']);
  });

  it('hands data it cannot evaluate exactly to the engine at run time (primitive extensions, decimals compared)', () => {
    const e = new ViewExpressions([]);
    const given = e.compile('name.given', 'x', 'Patient');
    const patient = { resourceType: 'Patient', name: [{ given: ['A', null], _given: [null, { extension: [{ url: 'u', valueString: 'x' }] }] }] };
    assert.equal(given.native, true);
    assert.deepEqual(given.evaluate(patient, 0), compileView({ resource: 'Patient', select: [{ column: [{ name: 'g', path: 'name.given', collection: true }] }] }, { native: false }).rows(patient)[0][0]);
    // A value given only as its extension: the engine sees an element there, so it decides.
    const onlyExtension = { resourceType: 'Patient', _birthDate: { extension: [{ url: 'u', valueCode: 'unknown' }] } };
    const exists = e.compile('birthDate.exists()', 'x', 'Patient');
    assert.equal(exists.native, true);
    assert.deepEqual(exists.evaluate(onlyExtension, 0), compileView({ resource: 'Patient', select: [{ column: [{ name: 'b', path: 'birthDate.exists()' }] }] }, { native: false }).rows(onlyExtension)[0]);
    const equal = e.compile('value.ofType(Quantity).value = 0.3', 'x', 'Observation');
    assert.equal(equal.native, true);
    assert.deepEqual(equal.evaluate({ resourceType: 'Observation', valueQuantity: { value: 0.30000000000000004 } }, 0), [true]);
  });
});
