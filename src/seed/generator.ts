/**
 * The population, as a stream: the provider directory first, then household after household
 * (each member's demographics, coverage, clinical history, claims, prior authorizations and
 * consents, in that order, then the record's sensitive-data security labels), then the Groups.
 * Nothing but the current household and the Groups' id lists is held in memory, and the
 * output is a pure function of the seed and the member count: the same arguments give the
 * same resources, ids included, byte for byte (`meta.lastUpdated` is the server's to add).
 */
import type { Resource } from '../fhir/validation.js';
import { clinicalNote, allergies, careTeamAndPlan } from './care.js';
import { encounterClaim, pharmacyClaim } from './claims.js';
import { memberConsents } from './consents.js';
import { type MemberContext, drawPhysiology } from './context.js';
import { coverageResource, householdSpans, personSpans, type CoveredSpan } from './coverage.js';
import { AS_OF } from './dates.js';
import { buildDirectory, type Directory } from './directory.js';
import { buildEncounter, problemCondition, type EncounterRecord } from './encounters.js';
import { GroupCollector } from './groups.js';
import { chooseCareHome, planVisits } from './history.js';
import { acuteCourse, chronicTherapy, type Fill } from './medications.js';
import { assignIndex, buildHousehold, patientResource, relatedPersonResource, type Household, type Person } from './members.js';
import { priorAuthorizations } from './prior-auth.js';
import { Rng } from './prng.js';
import { labelSensitive } from './sensitivity.js';

export interface SeedOptions {
  /** Any string; the same seed and member count always give the same population. */
  seed: string;
  /** Covered persons (Patients) to generate. */
  members: number;
}

/** Everything about one member: demographics, coverage, history, claims. */
function memberResources(dir: Directory, hh: Household, p: Person, spans: CoveredSpan[], groups: GroupCollector): Resource[] {
  const rng = p.rng.fork('record');
  const home = chooseCareHome(dir, p.rng.fork('home'), p, spans[0]);
  const ctx: MemberContext = {
    dir, hh, p, spans, home, rng, out: [], counters: new Map(), problems: new Map(), physio: drawPhysiology(p.rng.fork('physiology'), p),
    accumulators: new Map(), visitsByOrg: new Map(), vaccinesGiven: new Set(), fluSeasons: new Set(), lastHeight: -Infinity,
  };
  ctx.out.push(patientResource(dir, hh, p, spans[spans.length - 1].plan.prefix));
  if (p.relationship !== 'self') ctx.out.push(relatedPersonResource(hh, p));
  for (const s of spans) ctx.out.push(coverageResource(dir, hh, p, s));

  const records: EncounterRecord[] = [];
  const fills: Fill[] = [];
  for (const v of planVisits(dir, hh, p, spans, home)) {
    const rec = buildEncounter(ctx, v);
    records.push(rec);
    clinicalNote(ctx, rec);
    if (v.acute) {
      const fill = acuteCourse(ctx, rec, rec.diagnosisId);
      if (fill) fills.push(fill);
    }
  }
  // Problems no visit ever addressed are still on the member's problem list (from a health
  // risk assessment or a prior plan's records), recorded when coverage began.
  for (const c of p.chronic) {
    if (!ctx.problems.has(c.def.key)) ctx.out.push(problemCondition(ctx, c, Math.min(AS_OF, Math.max(c.onset, spans[0].start)), undefined));
  }
  fills.push(...chronicTherapy(ctx, records));
  allergies(ctx, records);
  careTeamAndPlan(ctx, records);

  // Claims are adjudicated in date order, so deductibles fill up the way they do in a plan year.
  const billables: { day: number; rec?: EncounterRecord; fill?: Fill }[] = [
    ...records.map((rec) => ({ day: rec.visit.end, rec })),
    ...fills.map((fill) => ({ day: fill.day, fill })),
  ];
  billables.sort((a, b) => a.day - b.day);
  for (const b of billables) ctx.out.push(b.rec ? encounterClaim(ctx, b.rec) : pharmacyClaim(ctx, b.fill!));
  priorAuthorizations(ctx, records);
  const { optedOut } = memberConsents(ctx);
  labelSensitive(ctx.out);
  groups.add(ctx, optedOut);
  return ctx.out;
}

/** Generates the population resource by resource (a synchronous iterator; memory stays flat). */
export function* generatePopulation(options: SeedOptions): Generator<Resource> {
  const { seed, members } = options;
  if (!Number.isInteger(members) || members < 1) throw new Error('members must be a positive integer');
  const dir = buildDirectory(seed, members);
  yield* dir.resources;
  const root = new Rng(seed, 'population');
  const groups = new GroupCollector(dir);
  let next = 0;
  for (let h = 0; next < members; h++) {
    const hh = buildHousehold(dir, root, h);
    const spans = householdSpans(hh);
    const covered: [Person, CoveredSpan[]][] = [];
    for (const p of hh.persons) {
      if (next + covered.length >= members) break;
      const ps = personSpans(hh, p, spans);
      // A relative who was never covered during the household's enrolment is not a member.
      if (ps.length) covered.push([p, ps]);
    }
    for (const [p, ps] of covered) {
      assignIndex(p, next++);
      for (const s of ps) s.coverageId = `cov-${p.id.slice(3)}-${ps.indexOf(s) + 1}`;
    }
    for (const [p, ps] of covered) yield* memberResources(dir, hh, p, ps, groups);
  }
  yield* groups.resources();
}

/** Resource counts per type for a population, without keeping it. */
export function countPopulation(options: SeedOptions): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of generatePopulation(options)) counts.set(r.resourceType, (counts.get(r.resourceType) ?? 0) + 1);
  return counts;
}
