/**
 * The input parameters of `$run` (SQL on FHIR's ViewDefinitionRun, also answered as
 * `$viewdefinition-run`), from the query string and, for POST, a `Parameters` body: `_format`,
 * `header`, `viewReference`, `viewResource`, `resource` (0..*), `patient`, `group` (0..*),
 * `_since`, `_limit`. Each bad value is a 400 naming the parameter; `source` (an external data
 * source) is not supported here.
 */
import { InvalidError, NotSupportedError } from '../errors.js';
import { parseFormat, type OutputFormat } from './formats.js';

export interface RunParameters {
  format?: OutputFormat;
  header: boolean;
  viewReference?: string;
  viewResource?: Record<string, unknown>;
  resources?: Record<string, unknown>[];
  patients?: string[];
  groups?: string[];
  since?: Date;
  limit?: number;
}

export interface Parameter {
  name?: unknown;
  resource?: unknown;
  [value: string]: unknown;
}

/** Query parameters that only shape the HTTP exchange. */
const TRANSPORT = new Set(['_pretty']);

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The primitive or Reference value of a Parameters entry, as text. */
export function textValue(p: Parameter, name: string): string {
  for (const [k, v] of Object.entries(p)) {
    if (!k.startsWith('value')) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (isObject(v) && typeof v.reference === 'string') return v.reference;
  }
  throw new InvalidError(`${name}: the parameter has no value`, [name]);
}

/** `Patient/123`, `123`, or an absolute URL ending in `Patient/123` → `123`. */
export function idOf(value: string, type: string, name: string): string {
  const m = new RegExp(`^(?:[^?#]*/)?${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(value) ?? /^([A-Za-z0-9\-.]{1,64})$/.exec(value);
  if (!m) throw new InvalidError(`${name}: '${value}' is not a ${type} reference`, [name]);
  return m[1];
}

export function parseSince(value: string): Date {
  const t = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value) ? new Date(value) : undefined;
  if (!t || Number.isNaN(t.getTime())) throw new InvalidError(`_since: '${value}' is not an instant (e.g. 2024-01-01T00:00:00Z)`, ['_since']);
  return t;
}

function add(out: RunParameters, name: string, value: string | undefined, resource: unknown): void {
  switch (name) {
    case '_format':
      out.format = parseFormat(value!);
      return;
    case 'header':
      if (value !== 'true' && value !== 'false') throw new InvalidError(`header: '${value}' is not true or false`, ['header']);
      out.header = value === 'true';
      return;
    case 'viewReference':
      if (out.viewReference !== undefined) throw new InvalidError('viewReference: give at most one', ['viewReference']);
      out.viewReference = value;
      return;
    case 'viewResource':
      if (!isObject(resource)) throw new InvalidError('viewResource: give the ViewDefinition as the parameter\'s resource', ['viewResource']);
      if (out.viewResource) throw new InvalidError('viewResource: give at most one', ['viewResource']);
      out.viewResource = resource;
      return;
    case 'resource':
      if (!isObject(resource) || typeof resource.resourceType !== 'string') throw new InvalidError('resource: each must carry a FHIR resource (with its resourceType)', ['resource']);
      (out.resources ??= []).push(resource);
      return;
    case 'patient':
      (out.patients ??= []).push(idOf(value!, 'Patient', 'patient'));
      return;
    case 'group':
      (out.groups ??= []).push(idOf(value!, 'Group', 'group'));
      return;
    case '_since':
      out.since = parseSince(value!);
      return;
    case '_limit':
      if (!/^\d{1,9}$/.test(value!) || Number(value) < 1) throw new InvalidError(`_limit: '${value}' is not a positive integer`, ['_limit']);
      out.limit = Number(value);
      return;
    case 'source':
      throw new NotSupportedError('source: external data sources are not supported; the view reads this server\'s data or the resources given');
    default:
      throw new InvalidError(`'${name}' is not a parameter of $run`, [name]);
  }
}

/** Reads the run's parameters from the query string pairs and an optional Parameters body. */
export function parseRunParameters(query: [string, string][], body: unknown): RunParameters {
  const out: RunParameters = { header: true };
  for (const [k, v] of query) {
    if (TRANSPORT.has(k)) continue;
    if (k === 'viewResource' || k === 'resource') throw new InvalidError(`${k}: send resources in a POST Parameters body`, [k]);
    add(out, k, v, undefined);
  }
  if (body !== undefined) {
    if (!isObject(body) || body.resourceType !== 'Parameters') throw new InvalidError('The body must be a FHIR Parameters resource', undefined, 'structure');
    const params = body.parameter;
    if (params !== undefined && !Array.isArray(params)) throw new InvalidError('Parameters.parameter must be an array', ['Parameters.parameter'], 'structure');
    for (const p of (params ?? []) as Parameter[]) {
      if (!isObject(p) || typeof p.name !== 'string') throw new InvalidError('Each Parameters.parameter needs a name', ['Parameters.parameter'], 'structure');
      const takesResource = p.name === 'viewResource' || p.name === 'resource';
      add(out, p.name, takesResource ? undefined : textValue(p, p.name), p.resource);
    }
  }
  return out;
}
