/**
 * FHIR date, dateTime and instant values as ranges: a value stands for the whole span of its
 * precision (`2024` is all of 2024), which search and history parameters compare against.
 */
import { InvalidError } from '../errors.js';

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface DateRange {
  /** Inclusive start. */
  start: Date;
  /** Exclusive end. */
  end: Date;
}

/** Parses a FHIR date/dateTime/instant into the range it denotes; throws 400 naming `parameter`. */
export function parseDateRange(value: string, parameter: string): DateRange {
  const m = DATE_TIME.exec(value);
  const bad = () => new InvalidError(`${parameter}: '${value}' is not a valid FHIR date or dateTime`, [parameter]);
  if (!m) throw bad();
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (h !== undefined && tz === undefined) {
    // A time without a zone is ambiguous; FHIR requires one on dateTime values with a time.
    throw bad();
  }
  const year = Number(y);
  const month = mo ? Number(mo) : 1;
  const day = d ? Number(d) : 1;
  if (month < 1 || month > 12 || day < 1 || day > 31) throw bad();
  const offsetMin = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const startUtc = Date.UTC(year, month - 1, day, h ? Number(h) : 0, mi ? Number(mi) : 0, s ? Number(s) : 0, ms) - offsetMin * 60_000;
  const start = new Date(startUtc);
  if (Number.isNaN(start.getTime()) || (d && new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day)) throw bad();
  let end: Date;
  if (!mo) end = new Date(Date.UTC(year + 1, 0, 1));
  else if (!d) end = new Date(Date.UTC(year, month, 1));
  else if (h === undefined) end = new Date(Date.UTC(year, month - 1, day + 1));
  else if (s === undefined) end = new Date(startUtc + 60_000);
  else if (!frac) end = new Date(startUtc + 1000);
  else end = new Date(startUtc + 1);
  return { start, end };
}
