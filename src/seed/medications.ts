/**
 * Prescriptions and fills. A chronic problem's maintenance drugs start at the visit where the
 * problem was first recorded and are renewed yearly (one MedicationRequest a year, refills
 * allowed); the member fills them every 30 or 90 days with the odd late refill, only while
 * covered. Sick and emergency visits may end with a short antibiotic or analgesic course.
 * Every fill is a MedicationDispense and, in claims.ts, a pharmacy ExplanationOfBenefit.
 */
import type { Resource } from '../fhir/validation.js';
import { MEDICATIONS, type MedicationDef } from './codes.js';
import { type MemberContext, nextId, patientRef } from './context.js';
import { spanOn, type CoveredSpan } from './coverage.js';
import { AS_OF, isoDate, isoDateTime } from './dates.js';
import type { Clinician } from './directory.js';
import type { EncounterRecord } from './encounters.js';
import { PROFILE, SYS, concept, ref } from './vocabulary.js';

export interface Fill {
  dispenseId: string;
  requestId: string;
  med: MedicationDef;
  day: number;
  daysSupply: number;
  quantity: number;
  refill: number;
  prescriber: Clinician;
  span: CoveredSpan;
}

function medConcept(m: MedicationDef) {
  return concept(SYS.rxnorm, m.rxnorm, m.display);
}

function request(ctx: MemberContext, m: MedicationDef, day: number, prescriber: Clinician, encounterId: string | undefined, days: number, repeats: number, end: number, reason?: string): string {
  const id = nextId(ctx, 'medrx');
  const r: Resource = {
    resourceType: 'MedicationRequest',
    id,
    meta: { profile: [...PROFILE.medicationRequest] },
    status: end < AS_OF ? 'completed' : 'active',
    intent: 'order',
    category: [concept(SYS.medRequestCategory, 'community', 'Community')],
    reportedBoolean: false,
    medicationCodeableConcept: medConcept(m),
    subject: patientRef(ctx),
    authoredOn: isoDate(day),
    requester: ref('Practitioner', prescriber.id, prescriber.display),
    dosageInstruction: [{ text: m.sig }],
    dispenseRequest: {
      validityPeriod: { start: isoDate(day), end: isoDate(end) },
      numberOfRepeatsAllowed: repeats,
      quantity: { value: Math.ceil((m.unitsPer30 * days) / 30), unit: m.unit },
      expectedSupplyDuration: { value: days, unit: 'days', system: SYS.ucum, code: 'd' },
    },
  };
  if (encounterId) r.encounter = ref('Encounter', encounterId);
  if (reason) r.reasonReference = [ref('Condition', reason)];
  ctx.out.push(r);
  return id;
}

function dispense(ctx: MemberContext, fill: Omit<Fill, 'dispenseId'>): Fill {
  const id = nextId(ctx, 'meddisp');
  const pharmacy = ctx.home.pharmacy;
  const prepared = 9 * 60 + (fill.refill % 7) * 37;
  ctx.out.push({
    resourceType: 'MedicationDispense',
    id,
    meta: { profile: [...PROFILE.medicationDispense] },
    status: 'completed',
    medicationCodeableConcept: medConcept(fill.med),
    subject: patientRef(ctx),
    performer: [{ actor: ref('Organization', pharmacy.id, pharmacy.name) }],
    location: ref('Location', pharmacy.locationId, pharmacy.name),
    authorizingPrescription: [ref('MedicationRequest', fill.requestId)],
    type: fill.refill === 0 ? concept(SYS.actCode, 'FF', 'First Fill') : concept(SYS.actCode, 'RF', 'Refill'),
    quantity: { value: fill.quantity, unit: fill.med.unit },
    daysSupply: { value: fill.daysSupply, unit: 'days', system: SYS.ucum, code: 'd' },
    whenPrepared: isoDateTime(fill.day, prepared),
    // Handed over after it was prepared (R4 mdd-1), from half an hour to a few hours later.
    whenHandedOver: isoDateTime(fill.day, prepared + 30 + (fill.refill % 5) * 41),
    dosageInstruction: [{ text: fill.med.sig }],
  });
  return { ...fill, dispenseId: id };
}

/** Last day a prescription can run: death, the as-of day. */
function lastDay(ctx: MemberContext): number {
  return ctx.p.death !== undefined ? ctx.p.death - 1 : AS_OF;
}

/** Maintenance therapy for each treated chronic problem, from the visit that recorded it. */
export function chronicTherapy(ctx: MemberContext, records: EncounterRecord[]): Fill[] {
  const fills: Fill[] = [];
  const stop = lastDay(ctx);
  for (const c of ctx.p.chronic) {
    if (!c.def.meds.length || !ctx.rng.chance(0.8)) continue;
    const first = records.find((r) => r.visit.day >= c.onset && (r.visit.kind === 'followup' || r.visit.kind === 'wellness' || r.visit.kind === 'specialist'));
    if (!first) continue;
    const meds = c.def.meds.length > 1 && ctx.rng.chance(0.3) ? c.def.meds : [c.def.meds[0]];
    for (const key of meds) {
      const m = MEDICATIONS[key];
      // Rescue inhalers are filled when they run out, not on a schedule.
      const prn = key === 'albuterol' && c.def.key === 'asthma';
      const days = prn ? 30 : ctx.rng.chance(0.9) ? 90 : 30;
      let prescriber = first.visit.clinician;
      for (let start = first.visit.day, year = 0; start <= stop; start += 365, year++) {
        const end = Math.min(start + 364, stop);
        const repeats = prn ? 2 : Math.ceil(365 / days) - 1;
        const requestId = request(ctx, m, start, prescriber, year === 0 ? first.encounterId : undefined, days, repeats, end, ctx.problems.get(c.def.key));
        let day = start + (year === 0 ? 0 : ctx.rng.int(0, 3));
        for (let refill = 0; refill <= repeats && day <= end; refill++) {
          const span = spanOn(ctx.spans, day);
          if (span) fills.push(dispense(ctx, { requestId, med: m, day, daysSupply: days, quantity: Math.ceil((m.unitsPer30 * days) / 30), refill, prescriber, span }));
          day += prn ? ctx.rng.int(90, 200) : days + (ctx.rng.chance(0.25) ? ctx.rng.int(1, 20) : 0);
        }
        prescriber = ctx.home.pcp;
      }
    }
  }
  return fills;
}

/** A short course after a sick or emergency visit, filled the same or next day. */
export function acuteCourse(ctx: MemberContext, rec: EncounterRecord, reason: string | undefined): Fill | undefined {
  const key = rec.visit.acute?.med;
  if (!key || !ctx.rng.chance(0.8)) return undefined;
  const m = MEDICATIONS[key];
  const days = key === 'ibuprofen' ? 10 : key === 'amoxicillin' ? 10 : 5;
  const requestId = request(ctx, m, rec.visit.end, rec.visit.clinician, rec.encounterId, days, 0, rec.visit.end + days, reason);
  const day = rec.visit.end + ctx.rng.int(0, 1);
  const span = spanOn(ctx.spans, day);
  if (!span || day > lastDay(ctx)) return undefined;
  return dispense(ctx, { requestId, med: m, day, daysSupply: days, quantity: Math.ceil((m.unitsPer30 * days) / 30), refill: 0, prescriber: rec.visit.clinician, span });
}
