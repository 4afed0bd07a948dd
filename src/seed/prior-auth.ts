/**
 * Prior authorizations as Da Vinci PDex 2.1.0 `pdex-priorauthorization` ExplanationOfBenefits
 * (`use` = preauthorization): the services a plan reviews before they happen — lumbar MRI after
 * a back-pain visit, physical therapy after a sprain or fracture, nuclear stress imaging for
 * heart disease, a home oxygen concentrator for COPD, a continuous glucose monitor for diabetes,
 * home health after an admission, intensive outpatient treatment for substance use disorder.
 *
 * Each is decided a few days after the request: about 80% approved (X12 306 `A1`), 14% denied
 * (`A3`, with a CARC reason; a third of those approved on appeal weeks later), the rest approved
 * then cancelled by the provider (`status` cancelled, `C`); requests still undecided on the
 * as-of day are pending (`A4`, `outcome` queued). The decision sits on the line's adjudication
 * (PDex reviewAction + the when-adjudicated date, the last status change), with the approved
 * period and units; the request's service dates are `billablePeriod` and `item.serviced[x]`.
 */
import type { Resource } from '../fhir/validation.js';
import { DENIALS } from './adjudication.js';
import type { ChronicKey } from './conditions.js';
import { type MemberContext, nextId, patientRef } from './context.js';
import { spanOn } from './coverage.js';
import { AS_OF, isoDate, isoDateTime, yearOf } from './dates.js';
import type { EncounterRecord } from './encounters.js';
import { pad } from './identifiers.js';
import { PDEX_EXT, PROFILE, SYS, concept, money, ref, type Json } from './vocabulary.js';

interface ServiceDef {
  system: string;
  code: string;
  display: string;
  /** X12 service type code of the request. */
  category: readonly [string, string];
  institutional: boolean;
  /** Billed estimate per unit, units requested, days the authorization covers (0: one date). */
  charge: number;
  units: number;
  days: number;
}

const SERVICES = {
  mri: { system: SYS.cpt, code: '72148', display: 'Magnetic resonance (eg, proton) imaging, spinal canal and contents, lumbar; without contrast material', category: ['62', 'MRI/CAT Scan'], institutional: false, charge: 1600, units: 1, days: 0 },
  therapy: { system: SYS.cpt, code: '97110', display: 'Therapeutic procedure, 1 or more areas, each 15 minutes; therapeutic exercises to develop strength and endurance, range of motion and flexibility', category: ['PT', 'Physical Therapy'], institutional: false, charge: 110, units: 12, days: 56 },
  spect: { system: SYS.cpt, code: '78452', display: 'Myocardial perfusion imaging, tomographic (SPECT); multiple studies, at rest and/or stress', category: ['73', 'Diagnostic Medical'], institutional: false, charge: 2100, units: 1, days: 0 },
  oxygen: { system: SYS.hcpcs, code: 'E1390', display: 'Oxygen concentrator, single delivery port, capable of delivering 85 percent or greater oxygen concentration at the prescribed flow rate', category: ['18', 'Durable Medical Equipment Rental'], institutional: false, charge: 190, units: 12, days: 365 },
  cgm: { system: SYS.hcpcs, code: 'E2103', display: 'Non-adjunctive, non-implanted continuous glucose monitor or receiver', category: ['12', 'Durable Medical Equipment Purchase'], institutional: false, charge: 350, units: 1, days: 0 },
  homeHealth: { system: SYS.hcpcs, code: 'G0299', display: 'Direct skilled nursing services of a registered nurse (RN) in the home health or hospice setting, each 15 minutes', category: ['42', 'Home Health Care'], institutional: true, charge: 45, units: 16, days: 30 },
  intensiveOutpatient: { system: SYS.hcpcs, code: 'H0015', display: 'Alcohol and/or drug services; intensive outpatient (treatment program that operates at least 3 hours/day and at least 3 days/week)', category: ['AI', 'Substance Abuse'], institutional: true, charge: 350, units: 24, days: 56 },
} as const satisfies Record<string, ServiceDef>;

type ServiceKey = keyof typeof SERVICES;

const REVIEW = {
  approved: ['A1', 'Certified in total'],
  denied: ['A3', 'Not Certified'],
  pending: ['A4', 'Pending'],
  cancelled: ['C', 'Cancelled'],
} as const;

