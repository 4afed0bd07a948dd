/**
 * Bulk Data kick-off parameters (KO-20…KO-30): from a GET query or a POST `Parameters` body
 * to one validated, normalised request. Malformed values are always a 400; what the server
 * does not support is a 400 too, unless the client sent `Prefer: handling=lenient`, in which
 * case it is ignored and reported in the manifest's error file (KO-30).
 */
import { InvalidError } from '../errors.js';
import { patientCompartmentTypes, REFERENCED_TYPES } from '../fhir/compartment.js';
import { isResourceType } from '../fhir/schema.js';
import { parseFilter } from '../search/parse.js';

export type ExportLevel = 'system' | 'patient' | 'group';

/** What an export job is asked to do; stored with the job as JSON. */
export interface ExportParams {
  level: ExportLevel;
  groupId?: string;
  since?: string;
  until?: string;
  /** The `_type` list as asked, in order; undefined: every type the level and scopes allow. */
  types?: string[];
  /** `_elements` per type; `*` holds the elements listed without a type. */
  elements?: Record<string, string[]>;
  /** Patient ids of the `patient` parameter. */
  patients?: string[];
  /** Provenance handling: `latest` only when LatestProvenanceResources alone was asked. */
  provenance: 'relevant' | 'latest';
  /** `_typeFilter` queries per type (each a URL query string; several for one type are OR-ed). */
  typeFilters: Record<string, string[]>;
  organizeBy?: 'Patient';
  partialManifests: boolean;
  /** One line per parameter ignored under `handling=lenient`. */
  ignored: string[];
  /** `$davinci-data-export` (src/bulk/davinci.ts): its export type. */
  davinci?: { exportType: string };
  /**
   * Notes for the manifest's error file under `handling=lenient` about parameters honoured only
   * in part (a `_type` outside the Patient compartment at Patient or Group level). Absent in jobs
   * recorded before it existed.
   */
  notes?: string[];
  /** `$viewdefinition-export` (src/views/export-kickoff.ts): the views and output asked for. */
  views?: ViewExportRequest;
}

/** What a `$viewdefinition-export` job writes: each view's rows, in one format. */
export interface ViewExportRequest {
  format: 'ndjson' | 'csv' | 'parquet';
  header: boolean;
  clientTrackingId?: string;
  /** In request order; a unit names its view by index. `name` is unique in the job and safe in file names. */
  views: { name: string; definition: Record<string, unknown> }[];
}

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** Search result parameters have no meaning in an export filter (KO-27). */
const RESULT_PARAMS = new Set(['_include', '_revinclude', '_sort', '_count', '_elements', '_summary', '_total', '_contained', '_containedType', '_page']);
const ELEMENT = /^[A-Za-z][A-Za-z0-9]*$/;
/** Parameters that may repeat; their values are comma lists (KO-04). */
const LISTS = new Set(['_type', '_elements', 'includeAssociatedData', '_typeFilter', 'patient']);

/** The resource types a Patient or Group export can contain. */
export function compartmentExportTypes(): string[] {
  return [...patientCompartmentTypes(), ...REFERENCED_TYPES];
}

/** A POST body's `Parameters` as name/value pairs (KO-02; value[x] shapes of §3.1). */
export function parametersToPairs(body: unknown): [string, string][] {
  const b = body as { resourceType?: unknown; parameter?: unknown };
  if (!b || typeof b !== 'object' || b.resourceType !== 'Parameters') {
    throw new InvalidError('The $export POST body must be a FHIR Parameters resource', undefined, 'structure');
  }
  if (b.parameter !== undefined && !Array.isArray(b.parameter)) throw new InvalidError('Parameters.parameter must be an array', ['Parameters.parameter'], 'structure');
  const pairs: [string, string][] = [];
  ((b.parameter as Record<string, unknown>[] | undefined) ?? []).forEach((p, i) => {
    const where = [`Parameters.parameter[${i}]`];
    if (!p || typeof p !== 'object' || typeof p.name !== 'string') throw new InvalidError('Each parameter needs a name', where, 'structure');
    const valueKey = Object.keys(p).find((k) => k.startsWith('value'));
    const v = valueKey ? p[valueKey] : undefined;
    let text: string | undefined;
    if (typeof v === 'string') text = v;
    else if (typeof v === 'boolean') text = String(v);
    else if (v && typeof v === 'object' && typeof (v as { reference?: unknown }).reference === 'string') text = (v as { reference: string }).reference;
    else if (v && typeof v === 'object' && typeof (v as { code?: unknown }).code === 'string') text = (v as { code: string }).code;
    if (text === undefined) throw new InvalidError(`Parameter '${p.name}' has no usable value[x]`, where, 'structure');
    pairs.push([p.name, text]);
  });
  return pairs;
}

