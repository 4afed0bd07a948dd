/**
 * R4's invariants (the FHIRPath `constraint`s of the official StructureDefinitions) checked
 * on one resource, by walking its JSON once: each value meets the constraints of the element
 * that holds it and, when it is a complex datatype (Period, Reference, Quantity…), that
 * datatype's own; contained resources and Bundle entries are checked as resources. A constraint
 * whose element is absent is never evaluated, so a resource pays only for what it holds.
 *
 * Error-severity violations refuse the write (validation.ts); warning-severity ones (best
 * practices such as dom-6, "a resource should have narrative") are reported without refusing.
 */
import type { Issue } from '../errors.js';
import { compileConstraint, primitiveHasValue, ELE_1, type CompiledConstraint, type Scope } from './constraint-eval.js';
import { ConstraintModels, type ConstraintDef, type ElementModel, type TypeModel } from './constraint-model.js';

type Json = Record<string, unknown>;

interface CompiledElement {
  constraints: CompiledConstraint[];
  kind: ElementModel['kind'];
  model?: CompiledType;
  /** A primitive's ele-1, checked natively on the value and its `_name` extension twin together. */
  ele1?: ConstraintDef;
}

interface CompiledType {
  root: CompiledConstraint[];
  elements: Map<string, CompiledElement>;
}

let types: Map<string, CompiledType> | undefined;

/** Compiles the models once: every element points straight at the model its values enter. */
function compiledTypes(): Map<string, CompiledType> {
  if (types) return types;
  const models = new ConstraintModels();
  const out = new Map<string, CompiledType>();
  const compile = (defs: ConstraintDef[]) => defs.map(compileConstraint);
  for (const [name, t] of models.types) out.set(name, { root: compile(t.root), elements: new Map() });
  for (const [name, t] of models.types as Map<string, TypeModel>) {
    const target = out.get(name)!;
    for (const [prop, el] of t.elements) {
      const primitive = el.kind === 'primitive';
      target.elements.set(prop, {
        constraints: compile(primitive ? el.constraints.filter((c) => c.expression !== ELE_1) : el.constraints),
        kind: el.kind,
        model: el.model ? out.get(el.model) : undefined,
        ele1: primitive ? el.constraints.find((c) => c.expression === ELE_1) : undefined,
      });
    }
  }
  types = out;
  return out;
}

/** Builds the models and compiles the walker's tables (a fraction of a second), so no write pays for it. */
export function warmUpInvariants(): void {
  compiledTypes();
}

const MAX_ISSUES = 20;

/**
 * One walk over one resource. The element path is kept as a stack of property names and
 * indexes and spelled out only for a violation: most values are checked and pass.
 */
class Walk {
  readonly errors: Issue[] = [];
  readonly warnings: Issue[] = [];
  errorCount = 0;
  private readonly keys: string[] = [];
  /** Index in the property's array, or -1 for a single value. */
  private readonly indexes: number[] = [];
  /** The model of a primitive's `_name` twin (id and extensions). */
  private readonly element: CompiledType;

  constructor(private readonly types: Map<string, CompiledType>, private readonly rootType: string) {
    this.element = types.get('Element')!;
  }

  private path(): string {
    let out = this.rootType;
    for (let i = 0; i < this.keys.length; i++) out += this.indexes[i] < 0 ? `.${this.keys[i]}` : `.${this.keys[i]}[${this.indexes[i]}]`;
    return out;
  }

  private enter(key: string, index: number): void {
    this.keys.push(key);
    this.indexes.push(index);
  }

  private leave(): void {
    this.keys.pop();
    this.indexes.pop();
  }

  private check(constraints: CompiledConstraint[], node: Json, scope: Scope): void {
    for (const c of constraints) if (c.test(node, scope) === false) this.report(c);
  }

