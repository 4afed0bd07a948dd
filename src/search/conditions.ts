/**
 * Plan filters → SQL conditions over the typed index tables. Every user value travels as a
 * bind parameter; only table, column and alias names (all fixed here) are spliced into the
 * text. A condition is written for "the resource of type T with id I", T and I being SQL
 * expressions, so the same builder serves the searched resource, chain targets and `_has`
 * sources.
 */
import { InvalidError } from '../errors.js';
import { normalizeString } from '../fhir/extract.js';
import type { SearchParam } from '../fhir/search-parameters.js';
import { policyConditionForTypes } from '../policy/conditions.js';
import { Binds } from '../store/binds.js';
import type { Filter } from './parse.js';
import { likeEscape, parseDate, parseNumber, parseQuantity, parseReference, parseToken, splitEscaped, unescape, type DateValue, type NumberValue } from './values.js';

export { Binds };

/** Where the searched resource's own row is available (the root), for `_lastUpdated`. */
export interface Subject {
  type: string;
  id: string;
  /** SQL for its last_updated when its row is in scope. */
  lastUpdated?: string;
  /** SQL for its stored date of service (resource.service_date) when its current row is in scope. */
  serviceDate?: string;
}

const TABLE: Record<string, string> = {
  token: 'search_token',
  string: 'search_string',
  date: 'search_date',
  reference: 'search_reference',
  quantity: 'search_quantity',
  number: 'search_quantity',
  uri: 'search_uri',
};

function or(parts: string[]): string {
  return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
}

/** A date range [low, high) against the query range, per prefix (FHIR R4 §3.1.1.4.2). */
export function dateCondition(b: Binds, v: DateValue, low: string, high: string): string {
  // Bind only what the prefix uses: PostgreSQL rejects unreferenced parameters.
  let qsBind: string | undefined;
  let qeBind: string | undefined;
  const qs = () => (qsBind ??= b.add(v.low.toISOString(), 'timestamptz'));
  const qe = () => (qeBind ??= b.add(v.high.toISOString(), 'timestamptz'));
  switch (v.prefix) {
    case 'eq': return `(${low} >= ${qs()} AND ${high} <= ${qe()})`;
    case 'ne': return `NOT (${low} >= ${qs()} AND ${high} <= ${qe()})`;
    case 'gt': return `${high} > ${qe()}`;
    case 'lt': return `${low} < ${qs()}`;
    case 'ge': return `${high} > ${qs()}`;
    case 'le': return `${low} < ${qe()}`;
    case 'sa': return `${low} >= ${qe()}`;
    case 'eb': return `${high} <= ${qs()}`;
    case 'ap': {
      // Approximately: the value widened by 10% of its distance from now (at least a day).
      const gap = Math.max(86_400_000, Math.abs(Date.now() - v.low.getTime()) * 0.1);
      const wl = b.add(new Date(Math.max(v.low.getTime() - gap, -8.64e15)).toISOString(), 'timestamptz');
      const wh = b.add(new Date(Math.min(v.high.getTime() + gap, 8.64e15)).toISOString(), 'timestamptz');
      return `(${low} < ${wh} AND ${high} > ${wl})`;
    }
  }
}

function numberCondition(b: Binds, v: NumberValue, col: string): string {
  const n = b.add(v.value, 'numeric');
  switch (v.prefix) {
    case 'eq': case 'ne': {
      const half = b.add(v.half, 'numeric');
      const within = `(${col} >= ${n} - ${half} AND ${col} < ${n} + ${half})`;
      return v.prefix === 'eq' ? within : `NOT ${within}`;
    }
    case 'ap': return `(${col} >= ${n} * 0.9 AND ${col} <= ${n} * 1.1 OR ${col} <= ${n} * 0.9 AND ${col} >= ${n} * 1.1)`;
    case 'gt': case 'sa': return `${col} > ${n}`;
    case 'lt': case 'eb': return `${col} < ${n}`;
    case 'ge': return `${col} >= ${n}`;
    case 'le': return `${col} <= ${n}`;
  }
}