interface Request {
  service: ServiceKey;
  rec: EncounterRecord;
  /** First requested day of service. */
  start: number;
  diagnosis: readonly [string, string];
}

/** What a visit leads the provider to request, if anything. */
function requestsFor(ctx: MemberContext, rec: EncounterRecord): Request[] {
  const v = rec.visit;
  const out: Request[] = [];
  const has = (k: ChronicKey) => v.chronic.find((c) => c.def.key === k);
  const ask = (service: ServiceKey, p: number, start: number, diagnosis: readonly [string, string] | undefined) => {
    if (diagnosis && ctx.rng.chance(p)) out.push({ service, rec, start, diagnosis });
  };
  if (v.kind === 'inpatient') ask('homeHealth', 0.3, v.end + 1, v.drg?.icd10);
  if (v.kind === 'acute' && v.acute?.key === 'backpain') ask('mri', 0.35, v.day + ctx.rng.int(5, 20), v.acute.icd10);
  if ((v.kind === 'acute' || v.kind === 'er') && (v.acute?.key === 'sprain' || v.acute?.key === 'fracture')) ask('therapy', 0.3, v.day + ctx.rng.int(3, 14), v.acute.icd10);
  if (v.kind === 'specialist' && v.specialty === 'cardiology') ask('spect', 0.2, v.day + ctx.rng.int(7, 21), (has('cad') ?? has('heartFailure'))?.def.icd10);
  if (v.kind === 'specialist' && v.specialty === 'pulmonology') ask('oxygen', 0.2, v.day + ctx.rng.int(2, 10), has('copd')?.def.icd10);
  if (v.kind === 'followup') ask('cgm', 0.05, v.day + ctx.rng.int(3, 14), has('diabetes')?.def.icd10);
  if (v.kind === 'specialist' && v.specialty === 'behavioral') ask('intensiveOutpatient', 0.3, v.day + ctx.rng.int(3, 10), (has('opioidUse') ?? has('alcoholUse'))?.def.icd10);
  return out;
}

function reviewExtensions(decision: keyof typeof REVIEW, number: string, day: number | undefined): Json[] {
  const ext: Json[] = [{
    url: PDEX_EXT.reviewAction,
    extension: [
      { url: PDEX_EXT.reviewActionCode, valueCodeableConcept: concept(SYS.x12ReviewAction, REVIEW[decision][0], REVIEW[decision][1]) },
      { url: 'number', valueString: number },
    ],
  }];
  if (day !== undefined) ext.push({ url: PDEX_EXT.whenAdjudicated, valueDateTime: isoDateTime(day, 14 * 60) });
  return ext;
}

