/**
 * Search-index values extracted from a resource at write time, one typed row per value,
 * driven by the registry's SearchParameter expressions (src/fhir/search-parameters.ts).
 * The value's JSON shape decides how it is read (a Period and a dateTime both index as a
 * date range; a CodeableConcept, Coding or Identifier as tokens), so choice elements need
 * no type information.
 */
import { ATTACHMENT_HOLDERS, ATTACHMENT_PARAM, attachedBinaryIds } from './attachment.js';
import { compileExpression, type Accessor } from './fhirpath-compile.js';
import { searchParams, splitUnion, type SearchParam } from './search-parameters.js';
import type { Resource } from './validation.js';

export interface TokenRow { param: string; system: string | null; code: string | null; text: string | null }
export interface StringRow { param: string; value: string; norm: string }
/** A date value as the range it denotes: `low` inclusive, `high` exclusive (ISO or ±infinity). */
export interface DateRow { param: string; low: string; high: string }
export interface ReferenceRow { param: string; targetType: string | null; targetId: string | null; url: string | null }
/** Quantities and numbers (numbers have neither system nor code). */
export interface QuantityRow { param: string; value: string; system: string | null; code: string | null }
export interface UriRow { param: string; value: string }

export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  date: DateRow[];
  reference: ReferenceRow[];
  quantity: QuantityRow[];
  uri: UriRow[];
}

/** Lower case, accents stripped: the form string search compares. */
export function normalizeString(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The [low, high) range a FHIR date/dateTime/instant stands for; undefined when malformed. */
export function dateRange(value: string): { low: Date; high: Date } | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : 1;
  const day = d ? Number(d) : 1;
  const offsetMin = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const startUtc = Date.UTC(year, month - 1, day, h ? Number(h) : 0, mi ? Number(mi) : 0, s ? Number(s) : 0, ms) - offsetMin * 60_000;
  if (Number.isNaN(startUtc)) return undefined;
  let end: number;
  if (!mo) end = Date.UTC(year + 1, 0, 1);
  else if (!d) end = Date.UTC(year, month, 1);
  else if (h === undefined) end = Date.UTC(year, month - 1, day + 1);
  else if (s === undefined) end = startUtc + 60_000;
  else if (!frac) end = startUtc + 1000;
  else end = startUtc + 1;
  return { low: new Date(startUtc), high: new Date(end) };
}