function tokenCondition(b: Binds, raw: string, name: string, x: string): string {
  const t = parseToken(raw, name);
  const parts: string[] = [];
  if (t.system === null) parts.push(`${x}.system IS NULL`);
  else if (t.system !== undefined) parts.push(`${x}.system = ${b.add(t.system)}`);
  if (t.code !== undefined) parts.push(`${x}.code = ${b.add(t.code)}`);
  return `(${parts.join(' AND ')})`;
}

/** The condition on one index row `x` for one OR-alternative of a plain parameter. */
function valueCondition(b: Binds, param: SearchParam, modifier: string | undefined, raw: string, name: string, x: string, base: string): string {
  switch (param.type) {
    case 'token': {
      if (modifier === 'text') return `${x}.text LIKE ${b.add(`%${likeEscape(normalizeString(unescape(raw)))}%`)}`;
      if (modifier === 'of-type') {
        const parts = splitEscaped(raw, '|').map(unescape);
        if (parts.length !== 3 || parts.some((p) => p === '')) throw new InvalidError(`${name}: ':of-type' takes system|code|value`, [name]);
        return `(${x}.system = ${b.add(parts[0])} AND ${x}.code = ${b.add(`${parts[1]}|${parts[2]}`)})`;
      }
      return tokenCondition(b, raw, name, x);
    }
    case 'string': {
      const s = unescape(raw);
      if (modifier === 'exact') return `${x}.value = ${b.add(s)}`;
      const norm = likeEscape(normalizeString(s));
      return `${x}.norm LIKE ${b.add(modifier === 'contains' ? `%${norm}%` : `${norm}%`)}`;
    }
    case 'date':
      return dateCondition(b, parseDate(raw, name), `${x}.low`, `${x}.high`);
    case 'number':
      return numberCondition(b, parseNumber(raw, name), `${x}.value`);
    case 'quantity': {
      const q = parseQuantity(raw, name);
      const parts = [numberCondition(b, q, `${x}.value`)];
      if (q.system !== undefined) parts.push(`${x}.system = ${b.add(q.system)}`);
      if (q.code !== undefined) parts.push(`${x}.code = ${b.add(q.code)}`);
      return `(${parts.join(' AND ')})`;
    }
    case 'uri': {
      const u = unescape(raw);
      if (modifier === 'below') return `${x}.value LIKE ${b.add(`${likeEscape(u)}%`)}`;
      if (modifier === 'above') return `${b.add(u)} LIKE (replace(replace(replace(${x}.value, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')`;
      return `${x}.value = ${b.add(u)}`;
    }
    case 'reference': {
      const r = parseReference(raw, name, base);
      if (r.url) return `${x}.url = ${b.add(r.url)}`;
      const type = modifier ?? r.type;
      return type ? `(${x}.target_type = ${b.add(type)} AND ${x}.target_id = ${b.add(r.id)})` : `${x}.target_id = ${b.add(r.id)}`;
    }
    default:
      throw new InvalidError(`${name}: not supported`, [name], 'not-supported');
  }
}

function indexExists(b: Binds, table: string, subject: Subject, param: string, condition: string | undefined): { sql: string; x: string } {
  const x = b.nextAlias('x');
  const where = `${x}.tenant = $1 AND ${x}.type = ${subject.type} AND ${x}.id = ${subject.id} AND ${x}.param = ${b.add(param)}`;
  return { x, sql: `EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${where}${condition ?? ''})` };
}

/** `_id` and `_lastUpdated`, answered from the resource row. */
function rowCondition(b: Binds, f: Extract<Filter, { kind: 'param' }>, subject: Subject): string {
  if (f.modifier === 'missing') return f.values[0] === 'true' ? 'FALSE' : 'TRUE';
  if (f.param.code === '_id') {
    const ids = f.values.map((v) => unescape(v));
    const cond = `${subject.id} = ANY(${b.add(ids, 'text[]')})`;
    return f.modifier === 'not' ? `NOT ${cond}` : cond;
  }
  const build = (col: string) => or(f.values.map((v) => dateCondition(b, parseDate(v, f.name), col, `(${col} + interval '1 millisecond')`)));
  if (subject.lastUpdated) return build(subject.lastUpdated);
  const q = b.nextAlias('q');
  return `EXISTS (SELECT 1 FROM resource ${q} WHERE ${q}.tenant = $1 AND ${q}.type = ${subject.type} AND ${q}.id = ${subject.id} AND NOT ${q}.deleted AND ${build(`${q}.last_updated`)})`;
}

