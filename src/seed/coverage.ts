/**
 * Enrolment. A household holds a sequence of plan spans: most began before the history
 * window, others join during it; at a plan-year boundary a household renews, switches plan,
 * lapses for a few months, or leaves. Subscribers move to Medicare Advantage at 65. Each
 * person is covered for the household's spans while eligible (born, under 26 for children,
 * alive), and each covered span is one US Core / C4BB Coverage.
 */
import type { Resource } from '../fhir/validation.js';
import { AS_OF, HISTORY_START, addMonths, ageOn, isoDate, nextMonthStart, startOfYear, yearOf } from './dates.js';
import type { Directory } from './directory.js';
import { memberNumber, pad, subscriberNumber } from './identifiers.js';
import type { Household, Person } from './members.js';
import { NETWORKS, PLANS, type Plan } from './plans.js';
import type { Rng } from './prng.js';
import { PROFILE, SYS, concept, coding, ref } from './vocabulary.js';

export interface Span {
  plan: Plan;
  start: number;
  /** Inclusive last covered day; undefined while still enrolled on the as-of day. */
  end?: number;
}

export interface CoveredSpan extends Span {
  /** Assigned with the person's id, once it is known the person is a member. */
  coverageId: string;
}

function commercialPlan(rng: Rng): Plan {
  return rng.weighted([[PLANS[0], 35], [PLANS[1], 45], [PLANS[2], 20]]);
}

function planFor(rng: Rng, subscriber: Person, day: number, current?: Plan): Plan {
  const age = ageOn(subscriber.birth, day);
  if (age >= 65 && rng.chance(0.9)) return PLANS[3];
  if (current && current.kind !== 'medicare') {
    const others = PLANS.filter((p) => p.kind !== 'medicare' && p !== current);
    return rng.pick(others);
  }
  return commercialPlan(rng);
}

/** The household's enrolment spans within [start of history − 8 years, as-of day]. */
export function householdSpans(hh: Household): Span[] {
  const rng = hh.rng.fork('enrolment');
  const subscriber = hh.persons[0];
  const spans: Span[] = [];
  let start = rng.chance(0.55)
    ? startOfYear(rng.int(2008, 2015))
    : nextMonthStart(rng.int(HISTORY_START, AS_OF - 90));
  start = Math.max(start, nextMonthStart(subscriber.birth + Math.floor(18.5 * 365.25)));
  let plan = planFor(rng, subscriber, start);
  const stop = Math.min(AS_OF, subscriber.death ?? AS_OF);
  while (start <= stop) {
    // Spans run to a plan-year end; turning 65 ends a commercial span at the birthday month.
    let end = startOfYear(yearOf(start) + rng.int(1, 5)) - 1;
    const sixtyFive = addMonths(subscriber.birth, 65 * 12);
    if (plan.kind !== 'medicare' && sixtyFive > start && sixtyFive <= end) end = nextMonthStart(sixtyFive) - 1;
    if (end >= stop) {
      spans.push({ plan, start, end: stop < AS_OF ? stop : undefined });
      break;
    }
    spans.push({ plan, start, end });
    const turning65 = end + 1 > sixtyFive && plan.kind !== 'medicare';
    const r = rng.next();
    if (turning65 || r < 0.76) {
      start = end + 1;
      plan = turning65 ? planFor(rng, subscriber, start) : rng.chance(0.7) ? plan : planFor(rng, subscriber, start, plan);
    } else if (r < 0.86) {
      // A lapse: the household is uninsured for one to eight months, then re-enrols.
      start = nextMonthStart(addMonths(end + 1, rng.int(1, 8)) - 1);
      plan = planFor(rng, subscriber, start);
    } else {
      break;
    }
  }
  return spans;
}

/** First and last day a household member may be covered. */
function eligibility(p: Person): [number, number] {
  const from = p.birth;
  const to = Math.min(p.death ?? AS_OF, p.relationship === 'child' ? addMonths(p.birth, 26 * 12) - 1 : AS_OF);
  return [from, to];
}

/** A person's spans: the household's, clipped to the person's eligibility. */
export function personSpans(hh: Household, p: Person, spans: Span[]): CoveredSpan[] {
  const [from, to] = eligibility(p);
  const out: CoveredSpan[] = [];
  for (const s of spans) {
    const start = Math.max(s.start, from);
    const end = Math.min(s.end ?? AS_OF, to);
    if (start > end) continue;
    out.push({ plan: s.plan, start, end: end >= AS_OF && s.end === undefined ? undefined : end, coverageId: '' });
  }
  return out;
}

const RELATIONSHIP_DISPLAY = { self: 'Self', spouse: 'Spouse', child: 'Child' } as const;

export function coverageResource(dir: Directory, hh: Household, p: Person, s: CoveredSpan): Resource {
  const subscriber = hh.persons[0];
  const medicare = s.plan.kind === 'medicare';
  const period: Record<string, string> = { start: isoDate(s.start) };
  if (s.end !== undefined) period.end = isoDate(s.end);
  return {
    resourceType: 'Coverage',
    id: s.coverageId,
    meta: { profile: [...PROFILE.coverage] },
    identifier: [{ type: concept(SYS.v2_0203, 'MB', 'Member Number'), system: dir.systems.member, value: memberNumber(s.plan.prefix, hh.index, p.position) }],
    status: s.end === undefined ? 'active' : 'cancelled',
    type: { coding: [coding(SYS.sopt, s.plan.sopt[0], s.plan.sopt[1]), coding(SYS.actCode, s.plan.actCode[0], s.plan.actCode[1])], text: s.plan.name },
    policyHolder: p.relationship === 'self' ? ref('Patient', p.id) : ref('RelatedPerson', `rp-${pad(p.index + 1)}`),
    subscriber: ref('Patient', subscriber.id),
    subscriberId: subscriberNumber(s.plan.prefix, hh.index),
    beneficiary: ref('Patient', p.id),
    dependent: pad(p.position + 1, 2),
    relationship: concept(SYS.subscriberRelationship, p.relationship, RELATIONSHIP_DISPLAY[p.relationship]),
    period,
    payor: [ref('Organization', dir.payer.id, dir.payer.name)],
    class: [
      {
        type: concept(SYS.coverageClass, 'group', 'Group'),
        value: medicare ? 'MAINDIV' : hh.employer.code,
        name: medicare ? 'Medicare Advantage Individual' : hh.employer.name,
      },
      { type: concept(SYS.coverageClass, 'plan', 'Plan'), value: s.plan.code, name: s.plan.name },
    ],
    network: NETWORKS[s.plan.network].name,
  };
}

/** The span covering `day`, if any. */
export function spanOn(spans: CoveredSpan[], day: number): CoveredSpan | undefined {
  for (const s of spans) if (day >= s.start && day <= (s.end ?? AS_OF)) return s;
  return undefined;
}
