/**
 * A native evaluator for the FHIRPath subset views use: the `fhirpath` engine's parse tree
 * compiled into closures over plain JSON (no node wrapping, no context cloning). It mirrors the
 * engine's own rules (choice elements resolved from the JSON keys in the R4 model's type
 * order, `where` keeping an item when the criteria's first value is truthy, three-valued
 * logic), and declines what it cannot do exactly:
 * - at compile time, by returning undefined (unknown node kinds, date/time literals,
 *   arithmetic, comparisons of dates, navigation from a node of unknown type…), and
 * - at run time, by throwing NEED_ENGINE (primitive extensions `_x`, decimals compared for
 *   equality, a non-boolean where a boolean is needed…), so the caller re-runs the engine.
 * Each compiled step knows the engine's static path of its values (e.g. `HumanName`,
 * `ExplanationOfBenefit.item`), the same path the engine would give its nodes.
 */
import { createRequire } from 'node:module';
import { referenceKey, resourceKey } from './functions.js';

const require = createRequire(import.meta.url);
interface Model {
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
  path2Type: Record<string, string>;
  path2TypeWithoutElements: Record<string, string>;
}
const model = require('fhirpath/fhir-context/r4') as Model;

export interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

/** Thrown by a native expression that meets data it cannot evaluate exactly; the caller runs the engine instead. */
export const NEED_ENGINE = Symbol('need-engine');

type Step = (focus: unknown[], rowIndex: number) => unknown[];
interface Compiled {
  run: Step;
  /** For a run of plain members (`a.b.c`): where it starts and the keys, walked in one pass without arrays between steps. */
  chain?: { from: Step; keys: string[]; underscored: string[] };
  /** The engine's path of the values (null when unknown, e.g. a choice without ofType). */
  path: string | null;
  /** The FHIR type of the values (`string`, `HumanName`…), null when unknown. */
  type: string | null;
  /** Whether the engine would hold these values as resource nodes (always truthy in `where`). */
  nodes: boolean;
}

class Unsupported extends Error {}
const no = (why: string): never => {
  throw new Unsupported(why);
};
const engine = (): never => {
  throw NEED_ENGINE;
};

const STRINGS = new Set(['string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown', 'System.String']);
const NUMBERS = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal', 'System.Integer', 'System.Decimal']);
const BOOLEANS = new Set(['boolean', 'System.Boolean']);
const PRIMITIVES = new Set(['Base64Binary', 'Boolean', 'Canonical', 'Code', 'Date', 'DateTime', 'Decimal', 'Id', 'Instant', 'Integer', 'Integer64', 'Markdown', 'Oid', 'PositiveInt', 'String', 'Time', 'UnsignedInt', 'Uri', 'Url', 'Uuid']);
type Kind = 'string' | 'number' | 'boolean';
const kindOf = (c: Compiled): Kind | undefined =>
  c.type === null ? undefined : STRINGS.has(c.type) ? 'string' : NUMBERS.has(c.type) ? 'number' : BOOLEANS.has(c.type) ? 'boolean' : undefined;

const child = (n: AstNode, i = 0): AstNode => n.children?.[i] ?? no(`incomplete ${n.type}`);
const identifier = (n: AstNode): string => {
  const t = n.text ?? no('identifier');
  return t.startsWith('`') ? t.slice(1, -1) : t;
};

const ESCAPES: Record<string, string> = { "'": "'", '"': '"', '`': '`', '\\': '\\', '/': '/', n: '\n', r: '\r', t: '\t', f: '\f' };
function stringLiteral(text: string): string {
  return text.slice(1, -1).replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => (e.length === 5 ? String.fromCharCode(parseInt(e.slice(1), 16)) : ESCAPES[e] ?? no(`escape \\${e}`)));
}

/** The engine's path and type of `name` under a value at `path` (see the engine's makeChildResNodes). */
function childOf(path: string, name: string): { path: string; choices?: string[] } {
  const p = `${path}.${name}`;
  const resolved = model.pathsDefinedElsewhere[p] ?? p;
  const choices = model.choiceTypePaths[resolved];
  return choices ? { path: resolved, choices } : { path: name === 'extension' ? 'Extension' : resolved };
}
const typed = (p: string) => ({ path: model.path2TypeWithoutElements[p] ?? p, type: model.path2Type[p] ?? null });

