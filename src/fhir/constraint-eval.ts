/**
 * Evaluating one invariant on one value. Each (context, expression) pair is compiled with the
 * `fhirpath` engine once, on first use, and kept. Two expressions that R4 attaches to nearly
 * every node — ele-1 on every element, ext-1 on every extension — run as plain JS over the
 * JSON instead (a resource has hundreds of elements; the engine's per-call set-up would then
 * dominate a write). They are recognised by their exact expression text from the definitions,
 * and test/invariants.test.ts checks each against the engine on the same values.
 *
 * A verdict is `false` only when the expression evaluates to `false`. An empty result (e.g.
 * comparing dates of different precision) or an expression the engine cannot run counts as
 * "not decided": the write is not refused for a rule that could not be checked.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ConstraintDef } from './constraint-model.js';
import { compileFast, Fallback } from './fhirpath-fast.js';

const require = createRequire(import.meta.url);
type Evaluator = (data: unknown, vars: Record<string, unknown>) => unknown[];
const fhirpath = require('fhirpath') as {
  compile: (path: { base: string; expression: string }, model: unknown, options: Record<string, unknown>) => Evaluator;
};
const r4Model = require('fhirpath/fhir-context/r4') as unknown;

/** `%resource` (the resource holding the value) and `%rootResource` (its container, if contained). */
export interface Scope {
  resource: Record<string, unknown>;
  rootResource: Record<string, unknown>;
}

/** true: holds; false: violated; undefined: not decided (empty result, or not evaluable). */
export type Verdict = boolean | undefined;

export const ELE_1 = 'hasValue() or (children().count() > id.count())';
export const EXT_1 = 'extension.exists() != value.exists()';

/**
 * Why some official invariants are never evaluated. `resolve()` reads another resource (the
 * target of a reference): a check of one resource being written cannot, and the engine refuses
 * it synchronously; in R4 only CareTeam's ctm-1 uses it.
 */
export const SKIP_RULES: { test: RegExp; reason: string }[] = [
  { test: /\bresolve\(\)/, reason: 'needs resolve(): the rule reads the referenced resource, which a write-time check of one resource does not have' },
];

export function skipReason(expression: string): string | undefined {
  return SKIP_RULES.find((r) => r.test.test(expression))?.reason;
}

export interface CompiledConstraint extends ConstraintDef {
  /** Evaluates on a complex value (an object) in its resource's scope. */
  test(node: Record<string, unknown>, scope: Scope): Verdict;
}

/** ele-1 on an object: some child other than `id` (a resource's `resourceType` is not a child). */
export function elementHasChildren(node: Record<string, unknown>): boolean {
  for (const k in node) if (k !== 'id' && k !== 'resourceType') return true;
  return false;
}

/** ele-1 on a primitive: a value, or an extension on it (`_name` holding more than an id). */
export function primitiveHasValue(value: unknown, ext: unknown): boolean {
  if (value !== undefined && value !== null) return true;
  return ext !== null && typeof ext === 'object' && elementHasChildren(ext as Record<string, unknown>);
}

/** ext-1: an extension has either nested extensions or a value[x], never both or neither. */
function extensionValueOrChildren(node: Record<string, unknown>): boolean {
  let value = false;
  for (const k in node) {
    if (k.startsWith('value') || k.startsWith('_value')) {
      value = true;
      break;
    }
  }
  const ext = node.extension;
  return (Array.isArray(ext) && ext.length > 0) !== value;
}

const noTrace = () => {};

/**
 * R4's definitions use the function `as(type)` on collections as a filter: dom-3 reads
 * `%resource.descendants().as(canonical)`. The FHIRPath spec (and the engine) allow it on a
 * single item only, so dom-3 would fail on any resource holding contained resources. As HL7's
 * own validator does for R4 content, `as()` is applied item by item (the engine's own `as` on
 * each), keeping the items of that type. The `as` operator is left as it is.
 */
