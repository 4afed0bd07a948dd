/**
 * Calendar arithmetic on whole days (days since 1970-01-01, UTC), which is all a claims
 * history needs. The population is described "as of" a fixed day, never the clock, so two
 * runs on different days produce the same bytes.
 */

export const DAY_MS = 86_400_000;

export function dayOf(iso: string): number {
  return Math.round(Date.parse(`${iso}T00:00:00Z`) / DAY_MS);
}

/** The last day of the ten-year history; the population is described as of this day. */
export const AS_OF = dayOf('2025-12-31');
/** First day of the history (also the Provider Access API's floor for dates of service). */
export const HISTORY_START = dayOf('2016-01-01');

const dateCache = new Map<number, string>();

/** `YYYY-MM-DD`, cached: the same few thousand days are formatted over and over. */
export function isoDate(day: number): string {
  let s = dateCache.get(day);
  if (s === undefined) {
    s = new Date(day * DAY_MS).toISOString().slice(0, 10);
    dateCache.set(day, s);
  }
  return s;
}

/** A FHIR dateTime at a minute of that day, in US Pacific standard time (the plan's region). */
export function isoDateTime(day: number, minute: number): string {
  const h = Math.floor(minute / 60) % 24;
  const m = minute % 60;
  return `${isoDate(day)}T${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}:00-08:00`;
}

export function yearOf(day: number): number {
  return Number(isoDate(day).slice(0, 4));
}

export function startOfYear(year: number): number {
  return dayOf(`${year}-01-01`);
}

/** Whole years between a birth day and a day. */
export function ageOn(birth: number, day: number): number {
  const b = isoDate(birth);
  const d = isoDate(day);
  let age = Number(d.slice(0, 4)) - Number(b.slice(0, 4));
  if (d.slice(5) < b.slice(5)) age--;
  return age;
}

/** The first day of the month after `day` (enrolment changes happen on month boundaries). */
export function nextMonthStart(day: number): number {
  const d = new Date(day * DAY_MS);
  return Math.round(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / DAY_MS);
}

export function addMonths(day: number, months: number): number {
  const d = new Date(day * DAY_MS);
  return Math.round(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate()) / DAY_MS);
}