function priorAuthorization(ctx: MemberContext, req: Request): Resource | undefined {
  const def: ServiceDef = SERVICES[req.service];
  const v = req.rec.visit;
  const created = Math.min(v.end + ctx.rng.int(0, 2), req.start);
  const end = req.start + Math.max(0, def.days - 1);
  const span = spanOn(ctx.spans, req.start);
  // No request for a day the member is not covered, not alive, or after the as-of day.
  if (created > AS_OF || !span || (ctx.p.death !== undefined && end >= ctx.p.death)) return undefined;
  const id = nextId(ctx, 'priorauth');
  const number = `PA${isoDate(created).replace(/-/g, '')}${pad(ctx.p.index + 1)}${id.split('-').pop()}`;
  // Decisions: most within a week; a quarter wait for clinical documentation from the provider
  // first. What is still open on the as-of day is pending.
  let decided: number | undefined = created + (ctx.rng.chance(0.75) ? ctx.rng.int(1, 7) : ctx.rng.int(10, 45));
  let decision: keyof typeof REVIEW;
  const notes: string[] = [];
  if (decided > AS_OF) {
    decided = undefined;
    decision = 'pending';
  } else {
    const r = ctx.rng.next();
    decision = r < 0.8 ? 'approved' : r < 0.94 ? 'denied' : 'cancelled';
    if (decision === 'denied' && ctx.rng.chance(0.35)) {
      const appeal = decided + ctx.rng.int(15, 45);
      if (appeal <= AS_OF) {
        notes.push(`Approved on appeal; the initial determination of ${isoDate(decided)} denied the request as not medically necessary.`);
        decided = appeal;
        decision = 'approved';
      }
    }
  }
  const approvedOn = decided;
  let actionDay = decided;
  if (decision === 'cancelled') {
    actionDay = Math.min(AS_OF, decided! + ctx.rng.int(3, 40));
    notes.push(`Approved ${isoDate(decided!)}; cancelled at the requesting provider's request on ${isoDate(actionDay)}.`);
  }
  const period = { start: isoDate(req.start), end: isoDate(def.days ? end : req.start + 60) };
  const item: Json = { sequence: 1, careTeamSequence: [1], diagnosisSequence: [1] };
  if (decision === 'approved' || decision === 'cancelled') {
    item.extension = [{ url: PDEX_EXT.itemPreAuthIssueDate, valueDate: isoDate(approvedOn!) }, { url: PDEX_EXT.itemPreAuthPeriod, valuePeriod: period }];
  }
  item.category = concept(SYS.x12ServiceType, def.category[0], def.category[1]);
  item.productOrService = concept(def.system, def.code, def.display);
  if (def.days) item.servicedPeriod = { start: isoDate(req.start), end: isoDate(end) };
  else item.servicedDate = isoDate(req.start);
  item.quantity = { value: def.units };
  const adjudication: Json[] = [{
    extension: reviewExtensions(decision, `${number}-1`, actionDay),
    category: concept(SYS.adjudication, 'submitted', 'Submitted Amount'),
    amount: money(def.charge * def.units),
  }];
  if (decision === 'denied') adjudication.push({ category: concept(SYS.pdexAdjudicationDiscriminator, 'denialreason', 'Denial Reason'), reason: concept(SYS.carc, DENIALS.notNecessary[0], DENIALS.notNecessary[1]) });
  if (decision === 'approved' || decision === 'cancelled') adjudication.push({ category: concept(SYS.pdexAdjudicationDiscriminator, 'allowedunits', 'allowed units'), value: def.units });
  item.adjudication = adjudication;
  const eob: Resource = {
    resourceType: 'ExplanationOfBenefit',
    id,
    meta: { profile: [...PROFILE.pdexPriorAuth] },
    identifier: [{ system: ctx.dir.systems.priorAuth, value: number }],
    status: decision === 'cancelled' ? 'cancelled' : 'active',
    type: concept(SYS.claimType, def.institutional ? 'institutional' : 'professional', def.institutional ? 'Institutional' : 'Professional'),
    use: 'preauthorization',
    patient: patientRef(ctx),
    billablePeriod: { start: isoDate(req.start), end: isoDate(end) },
    created: isoDateTime(created, 10 * 60),
    insurer: ref('Organization', ctx.dir.payer.id, ctx.dir.payer.name),
    provider: ref('Organization', v.org.id, v.org.name),
    priority: concept('http://terminology.hl7.org/CodeSystem/processpriority', 'normal', 'Normal'),
    outcome: decision === 'pending' ? 'queued' : 'complete',
  };
  if (decision === 'approved' || decision === 'cancelled') Object.assign(eob, { preAuthRef: [number], preAuthRefPeriod: [period] });
  Object.assign(eob, {
    careTeam: [{ sequence: 1, provider: ref('Practitioner', v.clinician.id, v.clinician.display), role: concept('http://terminology.hl7.org/CodeSystem/claimcareteamrole', 'primary', 'Primary provider') }],
    diagnosis: [{ sequence: 1, diagnosisCodeableConcept: concept(SYS.icd10cm, req.diagnosis[0], req.diagnosis[1]), type: [concept(SYS.diagnosisType, 'principal', 'Principal Diagnosis')] }],
    insurance: [{ focal: true, coverage: ref('Coverage', span.coverageId) }],
    item: [item],
  });
  if (notes.length) eob.processNote = notes.map((text, i) => ({ number: i + 1, type: 'display', text }));
  return eob;
}

/** The member's prior authorizations, into ctx.out (at most one per service a year). */
export function priorAuthorizations(ctx: MemberContext, records: EncounterRecord[]): void {
  const seen = new Set<string>();
  for (const rec of records) {
    for (const req of requestsFor(ctx, rec)) {
      const key = `${req.service}:${yearOf(req.start)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const eob = priorAuthorization(ctx, req);
      if (eob) ctx.out.push(eob);
    }
  }
}