function r4AsFunction(): Record<string, unknown> | undefined {
  try {
    const dir = path.dirname(require.resolve('fhirpath'));
    const { asFn } = require(path.join(dir, 'types.js')) as { asFn?: (this: unknown, coll: unknown[], type: unknown) => unknown[] };
    if (typeof asFn !== 'function') return undefined;
    return {
      as: {
        fn(this: unknown, coll: unknown[], type: unknown) {
          return coll.flatMap((item) => asFn.call(this, [item], type));
        },
        arity: { 1: ['TypeSpecifier'] },
        internalStructures: true,
      },
    };
  } catch {
    return undefined; // another engine layout: `as()` keeps its strict meaning, dom-3 on contained resources goes undecided
  }
}
const ENGINE_OPTIONS = { traceFn: noTrace, userInvocationTable: r4AsFunction() };
/** Times an expression threw while evaluated, per key (a library limit, never a refusal). */
export const evaluationFailures = new Map<string, number>();

function verdictOf(out: unknown[]): Verdict {
  return out.length === 1 ? out[0] !== false : undefined;
}

/** The engine's verdict: the reference every fast path must agree with. */
function engineTest(def: ConstraintDef): CompiledConstraint['test'] {
  let evaluate: Evaluator | undefined;
  let broken = false;
  return (node, scope) => {
    if (broken) return undefined;
    try {
      evaluate ??= fhirpath.compile({ base: def.context, expression: def.expression }, r4Model, ENGINE_OPTIONS);
      return verdictOf(evaluate(node, scope as unknown as Record<string, unknown>));
    } catch {
      evaluationFailures.set(def.key, (evaluationFailures.get(def.key) ?? 0) + 1);
      if (evaluate === undefined) broken = true; // does not even compile: never tried again
      return undefined;
    }
  };
}

/** Disagreements between a fast path and the engine, recorded while `crossCheck.enabled` (tests). */
export const crossCheck = { enabled: false, evaluated: 0, mismatches: [] as { key: string; node: unknown; fast: Verdict; engine: Verdict }[] };

type FastEvaluator = ReturnType<typeof compileFast>;

/** Evaluations the fast path handed to the engine, per key (for benchmarks and tests). */
export const fallbacks = new Map<string, number>();

function fastFor(def: ConstraintDef): FastEvaluator {
  try {
    return compileFast(def.expression, def.context);
  } catch {
    return () => {
      throw new Fallback('unparsed');
    };
  }
}

/** The fast path (fhirpath-fast.ts) where it can decide, the engine where it cannot. */
function fastTest(def: ConstraintDef): CompiledConstraint['test'] {
  const engine = engineTest(def);
  let fast: FastEvaluator | undefined;
  return (node, scope) => {
    let verdict: Verdict;
    try {
      fast ??= fastFor(def);
      verdict = verdictOf(fast(node, scope as unknown as Record<string, unknown>));
    } catch (err) {
      // Outside the fast subset here (or the parser refused it, and the engine will say so).
      fallbacks.set(def.key, (fallbacks.get(def.key) ?? 0) + 1);
      return engine(node, scope);
    }
    if (crossCheck.enabled) {
      crossCheck.evaluated++;
      const reference = engine(node, scope);
      if (reference !== verdict) crossCheck.mismatches.push({ key: def.key, node, fast: verdict, engine: reference });
    }
    return verdict;
  };
}

const compiled = new Map<string, CompiledConstraint>();

/** The compiled form of a constraint, shared by every element with the same context and expression. */
export function compileConstraint(def: ConstraintDef): CompiledConstraint {
  const id = `${def.context}\u0000${def.key}\u0000${def.expression}`;
  let c = compiled.get(id);
  if (!c) {
    let test: CompiledConstraint['test'];
    if (skipReason(def.expression)) test = () => undefined;
    else if (def.expression === ELE_1) test = (node) => elementHasChildren(node);
    else if (def.expression === EXT_1) test = (node) => extensionValueOrChildren(node);
    else test = fastTest(def);
    c = { ...def, test };
    compiled.set(id, c);
  }
  return c;
}
