/**
 * FHIRPath for views, the one entry point: each expression is parsed once, checked against the
 * subset the SQL on FHIR specification requires of every runner (functions outside it are
 * refused, so a view that runs here runs on any conforming runner), its constants inlined as
 * typed literals, and compiled — by the native evaluator (./fhirpath-native.ts) when its input
 * is plain JSON at a known path and it does the expression exactly, else by the `fhirpath`
 * engine with the specification's own functions added. The choice is made per expression, at
 * compile time; the native evaluator hands the rare input it cannot read exactly to the engine.
 *
 * Engine-compiled expressions keep the engine's typed nodes between steps (a forEach's elements
 * keep their FHIR type, so `value.ofType(string)` inside an iterated `answer` still resolves);
 * plain JSON below the resource is given to the engine with its path, for the same reason.
 */
import { createRequire } from 'node:module';
import { FhirError, InvalidError, NotSupportedError } from '../errors.js';
import { isResourceType } from '../fhir/schema.js';
import type { ConstantDef } from './definition.js';
import { viewFunctions } from './functions.js';
import { compileNative, NEED_ENGINE, type AstNode } from './fhirpath-native.js';

const require = createRequire(import.meta.url);
interface Engine {
  parse(expr: string): AstNode;
  compile(expr: string | { base: string; expression: string }, model: unknown, options: unknown): (input: unknown, vars?: Record<string, unknown>) => unknown[];
  resolveInternalTypes(value: unknown[]): unknown[];
}
const fhirpath = require('fhirpath') as Engine;
const r4Model = require('fhirpath/fhir-context/r4') as unknown;


/**
 * The functions of the specification's FHIRPath subset, with the argument counts each takes.
 * `join`, `lowBoundary` and `highBoundary` are marked experimental by the specification.
 */
const SUBSET: Record<string, number[]> = {
  where: [1],
  exists: [0, 1],
  empty: [0],
  first: [0],
  not: [0],
  ofType: [1],
  extension: [1],
  join: [0, 1],
  getResourceKey: [0],
  getReferenceKey: [0, 1],
  lowBoundary: [0, 1],
  highBoundary: [0, 1],
};

/** Environment variables a view may read besides its constants. */
const BUILT_IN_VARIABLES = new Set(['rowIndex']);

/** A compiled expression: input (a resource or an element), the current %rowIndex → result values. */
export type Evaluator = (input: unknown, rowIndex: number) => unknown[];

/**
 * Where an expression's input comes from: plain JSON at an engine path (the resource type at
 * the top, e.g. `Patient.contact` under a native forEach), or the engine's typed nodes (null).
 */
export type Base = string | null;

export interface CompiledExpression {
  evaluate: Evaluator;
  /** True when `evaluate` gives plain JSON, false when it gives the engine's typed nodes (see plainValues). */
  plain: boolean;
  /** The engine path of the plain values when known (a native iteration's foci), else null. */
  path: string | null;
  /** Whether the native evaluator runs it (false: the `fhirpath` engine, decided at compile time). */
  native: boolean;
}

function firstLine(message: string): string {
  return message.split('\n').filter(Boolean).slice(0, 2).join('; ').replace(/^line: 1; /, '');
}

function walk(node: AstNode & { delimitedText?: string }, visit: (n: AstNode) => void): void {
  visit(node);
  for (const c of node.children ?? []) walk(c, visit);
}

/** Checks one expression against the subset and the view's constants; throws a 400 naming the problem and where it is. */
function check(expr: string, at: string, constants: Map<string, string>): void {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(expr) as AstNode;
  } catch (err) {
    throw new InvalidError(`Invalid ViewDefinition: the FHIRPath expression at '${at}' (${JSON.stringify(expr)}) cannot be parsed: ${firstLine((err as Error).message)}`, [at]);
  }
  walk(ast, (n: AstNode & { delimitedText?: string }) => {
    if (n.type === 'FunctionInvocation') {
      const fn = n.children?.find((c) => c.type === 'Functn');
      const name = fn?.children?.find((c) => c.type === 'Identifier')?.text ?? n.text ?? '?';
      const params = fn?.children?.find((c) => c.type === 'ParamList')?.children?.length ?? 0;
      const arities = SUBSET[name];
      if (!arities) {
        throw new InvalidError(
          `Invalid ViewDefinition: the function '${name}()' at '${at}' is outside the FHIRPath subset of SQL on FHIR (${Object.keys(SUBSET).join(', ')})`,
          [at],
          'not-supported',
        );
      }
      if (!arities.includes(params)) throw new InvalidError(`Invalid ViewDefinition: '${name}()' at '${at}' takes ${arities.join(' or ')} argument(s), not ${params}`, [at]);
    }
    if (n.type === 'ExternalConstantTerm') {
      const name = n.delimitedText ? n.delimitedText.slice(1, -1) : n.text ?? '';
      if (!constants.has(name) && !BUILT_IN_VARIABLES.has(name)) {
        throw new InvalidError(`Invalid ViewDefinition: '%${name}' at '${at}' is not a constant of the view (nor %rowIndex)`, [at]);
      }
    }
  });
}

const STRING_KINDS = new Set(['String', 'Code', 'Id', 'Uri', 'Url', 'Canonical', 'Oid', 'Uuid', 'Markdown', 'Base64Binary']);
const INTEGER_KINDS = new Set(['Integer', 'PositiveInt', 'UnsignedInt', 'Integer64']);

