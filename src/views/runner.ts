/**
 * A ViewDefinition compiled once into a function from one resource to its rows, following the
 * specification's functional model: `where` keeps or drops the resource; each select yields,
 * for every focus (the node itself, each element of forEach / forEachOrNull, every node
 * reached by repeat), the cross product of its own columns, its nested selects' rows and the
 * concatenated rows of its unionAll branches. `%rowIndex` is the focus's position in its
 * iteration (0 at the top), inherited by selects that do not iterate.
 */
import { InvalidError } from '../errors.js';
import { columnsOf, parseViewDefinition, type ColumnDef, type SelectDef, type ViewDef } from './definition.js';
import { plainValues, ViewExpressions, type Base, type CompiledExpression } from './fhirpath.js';

/** One output row: values in the order of `CompiledView.columns`. */
export type ViewRow = unknown[];

interface CompiledColumn {
  index: number;
  def: ColumnDef;
  expression: CompiledExpression;
}

interface CompiledSelect {
  columns: CompiledColumn[];
  selects: CompiledSelect[];
  unions: CompiledSelect[];
  mode?: 'forEach' | 'forEachOrNull' | 'repeat';
  iterate?: CompiledExpression[];
  /** repeat: the paths again, compiled for the foci they yield (whose type is that of the first level). */
  again?: CompiledExpression[];
  /** Indexes of every column this select and its children produce (set to null on a forEachOrNull miss). */
  produces: number[];
}

/**
 * A row being built: one slot per output column, `undefined` until a select produces it
 * (a column's value is never undefined: an empty result is null). Plain arrays of the
 * view's width, not Maps: rows are built for every resource of an export.
 */
type Partial = unknown[];

export interface CompiledView {
  definition: ViewDef;
  /** The output columns, in order. */
  columns: ColumnDef[];
  /** The rows one resource yields (none when `where` excludes it or its type is not the view's). */
  rows(resource: Record<string, unknown>): ViewRow[];
  /** How many of its expressions run natively and how many by the `fhirpath` engine. */
  expressions: { native: number; engine: number };
}

export interface CompileOptions {
  /** false: every expression by the `fhirpath` engine (the reference the native evaluator is tested against). */
  native?: boolean;
}

function columnValue(c: CompiledColumn, node: unknown, rowIndex: number): unknown {
  const result = c.expression.evaluate(node, rowIndex);
  const values = c.expression.plain ? result : plainValues(result);
  if (c.def.collection) return values;
  if (values.length > 1) {
    throw new InvalidError(`Column '${c.def.name}' (${c.def.at}.path) gave ${values.length} values for one row; a column that can hold several needs "collection": true`, [`${c.def.at}.path`], 'processing');
  }
  return values.length ? values[0] : null;
}

function cross(left: Partial[], right: Partial[]): Partial[] {
  // The common case, one row on the left (a select without iteration): the right rows take its values.
  if (left.length === 1) {
    const l = left[0];
    for (const r of right) for (let i = 0; i < l.length; i++) if (l[i] !== undefined && r[i] === undefined) r[i] = l[i];
    return right;
  }
  const out: Partial[] = [];
  for (const l of left) {
    for (const r of right) {
      const row = l.slice();
      for (let i = 0; i < r.length; i++) if (r[i] !== undefined) row[i] = r[i];
      out.push(row);
    }
  }
  return out;
}

function foci(s: CompiledSelect, node: unknown, rowIndex: number): { node: unknown; index: number }[] {
  if (!s.mode) return [{ node, index: rowIndex }];
  if (s.mode === 'repeat') {
    const out: unknown[] = [];
    const visit = (n: unknown, steps: CompiledExpression[]) => {
      for (const step of steps) {
        for (const child of step.evaluate(n, rowIndex)) {
          out.push(child);
          visit(child, s.again!);
        }
      }
    };
    visit(node, s.iterate!);
    return out.map((n, i) => ({ node: n, index: i }));
  }
  return s.iterate![0].evaluate(node, rowIndex).map((n, i) => ({ node: n, index: i }));
}

function selectRows(s: CompiledSelect, node: unknown, rowIndex: number, width: number): Partial[] {
  let targets = foci(s, node, rowIndex);
  if (!targets.length) {
    if (s.mode !== 'forEachOrNull') return [];
    // forEachOrNull over nothing: one row whose columns see an empty focus (%rowIndex 0), and
    // all nulls if the nested selects yield nothing from it.
    targets = [{ node: [], index: 0 }];
    const rows = expand(s, targets, width);
    if (rows.length) return rows;
    const empty: Partial = new Array(width).fill(undefined);
    for (const i of s.produces) empty[i] = null;
    return [empty];
  }
  return expand(s, targets, width);
}

