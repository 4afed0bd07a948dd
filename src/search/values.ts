/**
 * Search values as FHIR writes them: comma OR-lists with `\` escapes, token `system|code`,
 * prefixed dates and numbers, quantities `[prefix]number|system|code`. Each parser throws
 * a 400 naming the parameter when the value is malformed.
 */
import { InvalidError } from '../errors.js';
import { dateRange } from '../fhir/extract.js';

/** Splits on an unescaped separator; `\,` `\|` `\$` `\\` become the literal characters. */
export function splitEscaped(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      const next = value[i + 1];
      if (next === ',' || next === '|' || next === '$' || next === '\\') {
        // Keep escapes for later splits at a different separator.
        cur += next === sep ? next : `\\${next}`;
        i++;
        continue;
      }
    }
    if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Removes the remaining escapes once a value has been fully split. */
export function unescape(value: string): string {
  return value.replace(/\\([,|$\\])/g, '$1');
}

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIX = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.*)$/s;

export interface TokenValue {
  /** undefined: any system; null: no system (`|code`). */
  system: string | null | undefined;
  /** undefined: any code (`system|`). */
  code: string | undefined;
}

export function parseToken(value: string, name: string): TokenValue {
  const parts = splitEscaped(value, '|');
  if (parts.length > 2) throw new InvalidError(`${name}: '${value}' is not a token (code, system|code, |code or system|)`, [name]);
  if (parts.length === 1) {
    if (parts[0] === '') throw new InvalidError(`${name}: empty value`, [name]);
    return { system: undefined, code: unescape(parts[0]) };
  }
  const [system, code] = parts.map(unescape);
  if (system === '' && code === '') throw new InvalidError(`${name}: '|' alone is not a token`, [name]);
  return { system: system === '' ? null : system, code: code === '' ? undefined : code };
}

export interface DateValue {
  prefix: Prefix;
  low: Date;
  high: Date;
}

const DATE_SHAPE = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d+)?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))?)?)?)?$/;

export function parseDate(value: string, name: string): DateValue {
  const [, prefix, rest] = PREFIX.exec(value)!;
  const range = DATE_SHAPE.test(rest) ? dateRange(rest) : undefined;
  if (!range || Number.isNaN(range.low.getTime()) || Number.isNaN(range.high.getTime())) {
    throw new InvalidError(`${name}: '${value}' is not a date search value ([prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]])`, [name]);
  }
  return { prefix: (prefix as Prefix) ?? 'eq', low: range.low, high: range.high };
}

export interface NumberValue {
  prefix: Prefix;
  /** The number as written (decimal text). */
  value: string;
  /** Half the unit of the last significant digit: `eq 100` means [99.5, 100.5). */
  half: string;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumber(value: string, name: string): NumberValue {
  const [, prefix, rest] = PREFIX.exec(value)!;
  if (!NUMBER.test(rest) || rest.length > 40) throw new InvalidError(`${name}: '${value}' is not a number search value ([prefix]number)`, [name]);
  const mantissa = rest.replace(/[eE].*$/, '');
  const exp = /[eE]([+-]?\d+)/.exec(rest)?.[1];
  const decimals = (mantissa.split('.')[1] ?? '').length - (exp ? Number(exp) : 0);
  if (Math.abs(decimals) > 100) throw new InvalidError(`${name}: '${value}' is out of range`, [name]);
  return { prefix: (prefix as Prefix) ?? 'eq', value: rest, half: `5e${-decimals - 1}` };
}

export interface QuantityValue extends NumberValue {
  system: string | undefined;
  code: string | undefined;
}

export function parseQuantity(value: string, name: string): QuantityValue {
  const parts = splitEscaped(value, '|');
  if (parts.length !== 1 && parts.length !== 3) throw new InvalidError(`${name}: '${value}' is not a quantity ([prefix]number[|system|code])`, [name]);
  const n = parseNumber(unescape(parts[0]), name);
  const system = parts[1] ? unescape(parts[1]) : undefined;
  const code = parts[2] ? unescape(parts[2]) : undefined;
  return { ...n, system, code };
}

/** A reference search value: a type and id, or an absolute URL to match as written. */
export interface ReferenceValue {
  type?: string;
  id?: string;
  url?: string;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE_ID = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** `Type/id`, bare `id`, this server's absolute URL (→ Type/id), or another absolute URL. */
export function parseReference(value: string, name: string, base: string): ReferenceValue {
  const v = unescape(value);
  if (v.startsWith(`${base}/`)) {
    const m = TYPE_ID.exec(v.slice(base.length + 1));
    if (m) return { type: m[1], id: m[2] };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return { url: v };
  const m = TYPE_ID.exec(v);
  if (m) return { type: m[1], id: m[2] };
  if (ID.test(v)) return { id: v };
  throw new InvalidError(`${name}: '${value}' is not a reference (Type/id, id, or an absolute URL)`, [name]);
}

/** Escapes LIKE wildcards so user text matches literally (with ESCAPE '\'). */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