/** `name` (optionally `.ofType(T)`) of each object in the focus. */
function member(input: Compiled, name: string, ofType?: string): Compiled {
  if (input.path === null) no(`'${name}' under a value of unknown type`);
  if (/^[A-Z]/.test(name)) no(`'${name}' may be a type name`);
  const c = childOf(input.path!, name);
  if (!c.choices) {
    if (ofType !== undefined) no(`ofType() on '${name}', which is not a choice`);
    const t = typed(c.path);
    if (t.type === null || t.type === 'Resource') no(`'${c.path}' has no known type`);
    const chain = input.chain ? { from: input.chain.from, keys: [...input.chain.keys, name], underscored: [...input.chain.underscored, `_${name}`] } : { from: input.run, keys: [name], underscored: [`_${name}`] };
    const { from, keys, underscored } = chain;
    const run: Step = (focus, rowIndex) => {
      const out: unknown[] = [];
      for (const item of from(focus, rowIndex)) descend(item, keys, underscored, 0, out);
      return out;
    };
    return { ...t, nodes: true, run, chain };
  }
  // Keys and their `_` twins built once: looking up a fresh string costs a hash each time.
  const keys = c.choices.map((t) => [name + t, `_${name}${t}`]);
  if (ofType === undefined) {
    return {
      path: null,
      type: null,
      nodes: true,
      run: navigate(input.run, (o, out) => {
        for (const [k, u] of keys) if (o[k] !== undefined || o[u] !== undefined) return push(o, k, u, out);
      }),
    };
  }
  const suffix = ofType[0].toUpperCase() + ofType.slice(1);
  const wanted = name + suffix;
  if (!c.choices.includes(suffix)) no(`${suffix} is not a type of ${c.path}`);
  const t = typed(c.path + suffix);
  if (t.type === null) no(`'${c.path}${suffix}' has no known type`);
  return {
    ...t,
    nodes: true,
    run: navigate(input.run, (o, out) => {
      for (const [k, u] of keys) {
        if (o[k] === undefined && o[u] === undefined) continue;
        if (k === wanted) return push(o, k, u, out);
        // Another type found first: a primitive is never a complex type nor the reverse; between
        // primitives (a code is a string) or complex types (an Age is a Quantity) the engine decides.
        return PRIMITIVES.has(k.slice(name.length)) === PRIMITIVES.has(suffix) ? engine() : undefined;
      }
    }),
  };
}

function push(o: Record<string, unknown>, key: string, underscored: string, out: unknown[]): void {
  const v = o[key];
  if (v === undefined || v === null) {
    if (o[underscored] !== undefined) engine();
    return;
  }
  if (!Array.isArray(v)) {
    out.push(v);
    return;
  }
  if (o[underscored] !== undefined) engine();
  for (const x of v) {
    if (x === null) engine();
    out.push(x);
  }
}

