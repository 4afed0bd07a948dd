/**
 * Operation input as FHIR `Parameters` with closed slicing, as the HRex, PDex and ATR input
 * profiles define it: every parameter (and part) has a known name, appears no more often
 * than its cardinality allows, and carries the kind of content its definition names. The
 * shell (names, parts, `value[x]`) is checked against the R4 schema with the resources
 * taken out, then each resource on its own, so a bad element is reported at its own path
 * (`Parameters.parameter[1].resource.birthDate`) instead of as one of a hundred alternatives.
 */
import { FhirError, InvalidError, ValidationError, type Issue } from '../errors.js';
import { validateParametersShell, validateResource, type Resource } from '../fhir/validation.js';

type Json = Record<string, any>;

export interface ParameterSpec {
  min: number;
  max: number;
  /** A resource of this type, a part list, or a `value[x]` of one of these types (e.g. `Identifier`). */
  resource?: string;
  parts?: ParametersSpec;
  value?: string[];
}

export type ParametersSpec = Record<string, ParameterSpec>;

/** One parameter as read: where it was, and its validated content. */
export interface ParameterValue {
  path: string;
  resource?: Resource;
  parts?: ParameterValues;
  value?: Json;
}

export type ParameterValues = Map<string, ParameterValue[]>;

const PARAMETER_KEYS = new Set(['id', 'extension', 'modifierExtension', 'name', 'resource', 'part']);

/** A resource's validation errors, re-rooted at the parameter that carried it. */
function prefixed(err: unknown, path: string): never {
  if (err instanceof FhirError && err.status === 400) {
    const rebase = (s: string) => s.replace(/^[A-Z][A-Za-z]*(?=[.[:]|$)/, path);
    const issues: Issue[] = err.issues.map((i) => {
      const diagnostics = rebase(i.diagnostics);
      return {
        ...i,
        diagnostics: diagnostics === i.diagnostics ? `${path}: ${i.diagnostics}` : diagnostics,
        expression: i.expression?.length ? i.expression.map(rebase) : [path],
      };
    });
    throw new ValidationError(issues);
  }
  throw err;
}

/** The `value[x]` of a parameter: its type name and value, if it has one. */
function valueOf(p: Json): { type: string; value: unknown } | undefined {
  for (const key of Object.keys(p)) if (key.startsWith('value') && key.length > 5) return { type: key.slice(5), value: p[key] };
  return undefined;
}

function readList(list: unknown, spec: ParametersSpec, path: string, key: 'parameter' | 'part'): ParameterValues {
  const out: ParameterValues = new Map();
  const items = Array.isArray(list) ? (list as Json[]) : [];
  items.forEach((p, i) => {
    const at = `${path}.${key}[${i}]`;
    const name = p?.name;
    const def = typeof name === 'string' ? spec[name] : undefined;
    if (!def) {
      throw new InvalidError(`${at}: unknown parameter '${String(name)}' (expected ${Object.keys(spec).join(', ')})`, [`${at}.name`], 'not-supported');
    }
    const unknown = Object.keys(p).find((k) => !PARAMETER_KEYS.has(k) && !k.startsWith('value'));
    if (unknown) throw new InvalidError(`${at}: unknown element '${unknown}'`, [`${at}.${unknown}`], 'structure');
    const value = valueOf(p);
    const kinds = [p.resource !== undefined, p.part !== undefined, value !== undefined].filter(Boolean).length;
    if (kinds !== 1) throw new InvalidError(`${at} (${name}): a parameter has exactly one of value[x], resource or part`, [at], 'structure');
    const entry: ParameterValue = { path: at };
    if (def.resource) {
      if (p.resource === undefined) throw new InvalidError(`${at} (${name}) must carry a ${def.resource} resource`, [at], 'structure');
      try {
        entry.resource = validateResource(p.resource, def.resource);
      } catch (err) {
        prefixed(err, `${at}.resource`);
      }
    } else if (def.parts) {
      if (p.part === undefined) throw new InvalidError(`${at} (${name}) must carry parts (${Object.keys(def.parts).join(', ')})`, [at], 'structure');
      entry.parts = readList(p.part, def.parts, at, 'part');
    } else {
      if (!value || !def.value?.includes(value.type)) throw new InvalidError(`${at} (${name}) must be a value of type ${def.value?.join(' or ')}`, [at], 'structure');
      entry.value = value.value as Json;
    }
    const seen = out.get(name) ?? [];
    seen.push(entry);
    out.set(name, seen);
    if (seen.length > def.max) throw new InvalidError(`${at}: '${name}' may appear at most ${def.max} time${def.max === 1 ? '' : 's'}`, [at], 'structure');
  });
  for (const [name, def] of Object.entries(spec)) {
    if ((out.get(name)?.length ?? 0) < def.min) throw new InvalidError(`${path}: the parameter '${name}' is required`, [path], 'required');
  }
  return out;
}

/**
 * The shell of a Parameters resource for the schema and invariant check: every nested resource
 * replaced by an empty Parameters stand-in (they are validated one by one against their own
 * type), so R4's inv-1 (a parameter has a value, a resource or parts) still sees that it has one.
 */
function shell(list: Json[]): Json[] {
  return list.map((p) => {
    if (!p || typeof p !== 'object') return p;
    const { resource, part, ...rest } = p;
    const standIn = resource === undefined ? {} : { resource: { resourceType: 'Parameters' } };
    return part === undefined ? { ...rest, ...standIn } : { ...rest, ...standIn, part: Array.isArray(part) ? shell(part) : part };
  });
}

/** Reads a Parameters body against a closed parameter list; throws a 400 naming the first problem. */
export function readParameters(body: unknown, spec: ParametersSpec): ParameterValues {
  if (!body || typeof body !== 'object' || Array.isArray(body) || (body as Json).resourceType !== 'Parameters') {
    throw new InvalidError('The operation takes a Parameters resource (application/fhir+json)', undefined, 'structure');
  }
  const b = body as Json;
  const params = Array.isArray(b.parameter) ? (b.parameter as Json[]) : undefined;
  validateParametersShell(params ? { ...b, parameter: shell(params) } : b);
  return readList(params, spec, 'Parameters', 'parameter');
}

/** The single value of an optional or required parameter (after readParameters checked its cardinality). */
export function one(values: ParameterValues, name: string): ParameterValue | undefined {
  return values.get(name)?.[0];
}
