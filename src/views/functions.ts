/**
 * The functions SQL on FHIR adds to FHIRPath, given to the `fhirpath` engine as a user
 * invocation table: getResourceKey() and getReferenceKey([type]) (keys that join one view's
 * rows to another's), and the experimental lowBoundary() / highBoundary() on dates, dateTimes
 * and times (the engine's own ignore the specification's timezone rule and lose a decimal's
 * written precision).
 */
import { NotSupportedError } from '../errors.js';

/** `Type/id`, optionally `/_history/n`: the only references that join to a resource key. */
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The key of a resource: `Type/id` (the version is not part of it). */
export function resourceKey(resource: { resourceType?: unknown; id?: unknown }): string | undefined {
  return typeof resource?.resourceType === 'string' && typeof resource.id === 'string' ? `${resource.resourceType}/${resource.id}` : undefined;
}

/** The key of the resource a reference points to; undefined for absolute, contained, `urn:` and identifier-only references. */
export function referenceKey(reference: unknown, type?: string): string | undefined {
  const ref = (reference as { reference?: unknown })?.reference;
  if (typeof ref !== 'string') return undefined;
  const m = RELATIVE_REFERENCE.exec(ref);
  if (!m || (type !== undefined && m[1] !== type)) return undefined;
  return `${m[1]}/${m[2]}`;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : DAYS[month - 1];
}

function dateBoundary(value: string, high: boolean): string | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] ?? (high ? '12' : '01');
  const day = m[3] ?? (high ? String(daysIn(year, Number(month))).padStart(2, '0') : '01');
  return `${m[1]}-${month}-${day}`;
}

function timeBoundary(value: string, high: boolean): string | undefined {
  const m = /^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?$/.exec(value);
  if (!m) return undefined;
  const fill = (v: string | undefined, hi: string) => v ?? (high ? hi : '00');
  const fraction = m[4] ? m[4].slice(0, 3).padEnd(3, high ? '9' : '0') : high ? '999' : '000';
  return `${m[1]}:${fill(m[2], '59')}:${fill(m[3], '59')}.${fraction}`;
}

/**
 * A dateTime's boundary: the earliest (latest) instant it can mean. Without a timezone the
 * widest offsets apply: +14:00 for the low boundary, -12:00 for the high one.
 */
function dateTimeBoundary(value: string, high: boolean): string | undefined {
  const m = /^(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?:T([\d:.]+))?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!m) return undefined;
  const date = dateBoundary(m[1], high);
  const time = timeBoundary(m[2] ?? (high ? '23' : '00'), high);
  if (!date || !time) return undefined;
  return `${date}T${time}${m[3] ?? (high ? '-12:00' : '+14:00')}`;
}

interface Node {
  fhirNodeDataType?: string;
  data?: unknown;
  asStr?: string;
  constructor?: { name?: string };
}

function boundary(high: boolean) {
  return (inputs: unknown[], precision?: unknown): string[] => {
    if (precision !== undefined && !(Array.isArray(precision) && precision.length === 0)) {
      throw new NotSupportedError(`${high ? 'highBoundary' : 'lowBoundary'}(precision) is not supported; call it without a precision`);
    }
    const out: string[] = [];
    for (const input of inputs) {
      const node = input as Node;
      let kind = node?.fhirNodeDataType;
      let value: unknown = node?.data ?? node;
      if (node?.asStr !== undefined) {
        value = node.asStr;
        kind = node.constructor?.name === 'FP_Date' ? 'date' : node.constructor?.name === 'FP_Time' ? 'time' : 'dateTime';
      }
      if (typeof value === 'number' || kind === 'decimal' || kind === 'integer') {
        throw new NotSupportedError(`${high ? 'highBoundary' : 'lowBoundary'}() of a number is not supported: a JSON number does not keep the precision it was written with`);
      }
      if (typeof value !== 'string') continue;
      const b = kind === 'date' ? dateBoundary(value, high) : kind === 'time' ? timeBoundary(value, high) : dateTimeBoundary(value, high);
      if (b !== undefined) out.push(b);
    }
    return out;
  };
}

/** join([separator]): one string, empty for an empty input (the engine answers nothing there). */
function join(inputs: unknown[], separator?: unknown): string[] {
  const sep = Array.isArray(separator) ? separator[0] : separator;
  return [inputs.map((v) => String(v)).join(typeof sep === 'string' ? sep : '')];
}

/** The invocation table handed to every compiled expression. */
export const viewFunctions = {
  join: { fn: join, arity: { 0: [], 1: ['String'] } },
  getResourceKey: {
    fn: (inputs: unknown[]) => inputs.map((r) => resourceKey(r as { resourceType?: unknown; id?: unknown })).filter((k): k is string => k !== undefined),
    arity: { 0: [] },
  },
  getReferenceKey: {
    fn: (inputs: unknown[], type?: { name?: string }) => inputs.map((r) => referenceKey(r, type?.name)).filter((k): k is string => k !== undefined),
    arity: { 0: [], 1: ['TypeSpecifier'] },
  },
  lowBoundary: { internalStructures: true, fn: boundary(false), arity: { 0: [], 1: ['Integer'] } },
  highBoundary: { internalStructures: true, fn: boundary(true), arity: { 0: [], 1: ['Integer'] } },
};
