/**
 * Ten years of utilisation, planned before any resource is built: for every covered stretch
 * of every calendar year, how many preventive, chronic follow-up, sick, specialist, emergency,
 * inpatient, screening and dental visits a person of this age and disease burden has. Rates
 * are per year and scaled by the covered fraction of the year, so lapses leave real gaps.
 */
import { DRGS, type DrgDef } from './codes.js';
import { drawAcute, type AcuteDef, type ChronicCase, type Specialty } from './conditions.js';
import type { CoveredSpan } from './coverage.js';
import { AS_OF, HISTORY_START, addMonths, ageOn, startOfYear, yearOf } from './dates.js';
import { inNetwork, type Clinician, type Directory, type ProviderOrg } from './directory.js';
import type { Household, Person } from './members.js';
import type { Rng } from './prng.js';

export type VisitKind = 'wellness' | 'followup' | 'acute' | 'specialist' | 'er' | 'inpatient' | 'screening' | 'dental';

export interface Visit {
  kind: VisitKind;
  day: number;
  /** Discharge day (inpatient), else the same day. */
  end: number;
  minute: number;
  org: ProviderOrg;
  clinician: Clinician;
  span: CoveredSpan;
  age: number;
  /** Chronic problems addressed (follow-up and specialist visits). */
  chronic: ChronicCase[];
  acute?: AcuteDef;
  specialty?: Specialty;
  screening?: 'colonoscopy' | 'mammography';
  drg?: DrgDef;
  /** Months of age at a well-child visit (drives the vaccine schedule). */
  ageMonths?: number;
}

/** Where a person gets care: chosen once, preferring organisations in the first plan's network. */
export interface CareHome {
  pcpOrg: ProviderOrg;
  pcp: Clinician;
  hospital: ProviderOrg;
  pharmacy: ProviderOrg;
  dental: ProviderOrg;
}

function pickOrg(rng: Rng, orgs: ProviderOrg[], span: CoveredSpan | undefined): ProviderOrg {
  const preferred = span ? orgs.filter((o) => inNetwork(o, span.plan)) : orgs;
  // One visit in ten goes wherever is convenient, in network or not.
  return rng.pick(preferred.length && !rng.chance(0.1) ? preferred : orgs);
}

export function chooseCareHome(dir: Directory, rng: Rng, p: Person, first: CoveredSpan | undefined): CareHome {
  const pcpOrg = pickOrg(rng, dir.byKind.primary, first);
  const child = ageOn(p.birth, first?.start ?? AS_OF) < 18;
  const pcps = pcpOrg.clinicians.filter((c) => c.role === (child ? 'pediatrics' : 'primary'));
  return {
    pcpOrg,
    pcp: rng.pick(pcps.length ? pcps : pcpOrg.clinicians),
    hospital: pickOrg(rng, dir.byKind.hospital, first),
    pharmacy: rng.pick(dir.byKind.pharmacy),
    dental: pickOrg(rng, dir.byKind.dental, first),
  };
}

const WELL_CHILD_MONTHS = [0, 2, 4, 6, 9, 12, 15, 18, 24, 30, 36];

function acuteRate(age: number): number {
  return age < 5 ? 1.2 : age < 18 ? 0.6 : age < 65 ? 0.4 : 0.55;
}

function chooseDrg(rng: Rng, active: ChronicCase[]): DrgDef {
  const has = (k: string) => active.some((c) => c.def.key === k);
  if (has('heartFailure') && rng.chance(0.6)) return DRGS.heartFailure;
  if (has('copd') && rng.chance(0.6)) return DRGS.copd;
  if (has('diabetes') && rng.chance(0.25)) return DRGS.diabetes;
  return rng.weighted([[DRGS.pneumonia, 4], [DRGS.chestPain, 3], [DRGS.gi, 3]]);
}