/** A constant as the FHIRPath literal of its type. */
function literal(c: ConstantDef, at: string): string {
  const bad = (): never => {
    throw new InvalidError(`Invalid ViewDefinition: constant '${c.name}' has an invalid value${c.kind}`, [at]);
  };
  const v = c.value;
  if (STRING_KINDS.has(c.kind)) {
    if (typeof v !== 'string') bad();
    return `'${(v as string).replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}'`;
  }
  if (c.kind === 'Boolean') return typeof v === 'boolean' ? String(v) : bad();
  if (INTEGER_KINDS.has(c.kind)) return typeof v === 'number' && Number.isInteger(v) ? `(${v})` : bad();
  if (c.kind === 'Decimal') {
    if (typeof v !== 'number' || !Number.isFinite(v)) bad();
    const text = String(v);
    return `(${/[.e]/.test(text) ? text : `${text}.0`})`;
  }
  if (c.kind === 'Date') return typeof v === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(v) ? `@${v}` : bad();
  if (c.kind === 'DateTime' || c.kind === 'Instant') {
    return typeof v === 'string' && /^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.test(v) ? `@${v.includes('T') ? v : `${v}T`}` : bad();
  }
  if (c.kind === 'Time') return typeof v === 'string' && /^\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(v) ? `@T${v}` : bad();
  throw new InvalidError(`Invalid ViewDefinition: constant '${c.name}' has value${c.kind}, which is not a primitive type a view can use`, [at]);
}

/** Replaces each `%constant` outside string literals with its literal. */
function inline(expr: string, literals: Map<string, string>): string {
  let out = '';
  for (let i = 0; i < expr.length; ) {
    const c = expr[i];
    if (c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' ? 2 : 1;
      out += expr.slice(i, j + 1);
      i = j + 1;
    } else if (c === '%') {
      const m = /^%(?:`([^`]*)`|([A-Za-z_][A-Za-z0-9_]*))/.exec(expr.slice(i));
      const name = m?.[1] ?? m?.[2];
      const lit = name !== undefined ? literals.get(name) : undefined;
      out += lit ?? (m ? m[0] : c);
      i += m ? m[0].length : 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Compiles the expressions of one view, sharing its constants. */
export class ViewExpressions {
  private readonly literals = new Map<string, string>();

  /** How many expressions were compiled natively and how many by the engine. */
  readonly counts = { native: 0, engine: 0 };

  /** `native: false` compiles everything with the engine (what the differential test compares against). */
  constructor(constants: ConstantDef[], private readonly native = true) {
    constants.forEach((c, i) => this.literals.set(c.name, literal(c, `ViewDefinition.constant[${i}]`)));
  }

  /**
   * Checks and compiles `expr` (found at `at` in the view) for input at `base`. Natively when
   * the input is plain JSON and the expression is in what the native evaluator does exactly
   * (and, with need 'path', its values' engine path is known, so nested expressions can run
   * natively too); otherwise by the engine.
   */
  compile(expr: string, at: string, base: Base = null, need: 'values' | 'path' | 'engine' = 'values'): CompiledExpression {
    check(expr, at, this.literals);
    const text = inline(expr, this.literals);
    // Plain JSON below the resource is given to the engine with its path, so it types it as it would its own node.
    const engineFn = this.engine(text, at, base !== null && !isResourceType(base) ? base : null);
    const native = base !== null && this.native && need !== 'engine' ? compileNative(fhirpath.parse(text) as AstNode, base) : undefined;
    if (!native || (need === 'path' && native.path === null)) {
      this.counts.engine++;
      return { evaluate: engineFn, plain: false, path: null, native: false };
    }
    this.counts.native++;
    const { evaluate } = native;
    return {
      native: true,
      plain: true,
      path: native.path,
      evaluate: (input, rowIndex) => {
        try {
          return evaluate(input, rowIndex);
        } catch (err) {
          if (err !== NEED_ENGINE) throw err;
          return plainValues(engineFn(input, rowIndex));
        }
      },
    };
  }

  private engine(text: string, at: string, base: string | null): Evaluator {
    let fn: (input: unknown, vars?: Record<string, unknown>) => unknown[];
    try {
      fn = fhirpath.compile(base ? { base, expression: text } : text, r4Model, { resolveInternalTypes: false, userInvocationTable: viewFunctions });
    } catch (err) {
      throw new InvalidError(`Invalid ViewDefinition: the FHIRPath expression at '${at}' cannot be compiled: ${firstLine((err as Error).message)}`, [at]);
    }
    return (input, rowIndex) => {
      try {
        return fn(input, { rowIndex });
      } catch (err) {
        if (err instanceof FhirError) throw err;
        const message = firstLine((err as Error).message);
        if (message.startsWith('Not implemented')) throw new NotSupportedError(`The FHIRPath at '${at}' uses something this server does not implement: ${message}`);
        throw new InvalidError(`The FHIRPath expression at '${at}' failed: ${message}`, [at], 'processing');
      }
    };
  }
}

/** A compiled expression's result as plain JSON values (dates as their text, elements as objects). */
export function plainValues(nodes: unknown[]): unknown[] {
  return fhirpath.resolveInternalTypes(nodes);
}