/** SQL that is true when the resource `subject` satisfies the filter. */
export function filterCondition(b: Binds, f: Filter, subject: Subject, base: string): string {
  switch (f.kind) {
    case 'any':
      return f.groups.length === 0 ? 'FALSE' : or(f.groups.map((g) => (g.length ? `(${g.map((x) => filterCondition(b, x, subject, base)).join(' AND ')})` : 'TRUE')));
    case 'chain': {
      const x = b.nextAlias('c');
      const alts = f.alternatives.map(
        (a) => `(${x}.target_type = ${b.add(a.type)} AND ${filterCondition(b, a.inner, { type: `${x}.target_type`, id: `${x}.target_id` }, base)})`,
      );
      return `EXISTS (SELECT 1 FROM search_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.type = ${subject.type} AND ${x}.id = ${subject.id} AND ${x}.param = ${b.add(f.param.code)} AND ${or(alts)})`;
    }
    case 'has': {
      const h = b.nextAlias('h');
      const inner = filterCondition(b, f.inner, { type: `${h}.type`, id: `${h}.id` }, base);
      return `EXISTS (SELECT 1 FROM search_reference ${h} WHERE ${h}.tenant = $1 AND ${h}.type = ${b.add(f.source)} AND ${h}.param = ${b.add(f.ref.code)} AND ${h}.target_type = ${subject.type} AND ${h}.target_id = ${subject.id} AND ${inner})`;
    }
    case 'policy':
      return policyConditionForTypes(b, f.rule, f.types, subject, f.patient);
    case 'compartment': {
      // One bound array whatever the number of patients: the statement keeps one prepared shape.
      const c = b.nextAlias('pc');
      return `EXISTS (SELECT 1 FROM resource_compartment ${c} WHERE ${c}.tenant = $1 AND ${c}.type = ${subject.type} AND ${c}.id = ${subject.id} AND ${c}.patient_id = ANY(${b.add(f.patients, 'text[]')}))`;
    }
    case 'param':
      break;
  }
  const { param, modifier } = f;
  if (param.code === '_id' || param.code === '_lastUpdated') return rowCondition(b, f, subject);
  if (param.type === 'composite') {
    // Components over the whole resource: each component's own index must match its part.
    return or(
      f.values.map((v) => {
        const parts = splitEscaped(v, '$');
        if (parts.length !== param.components!.length) throw new InvalidError(`${f.name}: '${v}' needs ${param.components!.length} '$'-separated parts`, [f.name]);
        return `(${param.components!.map((c, i) => filterCondition(b, { kind: 'param', name: f.name, param: c.param, values: [parts[i]] }, subject, base)).join(' AND ')})`;
      }),
    );
  }
  if (modifier === 'missing') {
    const { sql } = indexExists(b, TABLE[param.type], subject, param.code, undefined);
    return f.values[0] === 'true' ? `NOT ${sql}` : sql;
  }
  if (param.type === 'reference' && modifier === 'identifier') {
    const { sql, x } = probe(b, 'search_token', subject, `${param.code}:identifier`);
    return sql(or(f.values.map((v) => tokenCondition(b, v, f.name, x))));
  }
  const paramName = modifier === 'of-type' ? `${param.code}:of-type` : param.code;
  const { sql, x } = probe(b, TABLE[param.type], subject, paramName);
  const cond = or(f.values.map((v) => valueCondition(b, param, modifier === 'not' ? undefined : modifier, v, f.name, x, base)));
  return modifier === 'not' ? `NOT ${sql(cond)}` : sql(cond);
}

function probe(b: Binds, table: string, subject: Subject, param: string): { x: string; sql: (cond: string) => string } {
  const x = b.nextAlias('x');
  const head = `EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${x}.tenant = $1 AND ${x}.type = ${subject.type} AND ${x}.id = ${subject.id} AND ${x}.param = ${b.add(param)}`;
  return { x, sql: (cond) => `${head} AND ${cond})` };
}