type Obj = Record<string, unknown>;
/** ContactPoint.system codes: not a token system (a ContactPoint token is its value). */
const CONTACT_SYSTEMS = new Set(['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other']);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function tokens(param: string, node: unknown, out: TokenRow[]): void {
  if (typeof node === 'string' || typeof node === 'boolean' || typeof node === 'number') {
    out.push({ param, system: null, code: String(node), text: null });
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Obj;
  if (Array.isArray(n.coding) || typeof n.text === 'string') {
    // CodeableConcept: each coding, plus its text for `:text`.
    const codings = Array.isArray(n.coding) ? (n.coding as Obj[]) : [];
    const text = str(n.text);
    for (const c of codings) {
      if (!c || (typeof c.code !== 'string' && typeof c.display !== 'string')) continue;
      const display = [text, c.display !== text ? str(c.display) : null].filter(Boolean).join(' ');
      out.push({ param, system: str(c.system), code: str(c.code), text: display ? normalizeString(display) : null });
    }
    if (text && codings.length === 0) out.push({ param, system: null, code: null, text: normalizeString(text) });
    return;
  }
  if (typeof n.code === 'string') {
    out.push({ param, system: str(n.system), code: n.code, text: typeof n.display === 'string' ? normalizeString(n.display) : null });
    return;
  }
  if (typeof n.value === 'string') {
    // Identifier (its type for `:of-type`) or ContactPoint.
    const type = n.type as Obj | undefined;
    const typeText = str(type?.text);
    const system = typeof n.system === 'string' && !CONTACT_SYSTEMS.has(n.system) ? n.system : null;
    out.push({ param, system, code: n.value, text: typeText ? normalizeString(typeText) : null });
    for (const c of (Array.isArray(type?.coding) ? type!.coding : []) as Obj[]) {
      if (typeof c?.code === 'string') out.push({ param: `${param}:of-type`, system: str(c.system), code: `${c.code}|${n.value}`, text: null });
    }
  }
}

const STRING_KEYS = ['text', 'family', 'given', 'prefix', 'suffix', 'line', 'city', 'district', 'state', 'postalCode', 'country'];

function strings(param: string, node: unknown, out: StringRow[]): void {
  if (typeof node === 'string') {
    out.push({ param, value: node, norm: normalizeString(node) });
  } else if (node && typeof node === 'object') {
    const n = node as Obj;
    for (const k of STRING_KEYS) {
      const v = n[k];
      if (typeof v === 'string') strings(param, v, out);
      else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') strings(param, x, out);
    }
  }
}

function dates(param: string, node: unknown, out: DateRow[]): void {
  if (typeof node === 'string') {
    const r = dateRange(node);
    if (r) out.push({ param, low: r.low.toISOString(), high: r.high.toISOString() });
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Obj;
  if ('start' in n || 'end' in n) {
    const s = typeof n.start === 'string' ? dateRange(n.start) : undefined;
    const e = typeof n.end === 'string' ? dateRange(n.end) : undefined;
    out.push({ param, low: s ? s.low.toISOString() : '-infinity', high: e ? e.high.toISOString() : 'infinity' });
  } else if (Array.isArray(n.event) || n.repeat) {
    // Timing: the span of its events, or its repeat bounds.
    const ranges = ((n.event as unknown[]) ?? []).map((e) => (typeof e === 'string' ? dateRange(e) : undefined)).filter(Boolean) as { low: Date; high: Date }[];
    if (ranges.length) {
      out.push({ param, low: new Date(Math.min(...ranges.map((r) => +r.low))).toISOString(), high: new Date(Math.max(...ranges.map((r) => +r.high))).toISOString() });
    }
    const bounds = (n.repeat as Obj | undefined)?.boundsPeriod;
    if (bounds) dates(param, bounds, out);
  }
}

/** `Type/id`, `Type/id/_history/n`, or an absolute URL ending in `Type/id`. */
const REFERENCE = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

function references(param: string, node: unknown, out: ReferenceRow[], tokenOut: TokenRow[]): void {
  if (typeof node === 'string') {
    // canonical / uri used as a reference
    const m = REFERENCE.exec(node);
    out.push({ param, targetType: m?.[1] ?? null, targetId: m?.[2] ?? null, url: node });
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Obj;
  if (typeof n.reference === 'string' && !n.reference.startsWith('#')) {
    const m = REFERENCE.exec(n.reference);
    const absolute = /^[a-z][a-z0-9+.-]*:/i.test(n.reference);
    out.push({ param, targetType: m?.[1] ?? null, targetId: m?.[2] ?? null, url: absolute ? n.reference : null });
  }
  if (n.identifier && typeof n.identifier === 'object') {
    const ident = n.identifier as Obj;
    if (typeof ident.value === 'string') tokenOut.push({ param: `${param}:identifier`, system: str(ident.system), code: ident.value, text: null });
  }
}

function quantities(param: string, node: unknown, out: QuantityRow[]): void {
  if (typeof node === 'number') {
    out.push({ param, value: String(node), system: null, code: null });
  } else if (node && typeof node === 'object') {
    const n = node as Obj;
    if (typeof n.value === 'number') out.push({ param, value: String(n.value), system: str(n.system), code: str(n.code) ?? str(n.unit) ?? str(n.currency) });
  }
}

interface Compiled { param: SearchParam; accessor: Accessor }
const compiledByType = new Map<string, Compiled[]>();

function compiledFor(type: string): Compiled[] {
  let list = compiledByType.get(type);
  if (!list) {
    list = searchParams(type)
      .filter((p) => p.expression && p.type !== 'composite')
      .map((param) => ({ param, accessor: compileExpression(param.expression!, type, splitUnion(param.expression!)) }));
    compiledByType.set(type, list);
  }
  return list;
}

/** Every index row of one resource. */
export function extractIndex(resource: Resource): IndexRows {
  const rows: IndexRows = { token: [], string: [], date: [], reference: [], quantity: [], uri: [] };
  for (const { param, accessor } of compiledFor(resource.resourceType)) {
    const code = param.code;
    for (const node of accessor(resource)) {
      switch (param.type) {
        case 'token': tokens(code, node, rows.token); break;
        case 'string': strings(code, node, rows.string); break;
        case 'date': dates(code, node, rows.date); break;
        case 'reference': references(code, node, rows.reference, rows.token); break;
        case 'quantity': case 'number': quantities(code, node, rows.quantity); break;
        case 'uri': if (typeof node === 'string') rows.uri.push({ param: code, value: node }); break;
      }
    }
  }
  // Not a search parameter (no search names it): the Binaries this resource's documents are,
  // for the partner policies (attachment.ts ATTACHMENT_HOLDERS).
  if (ATTACHMENT_HOLDERS.has(resource.resourceType)) {
    for (const id of attachedBinaryIds(resource as unknown as Record<string, unknown>)) rows.reference.push({ param: ATTACHMENT_PARAM, targetType: 'Binary', targetId: id, url: null });
  }
  return rows;
}
