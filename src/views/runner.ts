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
import { plainValues, ViewExpressions, type Evaluator } from './fhirpath.js';

/** One output row: values in the order of `CompiledView.columns`. */
export type ViewRow = unknown[];

interface CompiledColumn {
  index: number;
  def: ColumnDef;
  evaluate: Evaluator;
}

interface CompiledSelect {
  columns: CompiledColumn[];
  selects: CompiledSelect[];
  unions: CompiledSelect[];
  mode?: 'forEach' | 'forEachOrNull' | 'repeat';
  iterate?: Evaluator[];
  /** Indexes of every column this select and its children produce (set to null on a forEachOrNull miss). */
  produces: number[];
}

type Partial = Map<number, unknown>;

export interface CompiledView {
  definition: ViewDef;
  /** The output columns, in order. */
  columns: ColumnDef[];
  /** The rows one resource yields (none when `where` excludes it or its type is not the view's). */
  rows(resource: Record<string, unknown>): ViewRow[];
}

function columnValue(c: CompiledColumn, node: unknown, rowIndex: number): unknown {
  const values = plainValues(c.evaluate(node, rowIndex));
  if (c.def.collection) return values;
  if (values.length > 1) {
    throw new InvalidError(`Column '${c.def.name}' (${c.def.at}.path) gave ${values.length} values for one row; a column that can hold several needs "collection": true`, [`${c.def.at}.path`], 'processing');
  }
  return values.length ? values[0] : null;
}

function cross(left: Partial[], right: Partial[]): Partial[] {
  const out: Partial[] = [];
  for (const l of left) {
    for (const r of right) {
      const row = new Map(l);
      for (const [k, v] of r) row.set(k, v);
      out.push(row);
    }
  }
  return out;
}

function foci(s: CompiledSelect, node: unknown, rowIndex: number): { node: unknown; index: number }[] {
  if (!s.mode) return [{ node, index: rowIndex }];
  if (s.mode === 'repeat') {
    const out: unknown[] = [];
    const visit = (n: unknown) => {
      for (const step of s.iterate!) {
        for (const child of step(n, rowIndex)) {
          out.push(child);
          visit(child);
        }
      }
    };
    visit(node);
    return out.map((n, i) => ({ node: n, index: i }));
  }
  return s.iterate![0](node, rowIndex).map((n, i) => ({ node: n, index: i }));
}

function selectRows(s: CompiledSelect, node: unknown, rowIndex: number): Partial[] {
  let targets = foci(s, node, rowIndex);
  if (!targets.length) {
    if (s.mode !== 'forEachOrNull') return [];
    // forEachOrNull over nothing: one row whose columns see an empty focus (%rowIndex 0), and
    // all nulls if the nested selects yield nothing from it.
    targets = [{ node: [], index: 0 }];
    const rows = expand(s, targets);
    return rows.length ? rows : [new Map(s.produces.map((i) => [i, null]))];
  }
  return expand(s, targets);
}

function expand(s: CompiledSelect, targets: { node: unknown; index: number }[]): Partial[] {
  const out: Partial[] = [];
  for (const focus of targets) {
    let rows: Partial[] = [new Map(s.columns.map((c) => [c.index, columnValue(c, focus.node, focus.index)]))];
    for (const sub of s.selects) {
      rows = cross(rows, selectRows(sub, focus.node, focus.index));
      if (!rows.length) break;
    }
    if (rows.length && s.unions.length) rows = cross(rows, s.unions.flatMap((u) => selectRows(u, focus.node, focus.index)));
    out.push(...rows);
  }
  return out;
}

/** Parses, validates and compiles a ViewDefinition; every FHIRPath expression is compiled here, once. */
export function compileView(json: unknown): CompiledView {
  const definition = parseViewDefinition(json);
  const expressions = new ViewExpressions(definition.constants);
  const columns: ColumnDef[] = definition.select.flatMap(columnsOf);
  const positions = new Map(columns.map((c, i) => [c.name, i]));

  const compileSelect = (s: SelectDef): CompiledSelect => {
    const compiled: CompiledSelect = {
      columns: s.column.map((def) => ({ index: positions.get(def.name)!, def, evaluate: expressions.compile(def.path, `${def.at}.path`) })),
      selects: s.select.map(compileSelect),
      unions: s.unionAll.map(compileSelect),
      produces: columnsOf(s).map((c) => positions.get(c.name)!),
    };
    if (s.forEach !== undefined) {
      compiled.mode = 'forEach';
      compiled.iterate = [expressions.compile(s.forEach, `${s.at}.forEach`)];
    } else if (s.forEachOrNull !== undefined) {
      compiled.mode = 'forEachOrNull';
      compiled.iterate = [expressions.compile(s.forEachOrNull, `${s.at}.forEachOrNull`)];
    } else if (s.repeat) {
      compiled.mode = 'repeat';
      compiled.iterate = s.repeat.map((p, i) => expressions.compile(p, `${s.at}.repeat[${i}]`));
    }
    return compiled;
  };
  const root: CompiledSelect = { columns: [], selects: definition.select.map(compileSelect), unions: [], produces: [] };
  const where = definition.where.map((w) => ({ at: w.at, path: w.path, evaluate: expressions.compile(w.path, w.at) }));

  return {
    definition,
    columns,
    rows(resource) {
      if (resource.resourceType !== definition.resource) return [];
      for (const w of where) {
        const values = plainValues(w.evaluate(resource, 0));
        if (values.length === 0) return [];
        if (values.length > 1 || typeof values[0] !== 'boolean') {
          throw new InvalidError(`The where path ${JSON.stringify(w.path)} (${w.at}) must give a single boolean; it gave ${values.length > 1 ? `${values.length} values` : JSON.stringify(values[0])}`, [w.at], 'processing');
        }
        if (!values[0]) return [];
      }
      return selectRows(root, resource, 0).map((r) => columns.map((_, i) => (r.has(i) ? r.get(i) : null)));
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
