/**
 * A fast path for the invariants' FHIRPath: the expression is parsed once by the `fhirpath`
 * engine's own parser and its syntax tree turned into plain JS closures over the JSON, for
 * the small part of the language that R4's hot invariants use (member paths, `empty()`,
 * `exists()`, `hasValue()`, `not()`, `startsWith()`, `where()`…, three-valued `and`/`or`/
 * `xor`/`implies`, `=`/`!=`/`in` on strings, numbers and booleans, ordering of numbers and of
 * same-precision dates).
 *
 * Whatever falls outside that subset — an unsupported function or operator, a choice element,
 * a primitive carrying extensions, dates of different precision or time zone — throws
 * `Fallback` when (and only when) it is reached, and the caller evaluates the whole expression
 * with the engine instead. So the fast path either gives the engine's answer or declines;
 * test/invariants.test.ts checks the two agree on every value of a seeded plan.
 */
import { createRequire } from 'node:module';
import { capital, choiceTypes, nextContext, pathTypes } from './fhirpath-compile.js';

const require = createRequire(import.meta.url);
const { parse } = require('fhirpath') as { parse: (expression: string) => AstNode };

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

/** The fast path cannot decide this evaluation exactly: use the engine. */
export class Fallback extends Error {}
const FALLBACK = new Fallback('fallback');
const fail = (): never => {
  throw FALLBACK;
};

interface Env {
  /** `$this` of the enclosing lambda, or the context node. */
  focus: unknown[];
  vars: Record<string, unknown>;
}
type Fn = (input: unknown[], env: Env) => unknown[];

const EMPTY: unknown[] = [];
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A compiled sub-expression and, when known statically, the type path of what it yields. */
interface Compiled {
  fn: Fn;
  type?: string;
}

/**
 * `name` on each item. With the items' type known, a choice element (Observation.value) is
 * read under its typed keys (valueQuantity…), as the engine does with the R4 model.
 */
function member(name: string, parent: string | undefined): Compiled {
  if (/^[A-Z]/.test(name)) return { fn: fail }; // a type name: FHIRPath's type filter, not a child
  // A path the R4 model does not know (e.g. below a contentReference) is of unknown type.
  const known = parent !== undefined && (`${parent}.${name}` in pathTypes || `${parent}.${name}` in choiceTypes);
  const path = known ? `${parent}.${name}` : undefined;
  const choices = path ? choiceTypes[path] : undefined;
  if (choices) {
    const keys = choices.map((t) => `${name}${capital(t)}`);
    return { fn: members(keys), type: choices.length === 1 ? capital(choices[0]) : undefined };
  }
  return { fn: members([name], !path), type: path ? nextContext(path) : undefined };
}

function members(keys: string[], guessChoice = false): Fn {
  const exts = keys.map((k) => `_${k}`);
  return (input) => {
    const out: unknown[] = [];
    for (const item of input) {
      if (!isObject(item)) continue;
      for (let i = 0; i < keys.length; i++) read(item, keys[i], exts[i], guessChoice, out);
    }
    return out;
  };
}

function read(item: Record<string, unknown>, name: string, ext: string, guessChoice: boolean, out: unknown[]): void {
  if (item[ext] !== undefined) fail(); // a primitive with extensions is a node of its own in FHIRPath
  const v = item[name];
  if (v === undefined) {
    // Of an unknown type, a choice element (value[x]) could hide under valueQuantity etc.
    if (guessChoice) for (const k in item) if (k.length > name.length && k.startsWith(name) && /[A-Z]/.test(k[name.length])) fail();
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) if (x !== null && x !== undefined) out.push(x);
  } else if (v !== null) out.push(v);
}

/** FHIRPath's singleton evaluation of a collection as a Boolean: true, false or empty (undefined). */
function truth(c: unknown[]): boolean | undefined {
  if (c.length === 0) return undefined;
  if (c.length === 1 && typeof c[0] === 'boolean') return c[0];
  return fail();
}

const bool = (b: boolean | undefined): unknown[] => (b === undefined ? EMPTY : [b]);

function single(c: unknown[]): unknown {
  if (c.length > 1) fail();
  return c[0];
}

const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$/;
/** Strings the engine may read as a date, dateTime, instant or time (compared by instant, not text). */
const TEMPORAL = /^(\d{4}(-\d{2})?(-\d{2})?(T|$)|\d{2}:\d{2})/;

