/**
 * Search URL → plan: resolves each parameter name (with modifier, chain or `_has`) against
 * the registry, collects result parameters, and sets aside what the server does not know
 * (reported back, or a 400 under `Prefer: handling=strict`).
 */
import { InvalidError } from '../errors.js';
import { isResourceType } from '../fhir/schema.js';
import { searchParam, type SearchParam } from '../fhir/search-parameters.js';
import type { MemberHint, PolicyRule } from '../policy/conditions.js';
import { splitEscaped } from './values.js';

export type Filter =
  | { kind: 'param'; name: string; param: SearchParam; modifier?: string; values: string[] }
  | { kind: 'chain'; name: string; param: SearchParam; alternatives: { type: string; inner: Filter }[] }
  | { kind: 'has'; name: string; source: string; ref: SearchParam; inner: Filter }
  /** OR of AND-groups (granular scope filters, compartments). */
  | { kind: 'any'; groups: Filter[][] }
  /** In the Patient compartment of one of these patients (resource_compartment, the Patient itself included, as exports use it). */
  | { kind: 'compartment'; patients: string[] }
  /** The caller's partner access policy over resources of `types` (src/policy/conditions.ts); `patient`: whose data the rows are, by the statement's other filters (MemberHint). */
  | { kind: 'policy'; rule: PolicyRule; types: string[]; patient?: MemberHint };

export interface SortKey {
  code: string;
  param?: SearchParam;
  desc: boolean;
}

export interface Include {
  source: string;
  /** Reference parameter codes (`*`: all of the source's reference parameters). */
  params: string[];
  target?: string;
  iterate: boolean;
  text: string;
}

export type Summary = 'true' | 'false' | 'text' | 'data' | 'count';

export interface SearchPlan {
  /** The searched types (one for type search; the `_type` list, or all, for system search). */
  types: string[];
  system: boolean;
  filters: Filter[];
  sort: SortKey[];
  count: number;
  includes: Include[];
  revincludes: Include[];
  summary?: Summary;
  elements?: string[];
  total?: 'none' | 'estimate' | 'accurate';
  page?: string;
  /** Parameters as applied, for the `self` and paging links. */
  used: [string, string][];
  /** Parameters ignored as unknown or unsupported. */
  ignored: string[];
}

const MODIFIERS: Record<string, Set<string>> = {
  token: new Set(['not', 'text', 'missing', 'of-type']),
  string: new Set(['exact', 'contains', 'missing']),
  date: new Set(['missing']),
  reference: new Set(['identifier', 'missing']),
  quantity: new Set(['missing']),
  number: new Set(['missing']),
  uri: new Set(['below', 'above', 'missing']),
  composite: new Set([]),
};

/** Resolves one parameter name for `type`; undefined when the server does not know it. */
export function parseFilter(type: string, key: string, value: string, depth = 0): Filter | undefined {
  if (depth > 4) throw new InvalidError(`${key}: chains and _has may nest at most 4 deep`, [key]);
  if (key.startsWith('_has:')) {
    const [, source, refCode, ...rest] = key.split(':');
    if (!source || !refCode || !rest.length || !isResourceType(source)) return undefined;
    const ref = searchParam(source, refCode);
    if (!ref || ref.type !== 'reference' || (ref.targets.length && !ref.targets.includes(type))) return undefined;
    const inner = parseFilter(source, rest.join(':'), value, depth + 1);
    return inner && { kind: 'has', name: key, source, ref, inner };
  }
  const dot = key.indexOf('.');
  if (dot > 0) {
    const [code, modifier] = key.slice(0, dot).split(':');
    const param = searchParam(type, code);
    if (!param || param.type !== 'reference') return undefined;
    const targets = modifier ? (param.targets.includes(modifier) ? [modifier] : []) : param.targets;
    const alternatives = targets
      .map((t) => ({ type: t, inner: parseFilter(t, key.slice(dot + 1), value, depth + 1) }))
      .filter((a): a is { type: string; inner: Filter } => a.inner !== undefined);
    return alternatives.length ? { kind: 'chain', name: key, param, alternatives } : undefined;
  }
  const colon = key.indexOf(':');
  const code = colon < 0 ? key : key.slice(0, colon);
  const modifier = colon < 0 ? undefined : key.slice(colon + 1);
  const param = searchParam(type, code);
  if (!param) return undefined;
  if (modifier !== undefined) {
    const typeModifier = param.type === 'reference' && isResourceType(modifier);
    if (!typeModifier && !MODIFIERS[param.type]?.has(modifier)) throw new InvalidError(`${key}: the modifier ':${modifier}' is not supported on ${param.type} parameter '${code}'`, [key]);
    if (typeModifier && param.targets.length && !param.targets.includes(modifier)) throw new InvalidError(`${key}: '${modifier}' is not a target type of '${code}'`, [key]);
    if (modifier === 'of-type' && code !== 'identifier') throw new InvalidError(`${key}: ':of-type' applies to identifier only`, [key]);
    if (modifier === 'missing' && value !== 'true' && value !== 'false') throw new InvalidError(`${key}: ':missing' takes true or false`, [key]);
  }
  if (value === '') throw new InvalidError(`${key}: empty value`, [key]);
  return { kind: 'param', name: key, param, modifier, values: splitEscaped(value, ',') };
}

