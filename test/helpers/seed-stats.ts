/**
 * Measures a generated population the way the README describes it (age and sex mix, chronic
 * prevalence by age band, household shape, coverage lapses, volume), from the resources alone.
 */
import type { Resource } from '../../src/fhir/validation.js';

export type Band = '0-17' | '18-44' | '45-64' | '65+';
export const BANDS: Band[] = ['0-17', '18-44', '45-64', '65+'];
const AS_OF = '2025-12-31';

function age(birth: string, on: string): number {
  let a = Number(on.slice(0, 4)) - Number(birth.slice(0, 4));
  if (on.slice(5) < birth.slice(5)) a--;
  return a;
}

export function band(a: number): Band {
  return a < 18 ? '0-17' : a < 45 ? '18-44' : a < 65 ? '45-64' : '65+';
}

export interface PopulationStats {
  members: number;
  resources: number;
  perType: Map<string, number>;
  female: number;
  bands: Record<Band, number>;
  /** Members per band with a problem-list Condition, by ICD-10 code. */
  prevalence: Record<Band, Map<string, number>>;
  subscribers: number;
  dependants: number;
  withLapse: number;
  eobTypes: Map<string, number>;
  attributed: number;
  currentMembers: number;
}

export function measure(resources: Iterable<Resource>): PopulationStats {
  const s: PopulationStats = {
    members: 0, resources: 0, perType: new Map(), female: 0, bands: { '0-17': 0, '18-44': 0, '45-64': 0, '65+': 0 },
    prevalence: { '0-17': new Map(), '18-44': new Map(), '45-64': new Map(), '65+': new Map() },
    subscribers: 0, dependants: 0, withLapse: 0, eobTypes: new Map(), attributed: 0, currentMembers: 0,
  };
  const bandOf = new Map<string, Band>();
  const periods = new Map<string, [string, string | undefined][]>();
  const seenProblem = new Set<string>();
  for (const r of resources as Iterable<any>) {
    s.resources++;
    s.perType.set(r.resourceType, (s.perType.get(r.resourceType) ?? 0) + 1);
    if (r.resourceType === 'Patient') {
      s.members++;
      if (r.gender === 'female') s.female++;
      const b = band(age(r.birthDate, (r.deceasedDateTime ?? AS_OF).slice(0, 10)));
      s.bands[b]++;
      bandOf.set(`Patient/${r.id}`, b);
    } else if (r.resourceType === 'Coverage') {
      const who = r.beneficiary.reference;
      if (r.relationship.coding[0].code === 'self' && !periods.has(who)) s.subscribers++;
      if (r.relationship.coding[0].code !== 'self' && !periods.has(who)) s.dependants++;
      const list = periods.get(who) ?? [];
      list.push([r.period.start, r.period.end]);
      periods.set(who, list);
    } else if (r.resourceType === 'Condition' && r.category[0].coding[0].code === 'problem-list-item') {
      const who = r.subject.reference;
      const code = r.code.coding.find((c: any) => c.system === 'http://hl7.org/fhir/sid/icd-10-cm').code;
      if (seenProblem.has(`${who}|${code}`)) continue;
      seenProblem.add(`${who}|${code}`);
      const m = s.prevalence[bandOf.get(who)!];
      m.set(code, (m.get(code) ?? 0) + 1);
    } else if (r.resourceType === 'ExplanationOfBenefit' && r.use === 'claim') {
      const t = r.subType ? `${r.type.coding[0].code}/${r.subType.coding[0].code}` : r.type.coding[0].code;
      s.eobTypes.set(t, (s.eobTypes.get(t) ?? 0) + 1);
    } else if (r.resourceType === 'Group' && r.id.startsWith('attribution-')) {
      // Members in force on the list (dropped ones stay, inactive, with an end date).
      s.attributed += (r.member ?? []).filter((m: any) => !m.inactive).length;
    }
  }
  for (const list of periods.values()) {
    if (list.some(([, end]) => end === undefined)) s.currentMembers++;
    for (let i = 1; i < list.length; i++) {
      const prevEnd = list[i - 1][1]!;
      const next = new Date(Date.parse(`${prevEnd}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      if (list[i][0] > next) {
        s.withLapse++;
        break;
      }
    }
  }
  return s;
}

/** Share of a band's members with a problem-list condition (ICD-10 code). */
export function prevalence(s: PopulationStats, b: Band, icd10: string): number {
  return (s.prevalence[b].get(icd10) ?? 0) / Math.max(1, s.bands[b]);
}
