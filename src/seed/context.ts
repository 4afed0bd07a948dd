/**
 * What building one member's record needs to share: the directory, the household, the person,
 * their coverage and care home, a random stream, per-type id counters, and what earlier
 * resources established (problem-list Conditions, vaccines given, deductibles met so far).
 */
import type { Resource } from '../fhir/validation.js';
import type { ChronicKey } from './conditions.js';
import type { CoveredSpan } from './coverage.js';
import { ageOn } from './dates.js';
import type { Directory, ProviderOrg } from './directory.js';
import type { CareHome } from './history.js';
import { pad } from './identifiers.js';
import type { Household, Person } from './members.js';
import type { Rng } from './prng.js';
import { ref } from './vocabulary.js';

/** A person's stable physiology, so repeated measurements tell a consistent story. */
export interface Physiology {
  adultHeight: number;
  bmi: number;
  systolic: number;
  diastolic: number;
  ldl: number;
  hdl: number;
  triglycerides: number;
  a1c: number;
}

export interface MemberContext {
  dir: Directory;
  hh: Household;
  p: Person;
  spans: CoveredSpan[];
  home: CareHome;
  rng: Rng;
  out: Resource[];
  counters: Map<string, number>;
  problems: Map<ChronicKey, string>;
  physio: Physiology;
  /** Deductible and out-of-pocket met, per plan year (`planId:year`). */
  accumulators: Map<string, { deductible: number; oop: number }>;
  /** Ambulatory E/M visits per organisation in the last two years of coverage (attribution). */
  visitsByOrg: Map<string, { org: ProviderOrg; count: number; last: number }>;
  vaccinesGiven: Set<string>;
  fluSeasons: Set<number>;
  /** Day height was last measured. */
  lastHeight: number;
}

export function nextId(ctx: MemberContext, prefix: string): string {
  const n = (ctx.counters.get(prefix) ?? 0) + 1;
  ctx.counters.set(prefix, n);
  return `${prefix}-${pad(ctx.p.index + 1)}-${n}`;
}

export function patientRef(ctx: MemberContext): { reference: string; display: string } {
  return ref('Patient', ctx.p.id, `${ctx.p.given} ${ctx.p.family}`) as { reference: string; display: string };
}

export function drawPhysiology(rng: Rng, p: Person): Physiology {
  const has = (k: ChronicKey) => p.chronic.some((c) => c.def.key === k);
  const female = p.sex === 'female';
  return {
    adultHeight: rng.normal(female ? 162 : 176, 7, 145, 200),
    bmi: rng.normal(has('diabetes') ? 32 : 27.5, 4.5, 18, 48),
    systolic: rng.normal(has('hypertension') ? 136 : 116, 9, 95, 175),
    diastolic: rng.normal(has('hypertension') ? 84 : 74, 6, 55, 105),
    ldl: rng.normal(has('hyperlipidemia') ? 150 : 112, 28, 50, 240),
    hdl: rng.normal(female ? 58 : 47, 11, 25, 100),
    triglycerides: rng.normal(has('diabetes') ? 190 : 125, 50, 40, 450),
    a1c: has('diabetes') ? rng.normal(7.6, 1.0, 6.0, 12.5) : rng.normal(5.35, 0.3, 4.5, 6.3),
  };
}

const GROWTH: readonly (readonly [number, number])[] = [[0, 0.31], [1, 0.45], [2, 0.52], [4, 0.6], [6, 0.68], [8, 0.75], [10, 0.81], [12, 0.88], [14, 0.95], [16, 0.985], [18, 1]];

/** Height in cm on a day, following a smoothed growth curve up to the adult height. */
export function heightOn(ctx: MemberContext, day: number): number {
  const years = (day - ctx.p.birth) / 365.25;
  if (years >= 18) return ctx.physio.adultHeight;
  let i = 0;
  while (GROWTH[i + 1][0] <= years) i++;
  const [a0, f0] = GROWTH[i];
  const [a1, f1] = GROWTH[i + 1];
  return ctx.physio.adultHeight * (f0 + ((f1 - f0) * (years - a0)) / (a1 - a0));
}

/** BMI on a day: children follow a typical curve, adults their own value drifting up with age. */
export function bmiOn(ctx: MemberContext, day: number): number {
  const age = ageOn(ctx.p.birth, day);
  if (age < 2) return 17;
  if (age < 18) return 16 + (age - 2) * 0.35 + (ctx.physio.bmi - 27.5) * 0.3;
  return ctx.physio.bmi + Math.min(age - 40, 25) * 0.04;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
