/**
 * How the plan pays a line: the allowed amount (a discount off billed charges in network, a
 * smaller one out of network), then member cost-sharing in the order plans apply it — copay
 * for visit types that have one, else the deductible until met for the plan year, then
 * coinsurance — capped by the out-of-pocket maximum. Preventive care is free in network.
 * HMO and Medicare Advantage members are not covered out of network except in an emergency.
 */
import type { MemberContext } from './context.js';
import { yearOf } from './dates.js';
import type { Plan } from './plans.js';

export type CostCategory = 'preventive' | 'pcp' | 'specialist' | 'er' | 'inpatient' | 'ancillary' | 'dental-preventive' | 'dental-basic' | 'rx-generic' | 'rx-brand';

export interface LineAdjudication {
  submitted: number;
  allowed: number;
  deductible: number;
  copay: number;
  coinsurance: number;
  noncovered: number;
  memberLiability: number;
  paid: number;
  inNetwork: boolean;
  /** CARC code when the line was denied. */
  denial?: readonly [string, string];
}

const cents = (n: number) => Math.round(n * 100) / 100;

export const DENIALS = {
  outOfNetwork: ['242', 'Services not provided by network/primary care providers.'],
  notNecessary: ['50', 'These are non-covered services because this is not deemed a medical necessity by the payer.'],
  missingInfo: ['16', 'Claim/service lacks information or has submission/billing error(s).'],
} as const;

/**
 * Adjudicates one line. `copayDue` is true for the first line of a visit whose category
 * carries a copay (a copay is charged once per visit, not per line).
 */
export function adjudicateLine(ctx: MemberContext, plan: Plan, day: number, charge: number, allowedBase: number, category: CostCategory, inNetwork: boolean, copayDue: boolean, denied?: readonly [string, string]): LineAdjudication {
  const submitted = cents(charge);
  const emergency = category === 'er';
  const closed = plan.kind === 'hmo' || plan.kind === 'medicare';
  const out: LineAdjudication = { submitted, allowed: 0, deductible: 0, copay: 0, coinsurance: 0, noncovered: 0, memberLiability: 0, paid: 0, inNetwork };
  const deny = denied ?? (!inNetwork && closed && !emergency ? DENIALS.outOfNetwork : undefined);
  if (deny) {
    out.noncovered = submitted;
    out.memberLiability = inNetwork ? 0 : submitted;
    out.denial = deny;
    return out;
  }
  const allowed = cents(inNetwork || emergency ? allowedBase : Math.min(submitted, allowedBase * 1.25));
  out.allowed = allowed;
  if (!inNetwork && !emergency) out.noncovered = cents(submitted - allowed);
  const key = `${plan.id}:${yearOf(day)}`;
  let acc = ctx.accumulators.get(key);
  if (!acc) ctx.accumulators.set(key, (acc = { deductible: 0, oop: 0 }));
  const free = (category === 'preventive' || category === 'dental-preventive') && inNetwork;
  if (!free) {
    const rx = category === 'rx-generic' || category === 'rx-brand';
    const copayAmount =
      category === 'pcp' ? plan.copay.pcp : category === 'specialist' ? plan.copay.specialist : category === 'er' ? plan.copay.er : category === 'inpatient' ? plan.copay.inpatient : category === 'rx-generic' ? plan.rx.generic : category === 'rx-brand' ? plan.rx.brand : 0;
    if (copayDue && copayAmount > 0 && plan.copaysBypassDeductible) {
      out.copay = Math.min(copayAmount, allowed);
    } else if (!(rx && plan.copaysBypassDeductible) && category !== 'dental-basic') {
      out.deductible = cents(Math.min(Math.max(0, plan.deductible - acc.deductible), allowed));
      const rate = inNetwork || emergency ? plan.coinsurance : plan.oonCoinsurance;
      out.coinsurance = cents((allowed - out.deductible) * rate);
    } else if (category === 'dental-basic') {
      out.coinsurance = cents(allowed * 0.2);
    }
  }
  let liability = out.copay + out.deductible + out.coinsurance;
  const room = Math.max(0, plan.oopMax - acc.oop);
  if (liability > room) {
    // Past the out-of-pocket maximum the plan pays everything: trim coinsurance first.
    const over = liability - room;
    const trim = Math.min(out.coinsurance, over);
    out.coinsurance = cents(out.coinsurance - trim);
    out.deductible = cents(Math.max(0, out.deductible - (over - trim)));
    liability = out.copay + out.deductible + out.coinsurance;
  }
  acc.deductible = cents(acc.deductible + out.deductible);
  acc.oop = cents(acc.oop + liability);
  out.memberLiability = cents(liability + out.noncovered);
  out.paid = cents(allowed - liability);
  return out;
}

export function sumAdjudications(lines: LineAdjudication[]): LineAdjudication {
  const t: LineAdjudication = { submitted: 0, allowed: 0, deductible: 0, copay: 0, coinsurance: 0, noncovered: 0, memberLiability: 0, paid: 0, inNetwork: lines.every((l) => l.inNetwork) };
  for (const l of lines) {
    t.submitted = cents(t.submitted + l.submitted);
    t.allowed = cents(t.allowed + l.allowed);
    t.deductible = cents(t.deductible + l.deductible);
    t.copay = cents(t.copay + l.copay);
    t.coinsurance = cents(t.coinsurance + l.coinsurance);
    t.noncovered = cents(t.noncovered + l.noncovered);
    t.memberLiability = cents(t.memberLiability + l.memberLiability);
    t.paid = cents(t.paid + l.paid);
  }
  return t;
}