/** Follows keys[i…] from `value` (objects only), pushing what the last key holds. */
function descend(value: unknown, keys: string[], underscored: string[], i: number, out: unknown[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const o = value as Record<string, unknown>;
  const v = o[keys[i]];
  // A primitive's `_x` twin changes the engine's answer only where the value is missing or in
  // an array (nodes for extensions without values); a single value reads the same either way.
  if (v === undefined || v === null) {
    if (o[underscored[i]] !== undefined) engine();
    return;
  }
  const last = i === keys.length - 1;
  if (!Array.isArray(v)) {
    if (last) out.push(v);
    else descend(v, keys, underscored, i + 1, out);
    return;
  }
  if (o[underscored[i]] !== undefined) engine();
  for (const x of v) {
    if (x === null) engine();
    if (last) out.push(x);
    else descend(x, keys, underscored, i + 1, out);
  }
}

function navigate(input: Step, visit: (o: Record<string, unknown>, out: unknown[]) => void): Step {
  return (focus, rowIndex) => {
    const out: unknown[] = [];
    for (const item of input(focus, rowIndex)) if (typeof item === 'object' && item !== null && !Array.isArray(item)) visit(item as Record<string, unknown>, out);
    return out;
  };
}

/** The member a node ends with, if it is `x.name` or a bare `name`: the part before it (null: the focus) and the name. */
function memberAtEnd(n: AstNode): { before: AstNode | null; name: string } | undefined {
  if (n.type === 'TermExpression' && n.children?.[0]?.type === 'InvocationTerm' && n.children[0].children?.[0]?.type === 'MemberInvocation') {
    return { before: null, name: identifier(n.children[0].children[0]) };
  }
  if (n.type === 'InvocationExpression' && n.children?.[1]?.type === 'MemberInvocation') return { before: child(n, 0), name: identifier(child(n, 1)) };
  return undefined;
}

function functionCall(n: AstNode): { name: string; params: AstNode[] } {
  const fn = child(n, 0);
  const name = identifier(fn.children?.find((c) => c.type === 'Identifier') ?? no('function name'));
  const params = fn.children?.find((c) => c.type === 'ParamList')?.children ?? [];
  return { name, params };
}

function keys(values: unknown[], key: (x: unknown) => string | undefined): string[] {
  const out: string[] = [];
  for (const x of values) {
    const k = key(x);
    if (k !== undefined) out.push(k);
  }
  return out;
}

const raw = (run: Step, type: string | null = 'boolean'): Compiled => ({ run, path: null, type, nodes: false });
const bool = (v: unknown): boolean | undefined => (v === undefined ? undefined : typeof v === 'boolean' ? v : engine());
const single = (values: unknown[]): unknown => (values.length > 1 ? engine() : values[0]);

/** A string-literal argument (constants are inlined before compiling). */
function stringArg(n: AstNode): string {
  const lit = n.type === 'TermExpression' ? child(n) : n;
  if (lit.type !== 'LiteralTerm' || child(lit).type !== 'StringLiteral') no('argument is not a string literal');
  return stringLiteral(child(lit).text ?? '');
}

function invoke(input: Compiled, inv: AstNode, self: Compiled): Compiled {
  if (inv.type === 'MemberInvocation') return member(input, identifier(inv));
  if (inv.type === 'ThisInvocation') return self;
  if (inv.type !== 'FunctionInvocation') no(inv.type);
  const { name, params } = functionCall(inv);
  const run = input.run;
  const item: Compiled = { ...input, chain: undefined, run: (focus) => focus };
  switch (name) {
    case 'where':
    case 'exists': {
      if (name === 'exists' && !params.length) return raw((f, r) => [run(f, r).length > 0]);
      const crit = expression(params[0], item);
      const keep = crit.nodes ? (v: unknown[]) => v.length > 0 : (v: unknown[]) => Boolean(v[0]);
      const filter: Step = (f, r) => run(f, r).filter((x) => keep(crit.run([x], r)));
      return name === 'where' ? { ...input, chain: undefined, run: filter } : raw((f, r) => [filter(f, r).length > 0]);
    }
    case 'empty':
      return raw((f, r) => [run(f, r).length === 0]);
    case 'first':
      return { ...input, chain: undefined, run: (f, r) => run(f, r).slice(0, 1) };
    case 'not':
      if (input.nodes && kindOf(input) !== 'boolean') no('not() of a non-boolean');
      return raw((f, r) => {
        const v = bool(single(run(f, r)));
        return v === undefined ? [] : [!v];
      });
    case 'extension': {
      if (input.type === null || /^[a-z]/.test(input.type) || input.type.startsWith('System.')) no('extension() of a primitive');
      const url = stringArg(params[0]);
      return { path: 'Extension', type: 'Extension', nodes: true, run: navigate(run, (o, out) => (Array.isArray(o.extension) ? o.extension.forEach((e) => (e as { url?: unknown })?.url === url && out.push(e)) : undefined)) };
    }
    case 'join': {
      if (kindOf(input) !== 'string') no('join() of non-strings');
      const sep = params.length ? stringArg(params[0]) : '';
      return raw((f, r) => [run(f, r).join(sep)], 'string');
    }
    case 'getResourceKey':
      return raw((f, r) => keys(run(f, r), (x) => resourceKey(x as Record<string, unknown>)), 'string');
    case 'getReferenceKey': {
      const type = params.length ? memberAtEnd(params[0]) : undefined;
      if (params.length && (!type || type.before)) no('getReferenceKey() type');
      return raw((f, r) => keys(run(f, r), (x) => referenceKey(x, type?.name)), 'string');
    }
    default:
      return no(`${name}()`);
  }
}

function literal(n: AstNode): Compiled {
  const lit = child(n);
  const text = lit.text ?? '';
  if (lit.type === 'StringLiteral') {
    const v = stringLiteral(text);
    return raw(() => [v], 'string');
  }
  if (lit.type === 'BooleanLiteral') return raw(() => [text === 'true']);
  if (lit.type === 'NumberLiteral') {
    const v = Number(text);
    return raw(() => [v], text.includes('.') ? 'decimal' : 'integer');
  }
  return no(lit.type);
}

function equality(n: AstNode, self: Compiled): Compiled {
  const [a, b] = [expression(child(n, 0), self), expression(child(n, 1), self)];
  const kind = kindOf(a);
  if (!kind || kind !== kindOf(b) || (n.text !== '=' && n.text !== '!=')) no(`${n.text} of ${a.type} and ${b.type}`);
  const negate = n.text === '!=';
  return raw((f, r) => {
    const [x, y] = [a.run(f, r), b.run(f, r)];
    if (!x.length || !y.length) return [];
    let eq = x.length === y.length;
    for (let i = 0; eq && i < x.length; i++) {
      // The engine compares decimals after rounding; only integers compare exactly here.
      if (kind === 'number' && !(Number.isInteger(x[i]) && Number.isInteger(y[i]))) engine();
      eq = x[i] === y[i];
    }
    return [eq !== negate];
  });
}

function inequality(n: AstNode, self: Compiled): Compiled {
  const [a, b] = [expression(child(n, 0), self), expression(child(n, 1), self)];
  const kind = kindOf(a);
  if (!kind || kind === 'boolean' || kind !== kindOf(b)) no(`${n.text} of ${a.type} and ${b.type}`);
  const op = n.text;
  return raw((f, r) => {
    const [x, y] = [single(a.run(f, r)), single(b.run(f, r))] as [number, number];
    if (x === undefined || y === undefined) return [];
    return [op === '<' ? x < y : op === '>' ? x > y : op === '<=' ? x <= y : op === '>=' ? x >= y : no(op ?? '')];
  });
}

function logic(n: AstNode, self: Compiled): Compiled {
  const [a, b] = [expression(child(n, 0), self), expression(child(n, 1), self)];
  for (const c of [a, b]) if (c.nodes && kindOf(c) !== 'boolean') no('logic on non-booleans');
  const op = n.text;
  return raw((f, r) => {
    const x = bool(single(a.run(f, r)));
    const y = bool(single(b.run(f, r)));
    let v: boolean | undefined;
    if (op === 'and') v = x === false || y === false ? false : x === undefined || y === undefined ? undefined : true;
    else if (op === 'or') v = x === true || y === true ? true : x === undefined || y === undefined ? undefined : false;
    else if (op === 'xor') v = x === undefined || y === undefined ? undefined : x !== y;
    else if (op === 'implies') v = x === false || y === true ? true : x === undefined || y === undefined ? undefined : false;
    else no(op ?? '');
    return v === undefined ? [] : [v];
  });
}

function expression(n: AstNode, self: Compiled): Compiled {
  switch (n.type) {
    case 'TermExpression': {
      const term = child(n);
      if (term.type === 'InvocationTerm') return invoke(self, child(term), self);
      if (term.type === 'LiteralTerm') return literal(term);
      if (term.type === 'ParenthesizedTerm') return expression(child(term), self);
      if (term.type === 'ExternalConstantTerm' && term.text === 'rowIndex') return raw((_, r) => [r], 'integer');
      return no(term.type);
    }
    case 'InvocationExpression': {
      const inv = child(n, 1);
      if (inv.type === 'FunctionInvocation' && functionCall(inv).name === 'ofType') {
        const m = memberAtEnd(child(n, 0));
        const type = functionCall(inv).params[0];
        const t = type && memberAtEnd(type);
        if (!m || !t || t.before) no('ofType() not right after a member');
        return member(m!.before ? expression(m!.before, self) : self, m!.name, t!.name);
      }
      return invoke(expression(child(n, 0), self), inv, self);
    }
    case 'IndexerExpression': {
      const base = expression(child(n, 0), self);
      const index = expression(child(n, 1), self);
      if (index.type !== 'integer' || index.nodes) no('indexer that is not an integer literal or %rowIndex');
      return { ...base, chain: undefined, run: (f, r) => base.run(f, r).slice(...(([i]) => [i, i + 1])(index.run(f, r) as number[])) };
    }
    case 'EqualityExpression':
      return equality(n, self);
    case 'InequalityExpression':
      return inequality(n, self);
    case 'AndExpression':
    case 'OrExpression':
    case 'ImpliesExpression':
      return logic(n, self);
    default:
      return no(n.type);
  }
}

export interface NativeExpression {
  /** Input (one plain JSON value), %rowIndex → plain JSON values; may throw NEED_ENGINE. */
  evaluate: (input: unknown, rowIndex: number) => unknown[];
  /** The engine's path of the values, null when unknown. */
  path: string | null;
}

/**
 * Compiles a parsed expression (constants inlined) over plain JSON at the engine path `base`
 * (a resource type or an element path such as `Patient.contact`); undefined when it uses
 * anything the native evaluator does not do exactly.
 */
export function compileNative(ast: AstNode, base: string): NativeExpression | undefined {
  const root = ast.type === 'EntireExpression' && ast.children?.[0]?.type === 'EntireExpression' ? child(ast) : ast;
  const focus: Compiled = { run: (f) => f, path: base, type: model.path2Type[base] ?? base, nodes: true };
  try {
    const c = expression(child(root), focus);
    // An array input is a collection (a forEachOrNull that found nothing gives its columns []).
    return { evaluate: (input, rowIndex) => c.run(Array.isArray(input) ? input : [input], rowIndex), path: c.path };
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}