function expand(s: CompiledSelect, targets: { node: unknown; index: number }[], width: number): Partial[] {
  const out: Partial[] = [];
  for (const focus of targets) {
    const own: Partial = new Array(width).fill(undefined);
    for (const c of s.columns) own[c.index] = columnValue(c, focus.node, focus.index);
    let rows: Partial[] = [own];
    for (const sub of s.selects) {
      rows = cross(rows, selectRows(sub, focus.node, focus.index, width));
      if (!rows.length) break;
    }
    if (rows.length && s.unions.length) rows = cross(rows, s.unions.flatMap((u) => selectRows(u, focus.node, focus.index, width)));
    for (const r of rows) out.push(r);
  }
  return out;
}

/**
 * The iteration of a select compiled for input at `base`, and the base its foci have: native
 * iterations give plain JSON at a known path, so the select's own expressions run natively
 * too; an iteration by the engine gives typed nodes, and everything below it uses the engine.
 */
function compileIteration(s: SelectDef, expressions: ViewExpressions, base: Base): Pick<CompiledSelect, 'mode' | 'iterate' | 'again'> & { base: Base } {
  const path = s.forEach ?? s.forEachOrNull;
  if (path !== undefined) {
    const at = `${s.at}.${s.forEach !== undefined ? 'forEach' : 'forEachOrNull'}`;
    const e = expressions.compile(path, at, base, 'path');
    return { mode: s.forEach !== undefined ? 'forEach' : 'forEachOrNull', iterate: [e], base: e.plain ? e.path : null };
  }
  if (!s.repeat) return { base };
  const compile = (b: Base, need: 'path' | 'engine' = 'path') => s.repeat!.map((p, i) => expressions.compile(p, `${s.at}.repeat[${i}]`, b, need));
  const first = compile(base);
  const path0 = first[0].plain ? first[0].path : null;
  if (path0 !== null && first.every((e) => e.plain && e.path === path0)) {
    const again = compile(path0);
    if (again.every((e) => e.plain && e.path === path0)) return { mode: 'repeat', iterate: first, again, base: path0 };
  }
  // Foci of different (or unknown) types: the engine types each node itself.
  return { mode: 'repeat', iterate: compile(base, 'engine'), again: compile(null, 'engine'), base: null };
}

/** Parses, validates and compiles a ViewDefinition; every FHIRPath expression is compiled here, once. */
export function compileView(json: unknown, options: CompileOptions = {}): CompiledView {
  const definition = parseViewDefinition(json);
  const expressions = new ViewExpressions(definition.constants, options.native !== false);
  const columns: ColumnDef[] = definition.select.flatMap(columnsOf);
  const positions = new Map(columns.map((c, i) => [c.name, i]));

  const compileSelect = (s: SelectDef, outer: Base): CompiledSelect => {
    const { base, ...iteration } = compileIteration(s, expressions, outer);
    return {
      ...iteration,
      columns: s.column.map((def) => ({ index: positions.get(def.name)!, def, expression: expressions.compile(def.path, `${def.at}.path`, base) })),
      selects: s.select.map((sub) => compileSelect(sub, base)),
      unions: s.unionAll.map((sub) => compileSelect(sub, base)),
      produces: columnsOf(s).map((c) => positions.get(c.name)!),
    };
  };
  const root: CompiledSelect = { columns: [], selects: definition.select.map((s) => compileSelect(s, definition.resource)), unions: [], produces: [] };
  const where = definition.where.map((w) => ({ at: w.at, path: w.path, expression: expressions.compile(w.path, w.at, definition.resource) }));

  return {
    definition,
    columns,
    expressions: { ...expressions.counts },
    rows(resource) {
      if (resource.resourceType !== definition.resource) return [];
      for (const w of where) {
        const result = w.expression.evaluate(resource, 0);
        const values = w.expression.plain ? result : plainValues(result);
        if (values.length === 0) return [];
        if (values.length > 1 || typeof values[0] !== 'boolean') {
          throw new InvalidError(`The where path ${JSON.stringify(w.path)} (${w.at}) must give a single boolean; it gave ${values.length > 1 ? `${values.length} values` : JSON.stringify(values[0])}`, [w.at], 'processing');
        }
        if (!values[0]) return [];
      }
      const rows = selectRows(root, resource, 0, columns.length);
      for (const r of rows) for (let i = 0; i < r.length; i++) if (r[i] === undefined) r[i] = null;
      return rows;
    },
  };
}

/** Compiled views by their JSON text, most recently used last; compiling a view's FHIRPath costs milliseconds. */
const compiled = new Map<string, CompiledView>();
const CACHED_VIEWS = 200;

/**
 * compileView, remembering the result for the same definition: a stored view run again and
 * again (`$run` per member, every unit of an export) is compiled once per process. A compiled
 * view holds no state between calls of `rows`, so sharing it is safe.
 */
export function compileViewCached(json: unknown): CompiledView {
  const key = JSON.stringify(json);
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  const view = compileView(json);
  compiled.set(key, view);
  if (compiled.size > CACHED_VIEWS) compiled.delete(compiled.keys().next().value!);
  return view;
}

/** Checks a ViewDefinition as a stored resource would be: 400 naming the first problem, nothing returned. */
export function validateViewDefinition(json: unknown): void {
  compileView(json);
}