function zone(s: string): string {
  const m = /(Z|[+-]\d{2}:\d{2})$/.exec(s.length > 10 ? s : '');
  return m ? m[1] : '';
}

function equalValues(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b || isObject(a) || isObject(b)) fail();
  // Dates of different precision compare as empty, and equal instants may be written in two
  // zones: the engine's business.
  if (typeof a === 'string' && (TEMPORAL.test(a) || TEMPORAL.test(b as string)) && (a.length !== (b as string).length || zone(a) !== zone(b as string))) fail();
  return a === b;
}

function order(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string' && a.length === b.length && DATE.test(a) && DATE.test(b) && zone(a) === zone(b)) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return fail();
}

function literal(node: AstNode): unknown[] {
  const lit = node.children![0];
  const text = lit.text ?? '';
  switch (lit.type) {
    case 'StringLiteral':
      if (text.includes('\\')) return fail();
      return [text.slice(1, -1)];
    case 'NumberLiteral':
      return [Number(text)];
    case 'BooleanLiteral':
      return [text === 'true'];
    default:
      return fail();
  }
}

function args(fn: AstNode): AstNode[] {
  const list = fn.children?.find((c) => c.type === 'ParamList');
  return list?.children ?? [];
}

/**
 * A function applied to `input` (of type `inputType`, when known). Lambda arguments (`where`,
 * `exists`, `all`, `select`) run with each item as their focus.
 */
function callFunction(name: string, params: AstNode[], inputType: string | undefined): Fn {
  const lambda = ['where', 'exists', 'all', 'select'].includes(name);
  const p = params.map((n) => compileNode(n, lambda ? inputType : undefined).fn);
  switch (name) {
    case 'empty':
      return (input) => [input.length === 0];
    case 'exists':
      if (p.length === 0) return (input) => [input.length > 0];
      return (input, env) => [input.some((item) => truth(p[0]([item], { ...env, focus: [item] })) === true)];
    case 'where':
      return (input, env) => input.filter((item) => truth(p[0]([item], { ...env, focus: [item] })) === true);
    case 'all':
      return (input, env) => [input.every((item) => truth(p[0]([item], { ...env, focus: [item] })) === true)];
    case 'select':
      return (input, env) => input.flatMap((item) => p[0]([item], { ...env, focus: [item] }));
    case 'not':
      return (input) => {
        const t = truth(input);
        return t === undefined ? EMPTY : [!t];
      };
    case 'hasValue':
      return (input) => [input.length === 1 && !isObject(single(input))];
    case 'count':
      return (input) => [input.length];
    case 'first':
      return (input) => (input.length ? [input[0]] : EMPTY);
    case 'trace':
      return (input) => input;
    case 'startsWith':
      return (input, env) => {
        const s = single(input);
        const prefix = single(p[0](env.focus, env));
        if (s === undefined || prefix === undefined) return EMPTY;
        if (typeof s !== 'string' || typeof prefix !== 'string') return fail();
        return [s.startsWith(prefix)];
      };
    case 'substring':
      return (input, env) => {
        const s = single(input);
        const start = single(p[0](env.focus, env));
        if (s === undefined || p.length !== 1) return p.length === 1 ? EMPTY : fail();
        if (typeof s !== 'string' || typeof start !== 'number' || !Number.isInteger(start)) return fail();
        return start < 0 || start >= s.length ? EMPTY : [s.slice(start)];
      };
    default:
      return fail;
  }
}

