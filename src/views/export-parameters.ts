/**
 * The input parameters of `$viewdefinition-export` (SQL on FHIR's ViewDefinitionExport): one
 * or more `view` (each with the parts `name`, `viewReference`, `viewResource`),
 * `clientTrackingId`, `_format` (ndjson, csv or parquet here), `header` (csv), `patient` and
 * `group` (0..*), `_since`; from a POST Parameters body, the simple ones also from the query
 * string. Each bad value is a 400 naming the parameter; `source` (an external data source) is
 * not supported.
 */
import { InvalidError, NotSupportedError } from '../errors.js';
import { parseFormat } from './formats.js';
import { idOf, isObject, parseSince, textValue, type Parameter } from './run-parameters.js';

export type ExportFormat = 'ndjson' | 'csv' | 'parquet';
export const EXPORT_FORMATS: ExportFormat[] = ['ndjson', 'csv', 'parquet'];

export interface ViewChoice {
  /** Where the view was named, for messages (`view[1]`). */
  at: string;
  name?: string;
  viewReference?: string;
  viewResource?: Record<string, unknown>;
}

export interface ExportInput {
  views: ViewChoice[];
  format: ExportFormat;
  header: boolean;
  clientTrackingId?: string;
  patients?: string[];
  groups?: string[];
  since?: Date;
}

const TRANSPORT = new Set(['_pretty']);

function add(out: ExportInput, name: string, value: string): void {
  switch (name) {
    case '_format':
      out.format = parseFormat(value, EXPORT_FORMATS) as ExportFormat;
      return;
    case 'header':
      if (value !== 'true' && value !== 'false') throw new InvalidError(`header: '${value}' is not true or false`, ['header']);
      out.header = value === 'true';
      return;
    case 'clientTrackingId':
      if (out.clientTrackingId !== undefined) throw new InvalidError('clientTrackingId: give at most one', ['clientTrackingId']);
      if (value.length > 200) throw new InvalidError('clientTrackingId: at most 200 characters', ['clientTrackingId']);
      out.clientTrackingId = value;
      return;
    case 'patient':
      (out.patients ??= []).push(idOf(value, 'Patient', 'patient'));
      return;
    case 'group':
      (out.groups ??= []).push(idOf(value, 'Group', 'group'));
      return;
    case '_since':
      if (out.since) throw new InvalidError('_since: give at most one', ['_since']);
      out.since = parseSince(value);
      return;
    case 'source':
      throw new NotSupportedError("source: external data sources are not supported; the export reads this server's data");
    case 'view':
      throw new InvalidError('view: give each view as a parameter with parts (name, viewReference or viewResource) in a POST Parameters body', ['view']);
    default:
      throw new InvalidError(`'${name}' is not a parameter of $viewdefinition-export`, [name]);
  }
}

function parseView(p: Record<string, unknown>, at: string): ViewChoice {
  if (!Array.isArray(p.part) || !p.part.length) throw new InvalidError(`${at}: a view needs its parts (viewReference or viewResource, and optionally name)`, [at]);
  const v: ViewChoice = { at };
  for (const part of p.part as Parameter[]) {
    if (!isObject(part) || typeof part.name !== 'string') throw new InvalidError(`${at}: each part needs a name`, [at], 'structure');
    const where = `${at}.${part.name}`;
    switch (part.name) {
      case 'name': {
        if (v.name !== undefined) throw new InvalidError(`${where}: give at most one`, [where]);
        v.name = textValue(part, where);
        break;
      }
      case 'viewReference':
        if (v.viewReference !== undefined) throw new InvalidError(`${where}: give at most one`, [where]);
        v.viewReference = textValue(part, where);
        break;
      case 'viewResource':
        if (!isObject(part.resource)) throw new InvalidError(`${where}: give the ViewDefinition as the part's resource`, [where]);
        if (v.viewResource) throw new InvalidError(`${where}: give at most one`, [where]);
        v.viewResource = part.resource;
        break;
      default:
        throw new InvalidError(`${where}: '${part.name}' is not a part of view (name, viewReference, viewResource)`, [where]);
    }
  }
  if (v.viewReference && v.viewResource) throw new InvalidError(`${at}: give viewReference or viewResource, not both`, [at]);
  if (!v.viewReference && !v.viewResource) throw new InvalidError(`${at}: name the view with viewReference or viewResource`, [at], 'required');
  return v;
}

/** Reads the export's parameters from the query string pairs and an optional Parameters body. */
export function parseExportParameters(query: [string, string][], body: unknown): ExportInput {
  const out: ExportInput = { views: [], format: 'ndjson', header: true };
  for (const [k, v] of query) if (!TRANSPORT.has(k)) add(out, k, v);
  if (body !== undefined) {
    if (!isObject(body) || body.resourceType !== 'Parameters') throw new InvalidError('The body must be a FHIR Parameters resource', undefined, 'structure');
    const params = body.parameter;
    if (params !== undefined && !Array.isArray(params)) throw new InvalidError('Parameters.parameter must be an array', ['Parameters.parameter'], 'structure');
    for (const p of (params ?? []) as Parameter[]) {
      if (!isObject(p) || typeof p.name !== 'string') throw new InvalidError('Each Parameters.parameter needs a name', ['Parameters.parameter'], 'structure');
      if (p.name === 'view') out.views.push(parseView(p, `view[${out.views.length}]`));
      else add(out, p.name, textValue(p, p.name));
    }
  }
  return out;
}