const SUMMARIES = new Set(['true', 'false', 'text', 'data', 'count']);
/** Parameters that only shape the HTTP exchange. */
const TRANSPORT = new Set(['_format', '_pretty']);

export interface ParseOptions {
  defaultCount: number;
  maxCount: number;
  strict: boolean;
}

/** Builds the plan for a search over `types` from the request's parameter pairs. */
export function parseSearch(types: string[], system: boolean, pairs: [string, string][], opts: ParseOptions): SearchPlan {
  const plan: SearchPlan = { types, system, filters: [], sort: [], count: opts.defaultCount, includes: [], revincludes: [], used: [], ignored: [] };
  const ignore = (name: string, why: string) => {
    if (opts.strict) throw new InvalidError(`${name}: ${why}`, [name], 'not-supported');
    plan.ignored.push(`${name}: ${why}`);
  };
  const use = (k: string, v: string) => plan.used.push([k, v]);
  for (const [key, value] of pairs) {
    // PostgreSQL text cannot hold NUL; no FHIR value contains one.
    if (key.includes('\u0000') || value.includes('\u0000')) throw new InvalidError('Search parameters must not contain NUL characters', [key.replace(/\u0000/g, '')]);
    if (TRANSPORT.has(key) || (system && key === '_type')) continue;
    switch (key) {
      case '_count':
        if (!/^\d{1,9}$/.test(value)) throw new InvalidError('_count must be a non-negative integer', ['_count']);
        plan.count = Math.min(Number(value), opts.maxCount);
        use(key, String(plan.count));
        continue;
      case '_page':
        plan.page = value;
        continue;
      case '_summary':
        if (!SUMMARIES.has(value)) throw new InvalidError(`_summary: '${value}' is not one of true, false, text, data, count`, ['_summary']);
        plan.summary = value as Summary;
        use(key, value);
        continue;
      case '_elements':
        plan.elements = [...(plan.elements ?? []), ...value.split(',').map((e) => e.trim()).filter(Boolean)];
        if (plan.elements.some((e) => !/^[A-Za-z][A-Za-z0-9]*$/.test(e))) throw new InvalidError('_elements lists element names', ['_elements']);
        use(key, value);
        continue;
      case '_total':
        if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw new InvalidError(`_total: '${value}' is not one of none, estimate, accurate`, ['_total']);
        plan.total = value;
        use(key, value);
        continue;
      case '_sort':
        for (const item of value.split(',')) {
          const desc = item.startsWith('-');
          const code = desc ? item.slice(1) : item;
          const param = types.every((t) => searchParam(t, code)) ? searchParam(types[0], code) : undefined;
          if (!param || param.type === 'composite') ignore('_sort', `cannot sort by '${code}'`);
          else plan.sort.push({ code, param, desc });
        }
        if (plan.sort.length) use(key, plan.sort.map((s) => `${s.desc ? '-' : ''}${s.code}`).join(','));
        continue;
      case '_include':
      case '_include:iterate':
      case '_revinclude':
      case '_revinclude:iterate': {
        const include = parseInclude(key, value);
        if (!include) ignore(key, `'${value}' is not a known Type:parameter[:targetType]`);
        else {
          (key.startsWith('_include') ? plan.includes : plan.revincludes).push(include);
          use(key, value);
        }
        continue;
      }
    }
    let filter: Filter | undefined;
    const [first, ...others] = types;
    filter = parseFilter(first, key, value);
    // A system search takes only parameters every searched type defines alike.
    if (filter && others.some((t) => signature(parseFilter(t, key, value)) !== signature(filter))) filter = undefined;
    if (!filter) ignore(key, system ? 'not a search parameter shared by every searched type' : `not a known search parameter of ${first}`);
    else {
      plan.filters.push(filter);
      use(key, value);
    }
  }
  return plan;
}

function parseInclude(key: string, value: string): Include | undefined {
  const [source, code, target, ...extra] = value.split(':');
  if (extra.length || !source || !code || !isResourceType(source) || (target !== undefined && !isResourceType(target))) return undefined;
  if (code !== '*') {
    const p = searchParam(source, code);
    if (!p || p.type !== 'reference') return undefined;
  }
  return { source, params: [code], target, iterate: key.endsWith(':iterate'), text: value };
}

/** A filter's meaning apart from per-type expressions, to compare it across types. */
function signature(f: Filter | undefined): string {
  return JSON.stringify(f ?? null, (k, v) => (k === 'expression' || k === 'components' || k === 'url' ? undefined : v));
}
