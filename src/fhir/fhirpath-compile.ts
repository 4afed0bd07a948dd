/**
 * Search-parameter expressions as fast accessors. Nearly every R4 / US Core expression is
 * a dotted path, with `as T` / `.as(T)` / `.ofType(T)` on choice elements, `where(resolve()
 * is T)` on references and `where(field = 'value')` filters; those compile to plain JS
 * walks over the JSON (choice elements resolved through fhirpath's R4 model files). Every
 * other expression falls back to the `fhirpath` engine, compiled once.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const fhirpath = require('fhirpath') as { compile: (expr: string, model: unknown) => (resource: unknown) => unknown[] };
const r4Model = require('fhirpath/fhir-context/r4') as unknown;
export const choiceTypes = require('fhirpath/fhir-context/r4/choiceTypePaths.json') as Record<string, string[]>;
export const pathTypes = require('fhirpath/fhir-context/r4/path2Type.json') as Record<string, string | { code: string }>;

/** Evaluates an expression against a resource (or an element), returning the matching nodes. */
export type Accessor = (root: unknown) => unknown[];

type Step = (nodes: unknown[]) => unknown[];

function push(out: unknown[], v: unknown): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) if (x !== undefined && x !== null) out.push(x);
  } else out.push(v);
}

function field(keys: string[]): Step {
  if (keys.length === 1) {
    const k = keys[0];
    return (nodes) => {
      const out: unknown[] = [];
      for (const n of nodes) if (n && typeof n === 'object') push(out, (n as Record<string, unknown>)[k]);
      return out;
    };
  }
  return (nodes) => {
    const out: unknown[] = [];
    for (const n of nodes) if (n && typeof n === 'object') for (const k of keys) push(out, (n as Record<string, unknown>)[k]);
    return out;
  };
}

export function capital(t: string): string {
  return t[0].toUpperCase() + t.slice(1);
}

/** The type whose elements follow `path` (a complex datatype restarts the path), or undefined. */
export function nextContext(path: string): string | undefined {
  const t = pathTypes[path];
  const code = typeof t === 'string' ? t : t?.code;
  if (!code || code === 'BackboneElement' || code === 'Element') return path;
  return /^[A-Z]/.test(code) && !code.startsWith('System.') ? code : undefined;
}

function splitDots(expr: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === "'") quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === '.') {
      out.push(expr.slice(start, i));
      start = i + 1;
    }
  }
  out.push(expr.slice(start));
  return depth === 0 && !quote ? out : undefined;
}

function isReferenceTo(node: unknown, type: string): boolean {
  const ref = (node as { reference?: unknown })?.reference;
  if (typeof ref !== 'string') return false;
  return ref.startsWith(`${type}/`) || ref.includes(`/${type}/`);
}

/**
 * Compiles a single path (no top-level `|`) rooted at `root` (a resource type, or a datatype
 * for composite components), or returns undefined when it is not a simple path.
 */
function compileSimple(expression: string, root: string, relative: boolean): Accessor | undefined {
  let expr = expression.trim();
  let m = /^\((.+) as ([A-Za-z]+)\)(.*)$/.exec(expr);
  if (m) expr = `${m[1]}.as(${m[2]})${m[3]}`;
  else if ((m = /^([A-Za-z.]+) as ([A-Za-z]+)$/.exec(expr))) expr = `${m[1]}.as(${m[2]})`;
  const parts = splitDots(expr);
  if (!parts) return undefined;
  if (!relative) {
    if (parts[0] !== root) return undefined;
    parts.shift();
  }
  const steps: Step[] = [];
  let context: string | undefined = root;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    let mm: RegExpExecArray | null;
    if ((mm = /^([a-zA-Z]+)(?:\[(\d+)\])?$/.exec(part))) {
      const name = mm[1];
      const path: string | undefined = context ? `${context}.${name}` : undefined;
      const choices: string[] | undefined = path ? choiceTypes[path] : undefined;
      const cast = /^(?:as|ofType)\(([A-Za-z]+)\)$/.exec(parts[i + 1] ?? '');
      if (choices) {
        const wanted: string[] = cast ? choices.filter((t) => t.toLowerCase() === cast[1].toLowerCase()) : choices;
        steps.push(field(wanted.map((t) => `${name}${capital(t)}`)));
        context = cast && wanted.length === 1 ? capital(wanted[0]) : undefined;
        if (cast) i++;
      } else if (cast) {
        steps.push(field([`${name}${capital(cast[1])}`]));
        context = capital(cast[1]);
        i++;
      } else {
        steps.push(field([name]));
        context = path ? nextContext(path) : undefined;
      }
      if (mm[2] !== undefined) {
        const index = Number(mm[2]);
        steps.push((nodes) => (nodes.length > index ? [nodes[index]] : []));
      }
    } else if ((mm = /^where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(part))) {
      const type = mm[1];
      steps.push((nodes) => nodes.filter((n) => isReferenceTo(n, type)));
    } else if ((mm = /^where\(([a-zA-Z]+) ?= ?'([^']*)'\)$/.exec(part))) {
      const [, key, value] = mm;
      steps.push((nodes) => nodes.filter((n) => (n as Record<string, unknown>)?.[key] === value));
    } else {
      return undefined;
    }
  }
  return (root) => {
    let nodes: unknown[] = [root];
    for (const step of steps) {
      if (nodes.length === 0) return nodes;
      nodes = step(nodes);
    }
    return nodes;
  };
}

const cache = new Map<string, Accessor>();

/**
 * Compiles a search-parameter expression for resources of type `root`. `relative` expressions
 * (composite components) start at the element itself rather than at the resource type.
 */
export function compileExpression(expression: string, root: string, parts: string[], relative = false): Accessor {
  const key = `${root}\u0000${relative}\u0000${expression}`;
  let fn = cache.get(key);
  if (!fn) {
    const simple = parts.map((p) => compileSimple(p, root, relative));
    if (simple.every(Boolean)) {
      const accessors = simple as Accessor[];
      fn = accessors.length === 1 ? accessors[0] : (r) => accessors.flatMap((a) => a(r));
    } else {
      const engine = fhirpath.compile(expression, r4Model);
      fn = (r) => {
        try {
          return engine(r);
        } catch {
          return [];
        }
      };
    }
    cache.set(key, fn);
  }
  return fn;
}
