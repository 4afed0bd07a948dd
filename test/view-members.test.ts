// Parsing only the members a view may read (src/views/members.ts): the cut JSON keeps exactly
// the members asked for, verbatim, whatever the strings hold; the analysis keeps every member
// an expression can reach; and every shipped view and every SQL on FHIR suite view gives the
// same rows from the cut JSON as from the whole resource.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatePopulation } from '../src/seed/generator.js';
import { parseViewDefinition } from '../src/views/definition.js';
import { shippedViews } from '../src/views/library.js';
import { keepMembers, memberFilter, parseForView } from '../src/views/members.js';
import { compileView } from '../src/views/runner.js';
import { loadSuite } from './helpers/sql-on-fhir.js';

type Json = Record<string, unknown>;

const rowsOrError = (f: () => unknown): unknown => {
  try {
    return f();
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
};

describe('view members', () => {
  it('keepMembers keeps the members asked for, verbatim, across tricky strings and spacing', () => {
    const text = '{ "a" : "x\\"}]{[,", "b":[{"c":"\\\\"},[1,2,{"d":null}]] ,"e":-1.5e3,"f":true,"g":{"h":"}"},"_a":{"id":"q"},"i":null }';
    assert.deepEqual(JSON.parse(keepMembers(text, (k) => ['a', 'e', 'g', '_a', 'i'].includes(k))), { a: 'x"}]{[,', e: -1500, g: { h: '}' }, _a: { id: 'q' }, i: null });
    assert.deepEqual(JSON.parse(keepMembers(text, () => true)), JSON.parse(text));
    assert.equal(keepMembers(text, () => false), '{}');
    assert.equal(keepMembers('{}', () => true), '{}');
    assert.throws(() => keepMembers('[1]', () => true), SyntaxError);
    assert.throws(() => keepMembers('{"a":"b', () => true), SyntaxError);
    // Not an object: parsed whole, so JSON.parse names the problem.
    assert.throws(() => parseForView('{"a":', () => true), SyntaxError);
  });

  it('memberFilter keeps what expressions name, their _twins and choice members; gives up on whole-resource expressions', () => {
    const view = (paths: string[]) =>
      parseViewDefinition({ resourceType: 'ViewDefinition', status: 'active', resource: 'Observation', select: [{ column: paths.map((p, i) => ({ name: `c${i}`, path: p })) }] });
    const keep = memberFilter(view(['value.ofType(Quantity).value', 'code.coding.where(system = \'x\').code', '`status`']))!;
    for (const k of ['resourceType', 'id', 'valueQuantity', 'valueString', 'code', 'status', '_status']) assert.ok(keep(k), k);
    for (const k of ['subject', 'meta', 'text', 'effectiveDateTime', 'values']) assert.ok(!keep(k), k);
    for (const p of ['$this', 'descendants().count()', 'children()', '%resource.id', 'subject.resolve()']) assert.equal(memberFilter(view([p])), undefined, p);
  });

  it('every shipped view and every suite view gives the same rows from the members it reads', async () => {
    const plan: Json[] = [...generatePopulation({ seed: 'view-members', members: 40 })] as unknown as Json[];
    const cases: { view: unknown; resources: Json[] }[] = (await shippedViews()).map((v) => ({ view: v, resources: plan }));
    for (const t of loadSuite()) for (const c of t.tests) cases.push({ view: c.view, resources: t.resources as Json[] });
    let compared = 0;
    let cut = 0;
    for (const { view, resources } of cases) {
      let compiled;
      try {
        compiled = compileView(view);
      } catch {
        continue; // views the suite expects to be refused
      }
      const keep = memberFilter(compiled.definition);
      if (keep) cut++;
      for (const r of resources) {
        const text = JSON.stringify(r);
        assert.deepEqual(rowsOrError(() => compiled.rows(parseForView(text, keep))), rowsOrError(() => compiled.rows(JSON.parse(text) as Json)), JSON.stringify(view).slice(0, 200));
        compared++;
      }
    }
    assert.ok(compared > 10_000, `compared ${compared}`);
    assert.ok(cut > 100, `views read through a member filter: ${cut}`);
  });
});