  private report(c: ConstraintDef): void {
    if (c.severity === 'error') this.errorCount++;
    const list = c.severity === 'error' ? this.errors : this.warnings;
    if (list.length >= MAX_ISSUES) return;
    const path = this.path();
    list.push({ severity: c.severity, code: 'invariant', diagnostics: `${path}: ${c.key} ${c.human}`, expression: [path], rule: c.key });
  }

  resource(res: Json, rootResource: Json | undefined): void {
    const model = this.types.get(res.resourceType as string);
    if (!model) return;
    const scope: Scope = { resource: res, rootResource: rootResource ?? res };
    this.check(model.root, res, scope);
    this.children(model, res, scope);
  }

  private children(model: CompiledType, node: Json, scope: Scope): void {
    for (const key in node) {
      let prop = key;
      if (key.charCodeAt(0) === 95 /* _ */) {
        prop = key.slice(1);
        if (prop in node) continue; // visited with its value
      } else if (key === 'resourceType') continue;
      const el = model.elements.get(prop);
      if (!el) continue; // not an R4 element: the JSON schema has refused it already
      if (el.kind === 'primitive') {
        this.primitive(el, prop, node[prop], node[`_${prop}`], scope);
        continue;
      }
      const value = node[key];
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) this.value(el, value[i] as Json, scope, key, i);
      } else if (value !== null && typeof value === 'object') {
        this.value(el, value as Json, scope, key, -1);
      }
    }
  }

  private value(el: CompiledElement, item: Json, scope: Scope, key: string, index: number): void {
    if (item === null || typeof item !== 'object') return;
    this.enter(key, index);
    this.check(el.constraints, item, scope);
    if (el.kind === 'resource') {
      // A contained resource's %rootResource is its container; a Bundle entry is its own root.
      this.resource(item, key === 'contained' ? scope.rootResource : undefined);
    } else if (el.model) {
      if (el.kind === 'complex') this.check(el.model.root, item, scope);
      this.children(el.model, item, scope);
    }
    this.leave();
  }

  /** A primitive element: its value(s) and the `_name` twin holding ids and extensions. */
  private primitive(el: CompiledElement, key: string, value: unknown, ext: unknown, scope: Scope): void {
    if (!Array.isArray(value) && !Array.isArray(ext)) {
      // The common case, kept free of allocations: one value, most often without extensions.
      const bad = el.ele1 && !primitiveHasValue(value, ext);
      const extended = ext !== undefined && ext !== null && typeof ext === 'object';
      const own = el.constraints.length > 0 && value !== undefined && value !== null;
      if (!bad && !extended && !own) return;
      this.enter(key, -1);
      if (bad) this.report(el.ele1!);
      if (own) this.check(el.constraints, value as Json, scope);
      if (extended) this.children(this.element, ext as Json, scope);
      this.leave();
      return;
    }
    const values = Array.isArray(value) ? value : [];
    const exts = Array.isArray(ext) ? ext : [];
    const n = Math.max(values.length, exts.length);
    for (let i = 0; i < n; i++) {
      const x = exts[i];
      this.enter(key, i);
      if (el.ele1 && !primitiveHasValue(values[i], x)) this.report(el.ele1);
      if (el.constraints.length && values[i] !== undefined && values[i] !== null) this.check(el.constraints, values[i] as Json, scope);
      if (x !== null && typeof x === 'object') this.children(this.element, x as Json, scope);
      this.leave();
    }
  }
}

export interface InvariantReport {
  /** Error-severity violations (at most 20), code `invariant`, the element path in `expression`. */
  errors: Issue[];
  /** Warning-severity ones (at most 20). */
  warnings: Issue[];
  /** Every error-severity violation found, including those past the 20 reported. */
  errorCount: number;
}

/** Checks a structurally valid resource against every invariant that applies to what it holds. */
export function checkInvariants(resource: Json): InvariantReport {
  const walk = new Walk(compiledTypes(), resource.resourceType as string);
  walk.resource(resource, undefined);
  return { errors: walk.errors, warnings: walk.warnings, errorCount: walk.errorCount };
}