/** Every visit of a person, in date order. */
export function planVisits(dir: Directory, hh: Household, p: Person, spans: CoveredSpan[], home: CareHome): Visit[] {
  const rng = p.rng.fork('visits');
  const visits: Visit[] = [];
  const femaleAdult = p.sex === 'female';
  let lastColonoscopy = -Infinity;
  const add = (v: Omit<Visit, 'minute' | 'end' | 'chronic'> & Partial<Pick<Visit, 'end' | 'chronic'>>) =>
    visits.push({ minute: rng.int(8 * 60, 17 * 60), end: v.day, chronic: [], ...v });
  for (const span of spans) {
    const from = Math.max(span.start, HISTORY_START);
    const to = Math.min(span.end ?? AS_OF, p.death !== undefined ? p.death - 1 : AS_OF);
    if (from > to) continue;
    for (let y = yearOf(from); y <= yearOf(to); y++) {
      const a = Math.max(from, startOfYear(y));
      const b = Math.min(to, startOfYear(y + 1) - 1);
      if (a > b) continue;
      const frac = (b - a + 1) / 365;
      const age = ageOn(p.birth, a);
      const active = p.chronic.filter((c) => c.onset <= b);
      const day = () => rng.int(a, b);
      const base = { span, age };
      if (age < 3) {
        for (const m of WELL_CHILD_MONTHS) {
          const d = addMonths(p.birth, m) + (m === 0 ? 3 : 0);
          if (d >= a && d <= b && rng.chance(0.92)) add({ ...base, kind: 'wellness', day: d, org: home.pcpOrg, clinician: home.pcp, ageMonths: m });
        }
      } else if (rng.chance((age < 18 ? 0.75 : age < 65 ? 0.45 : 0.7) * frac)) {
        add({ ...base, kind: 'wellness', day: day(), org: home.pcpOrg, clinician: home.pcp, ageMonths: age * 12 });
      }
      if (active.length) {
        const n = rng.poisson(Math.min(3, 0.6 + 0.5 * active.length) * frac);
        for (let i = 0; i < n; i++) {
          const d = day();
          const reasons = active.filter((c) => c.onset <= d);
          if (reasons.length) add({ ...base, kind: 'followup', day: d, org: home.pcpOrg, clinician: home.pcp, chronic: reasons });
        }
        for (const c of active) {
          if (!c.def.specialty || !rng.chance(0.5 * frac)) continue;
          const d = rng.int(Math.max(a, c.onset), b);
          const org = pickOrg(rng, dir.bySpecialty[c.def.specialty], span);
          add({ ...base, kind: 'specialist', day: d, org, clinician: rng.pick(org.clinicians), chronic: [c], specialty: c.def.specialty });
        }
      }
      for (let i = rng.poisson(acuteRate(age) * frac); i > 0; i--) {
        add({ ...base, kind: 'acute', day: day(), org: home.pcpOrg, clinician: home.pcp, acute: drawAcute(rng, age, femaleAdult, false) });
      }
      const erRate = 0.1 + 0.03 * active.length + (age >= 75 ? 0.08 : 0);
      for (let i = rng.poisson(erRate * frac); i > 0; i--) {
        const org = pickOrg(rng, dir.byKind.hospital, span);
        add({ ...base, kind: 'er', day: day(), org, clinician: org.clinicians.find((c) => c.role === 'emergency')!, acute: drawAcute(rng, age, femaleAdult, true) });
      }
      const has = (k: string) => active.some((c) => c.def.key === k);
      const ipRate = (age < 18 ? 0.008 : age < 65 ? 0.015 : 0.05) + (has('heartFailure') ? 0.12 : 0) + (has('copd') ? 0.06 : 0);
      for (let i = rng.poisson(ipRate * frac); i > 0; i--) {
        const drg = chooseDrg(rng, active);
        const d = day();
        const end = Math.min(b, d + rng.int(drg.los[0], drg.los[1]));
        add({ ...base, kind: 'inpatient', day: d, end, org: home.hospital, clinician: home.hospital.clinicians.find((c) => c.role === 'hospitalist')!, drg, chronic: active });
      }
      if (age >= 45 && age <= 75 && a - lastColonoscopy > 3650 && rng.chance(0.1 * frac)) {
        lastColonoscopy = a;
        add({ ...base, kind: 'screening', day: day(), org: home.hospital, clinician: home.hospital.clinicians.find((c) => c.role === 'hospitalist')!, screening: 'colonoscopy' });
      }
      if (femaleAdult && age >= 40 && age <= 74 && rng.chance(0.5 * frac)) {
        add({ ...base, kind: 'screening', day: day(), org: home.hospital, clinician: home.hospital.clinicians.find((c) => c.role === 'hospitalist')!, screening: 'mammography' });
      }
      if (hh.dental && age >= 2) {
        for (let i = rng.poisson(0.9 * frac); i > 0; i--) add({ ...base, kind: 'dental', day: day(), org: home.dental, clinician: rng.pick(home.dental.clinicians) });
      }
    }
  }
  visits.sort((x, y) => x.day - y.day || x.minute - y.minute);
  return visits;
}