function binary(node: AstNode, focusType: string | undefined): Fn {
  const [l, r] = node.children!.map((n) => compileNode(n, focusType).fn);
  const op = node.text;
  switch (node.type) {
    case 'OrExpression':
      if (op !== 'or' && op !== 'xor') return fail;
      return (input, env) => {
        // Both sides always, as the engine does: an error on either side is its to report.
        const a = truth(l(input, env));
        const b = truth(r(input, env));
        // xor (Parameters' inv-1, on every parameter of every operation call): empty unless both are known.
        if (op === 'xor') return a === undefined || b === undefined ? EMPTY : [a !== b];
        return a === true || b === true ? [true] : a === false && b === false ? [false] : EMPTY;
      };
    case 'AndExpression':
      return (input, env) => {
        const a = truth(l(input, env));
        const b = truth(r(input, env));
        return a === false || b === false ? [false] : a === true && b === true ? [true] : EMPTY;
      };
    case 'ImpliesExpression':
      return (input, env) => {
        const a = truth(l(input, env));
        const b = truth(r(input, env));
        if (a === false) return [true];
        if (a === true) return bool(b);
        return b === true ? [true] : EMPTY;
      };
    case 'EqualityExpression':
      if (op !== '=' && op !== '!=') return fail;
      return (input, env) => {
        const a = l(input, env);
        const b = r(input, env);
        if (a.length === 0 || b.length === 0) return EMPTY;
        const eq = equalValues(single(a), single(b));
        return [op === '=' ? eq : !eq];
      };
    case 'InequalityExpression':
      return (input, env) => {
        const a = single(l(input, env));
        const b = single(r(input, env));
        if (a === undefined || b === undefined) return EMPTY;
        const d = order(a, b);
        return [op === '<' ? d < 0 : op === '<=' ? d <= 0 : op === '>' ? d > 0 : op === '>=' ? d >= 0 : fail()];
      };
    case 'MembershipExpression':
      if (op !== 'in') return fail;
      return (input, env) => {
        const a = single(l(input, env));
        if (a === undefined) return EMPTY;
        return [r(input, env).some((b) => equalValues(a, b))];
      };
    default:
      return fail;
  }
}

const UCUM = ['http://unitsofmeasure.org'];

/** Compiles a syntax-tree node whose focus (`$this`) is of type `focusType` (when known). */
function compileNode(node: AstNode, focusType: string | undefined): Compiled {
  const kids = node.children ?? [];
  switch (node.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'ParenthesizedTerm':
      return compileNode(kids[0], focusType);
    case 'InvocationTerm': {
      const inner = kids[0];
      if (inner.type === 'MemberInvocation') {
        const m = member(identifier(inner), focusType);
        return { fn: (_input, env) => m.fn(env.focus, env), type: m.type };
      }
      if (inner.type === 'FunctionInvocation') {
        const f = fnOf(inner, focusType);
        return { fn: (_input, env) => f(env.focus, env) };
      }
      if (inner.type === 'ThisInvocation') return { fn: (_input, env) => env.focus, type: focusType };
      return { fn: fail };
    }
    case 'InvocationExpression': {
      const base = compileNode(kids[0], focusType);
      const next = kids[1];
      let step: Compiled = { fn: fail };
      if (next.type === 'MemberInvocation') step = member(identifier(next), base.type);
      else if (next.type === 'FunctionInvocation') {
        const name = identifier(next.children![0]);
        step = { fn: fnOf(next, base.type), type: name === 'where' || name === 'trace' || name === 'first' ? base.type : undefined };
      }
      const b = base.fn;
      const s = step.fn;
      return { fn: (input, env) => s(b(input, env), env), type: step.type };
    }
    case 'LiteralTerm': {
      const value = literal(node);
      return { fn: () => value };
    }
    case 'ExternalConstantTerm': {
      const name = identifier(kids[0]);
      if (name === 'ucum') return { fn: () => UCUM };
      if (name !== 'resource' && name !== 'rootResource') return { fn: fail };
      return { fn: (_input, env) => [env.vars[name]] };
    }
    case 'OrExpression':
    case 'AndExpression':
    case 'ImpliesExpression':
    case 'EqualityExpression':
    case 'InequalityExpression':
    case 'MembershipExpression':
      return { fn: binary(node, focusType) };
    default:
      return { fn: fail };
  }
}

function identifier(node: AstNode): string {
  const id = node.children?.[0]?.type === 'Identifier' ? node.children[0].text! : node.text!;
  return id.startsWith('`') ? id.slice(1, -1) : id;
}

function fnOf(node: AstNode, inputType: string | undefined): Fn {
  const functn = node.children![0];
  return callFunction(identifier(functn), args(functn), inputType);
}

const parsed = new Map<string, AstNode>();

/**
 * Compiles an expression evaluated on values of the element `context` (a type name or an
 * element path) to a closure over the JSON: `[true]`, `[false]`, `[]`… or a thrown Fallback.
 * Each expression text is parsed once, whatever its context.
 */
export function compileFast(expression: string, context?: string): (node: unknown, vars: Record<string, unknown>) => unknown[] {
  let ast = parsed.get(expression);
  if (!ast) parsed.set(expression, (ast = parse(expression)));
  const { fn } = compileNode(ast, context ? nextContext(context) ?? context : undefined);
  return (node, vars) => fn([node], { focus: [node], vars });
}