/** Splits a `_typeFilter` value at commas that start another `Type?` query (commas inside a query are OR values). */
function splitTypeFilters(value: string): string[] {
  return value.split(/,(?=[A-Z][A-Za-z]*\?)/).filter(Boolean);
}

export function parseKickoff(level: ExportLevel, pairs: [string, string][], lenient: boolean, now = new Date()): ExportParams {
  const out: ExportParams = { level, provenance: 'relevant', typeFilters: {}, partialManifests: false, ignored: [], notes: [] };
  const unsupported = (name: string, why: string) => {
    if (!lenient) throw new InvalidError(`${name}: ${why}`, [name], 'not-supported');
    out.ignored.push(`${name}: ${why}`);
  };
  const values = new Map<string, string[]>();
  for (const [rawKey, rawValue] of pairs) {
    if (rawKey.includes('\u0000') || rawValue.includes('\u0000')) throw new InvalidError('Parameters must not contain NUL characters');
    const list = values.get(rawKey) ?? [];
    if (rawKey === '_typeFilter') list.push(...splitTypeFilters(rawValue));
    else if (LISTS.has(rawKey)) list.push(...rawValue.split(',').map((v) => v.trim()).filter(Boolean));
    else list.push(rawValue);
    values.set(rawKey, list);
  }
  const single = (name: string): string | undefined => {
    const v = values.get(name);
    if (v && v.length > 1) throw new InvalidError(`${name} may be given once`, [name]);
    return v?.[0];
  };
  const instant = (name: string): string | undefined => {
    const v = single(name);
    if (v === undefined) return undefined;
    // A '+' offset decoded from a query string arrives as a space.
    const value = v.replace(' ', '+');
    if (!INSTANT.test(value) || Number.isNaN(Date.parse(value))) throw new InvalidError(`${name}: '${v}' is not a FHIR instant (e.g. 2026-01-01T00:00:00Z)`, [name]);
    return new Date(value).toISOString();
  };

  for (const name of values.keys()) {
    switch (name) {
      case '_outputFormat': {
        // Form decoding turns '+' into a space (KO-05, P21).
        const format = single(name)!.replace(' ', '+');
        if (!OUTPUT_FORMATS.has(format)) unsupported(name, `'${format}' is not supported; use application/fhir+ndjson`);
        break;
      }
      case '_since':
        out.since = instant(name);
        // Nothing can have changed after a moment that has not come yet: the client's clock or
        // date is wrong, and an empty export would hide that (BDT: "Rejects _since={future date}").
        if (out.since && Date.parse(out.since) > now.getTime()) {
          throw new InvalidError(`_since: ${out.since} is in the future (server time ${now.toISOString()})`, [name]);
        }
        break;
      case '_until':
        out.until = instant(name);
        break;
      case '_type': {
        const compartment = level === 'system' ? undefined : new Set(compartmentExportTypes());
        const types: string[] = [];
        for (const t of values.get(name)!) {
          if (!isResourceType(t)) unsupported(name, `'${t}' is not a resource type`);
          else if (!types.includes(t)) {
            types.push(t);
            // A type outside the Patient compartment is accepted at Patient and Group level: the
            // export holds what the patients' data references of it, which may be nothing (KO-23).
            if (compartment && !compartment.has(t) && lenient) {
              out.notes!.push(`_type: ${t} is not in the Patient compartment; this ${level}-level export holds only the ${t} resources that the exported patients' resources reference (possibly none)`);
            }
          }
        }
        // Only types outside the compartment and outside what its resources usually reference
        // (Practitioner, Organization…): Bulk Data says the server SHOULD answer with an error,
        // and MAY process the request under handling=lenient.
        if (compartment && types.length && !types.some((t) => compartment.has(t)) && !lenient) {
          throw new InvalidError(`_type: ${types.join(', ')} ${types.length > 1 ? 'are' : 'is'} outside the Patient compartment; a ${level}-level export of only such types holds nothing of the patients (add a compartment type such as Patient, or send Prefer: handling=lenient)`, [name], 'not-supported');
        }
        out.types = types;
        break;
      }
      case '_elements': {
        const elements: Record<string, string[]> = {};
        for (const e of values.get(name)!) {
          const parts = e.split('.');
          const [type, element] = parts.length === 2 ? parts : ['*', parts[0]];
          if (parts.length > 2 || !ELEMENT.test(element)) throw new InvalidError(`_elements: '${e}' is not an element or Type.element (only root elements)`, [name]);
          if (type !== '*' && !isResourceType(type)) {
            unsupported(name, `'${type}' is not a resource type`);
            continue;
          }
          (elements[type] ??= []).push(element);
        }
        out.elements = elements;
        break;
      }
      case 'patient': {
        if (level === 'system') throw new InvalidError('patient applies to Patient and Group exports only (KO-25)', [name]);
        const ids: string[] = [];
        for (const ref of values.get(name)!) {
          const m = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
          if (!m) throw new InvalidError(`patient: '${ref}' is not a Patient reference (Patient/[id])`, [name]);
          if (!ids.includes(m[1])) ids.push(m[1]);
        }
        out.patients = ids;
        break;
      }
      case 'includeAssociatedData': {
        const asked = new Set<string>();
        for (const v of values.get(name)!) {
          if (v === 'LatestProvenanceResources' || v === 'RelevantProvenanceResources') asked.add(v);
          else unsupported(name, `'${v}' is not supported (LatestProvenanceResources, RelevantProvenanceResources)`);
        }
        // Conflicting values: the least restrictive wins.
        out.provenance = asked.has('LatestProvenanceResources') && !asked.has('RelevantProvenanceResources') ? 'latest' : 'relevant';
        break;
      }
      case '_typeFilter':
        for (const f of values.get(name)!) parseTypeFilter(f, out, unsupported);
        break;
      case 'organizeOutputBy': {
        const v = single(name)!;
        if (v !== 'Patient') unsupported(name, `only Patient is supported, not '${v}'`);
        else if (level === 'system') unsupported(name, 'organizeOutputBy=Patient applies to Patient and Group exports');
        else out.organizeBy = 'Patient';
        break;
      }
      case 'allowPartialManifests': {
        const v = single(name)!;
        if (v !== 'true' && v !== 'false') throw new InvalidError(`allowPartialManifests takes true or false, not '${v}'`, [name]);
        out.partialManifests = v === 'true';
        break;
      }
      case '_format':
      case '_pretty':
        break;
      default:
        unsupported(name, 'not a $export parameter this server supports');
    }
  }
  if (out.since && out.until && out.until <= out.since) throw new InvalidError('_until must be after _since', ['_until']);
  for (const type of Object.keys(out.typeFilters)) {
    if (out.types && !out.types.includes(type)) {
      unsupported('_typeFilter', `${type} is not in _type, so its filter cannot apply`);
      delete out.typeFilters[type];
    }
  }
  return out;
}

function parseTypeFilter(filter: string, out: ExportParams, unsupported: (name: string, why: string) => void): void {
  const q = filter.indexOf('?');
  const type = q < 0 ? filter : filter.slice(0, q);
  if (q < 0 || !isResourceType(type)) throw new InvalidError(`_typeFilter: '${filter}' is not a [ResourceType]?[search parameters] query`, ['_typeFilter']);
  const kept = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(filter.slice(q + 1))) {
    if (RESULT_PARAMS.has(key.split(':')[0])) throw new InvalidError(`_typeFilter: '${key}' is a result parameter and cannot filter an export (KO-27)`, ['_typeFilter']);
    // parseFilter throws a 400 for malformed modifiers and values, returns undefined when unknown.
    if (!parseFilter(type, key, value)) unsupported('_typeFilter', `'${key}' is not a search parameter of ${type} (in '${filter}')`);
    else kept.append(key, value);
  }
  if ([...kept.keys()].length) (out.typeFilters[type] ??= []).push(kept.toString());
}
