/**
 * Claims as CARIN Blue Button ExplanationOfBenefits: every encounter is billed once —
 * office, specialist and sick visits as professional claims, emergency and screening visits as
 * outpatient institutional claims, admissions as inpatient institutional claims paid by DRG,
 * dental visits as oral claims — and every fill as a pharmacy claim. Line amounts come from
 * adjudication.ts; totals are the sums of the lines (the header for inpatient DRG payment).
 */
import type { Resource } from '../fhir/validation.js';
import { DENIALS, adjudicateLine, sumAdjudications, type CostCategory, type LineAdjudication } from './adjudication.js';
import { DRG_BASE_RATE } from './codes.js';
import { type MemberContext, nextId, patientRef } from './context.js';
import { AS_OF, isoDate, isoDateTime } from './dates.js';
import { inNetwork } from './directory.js';
import type { ClaimLine, EncounterRecord } from './encounters.js';
import type { Fill } from './medications.js';
import { PROFILE, SYS, concept, money, ref, type Json } from './vocabulary.js';

const AMOUNT_CATEGORIES: readonly (readonly [keyof LineAdjudication, string, string, string])[] = [
  ['submitted', SYS.adjudication, 'submitted', 'Submitted Amount'],
  ['allowed', SYS.adjudication, 'eligible', 'Eligible Amount'],
  ['deductible', SYS.adjudication, 'deductible', 'Deductible'],
  ['copay', SYS.adjudication, 'copay', 'CoPay'],
  ['coinsurance', SYS.c4bbAdjudication, 'coinsurance', 'Co-insurance'],
  ['noncovered', SYS.c4bbAdjudication, 'noncovered', 'Noncovered'],
  ['memberLiability', SYS.c4bbAdjudication, 'memberliability', 'Member liability'],
  ['paid', SYS.c4bbAdjudication, 'paidtoprovider', 'Paid to provider'],
];

/** Amount slices; cost-sharing slices that are zero are left out (absent means none). */
function amounts(a: LineAdjudication): Json[] {
  return AMOUNT_CATEGORIES.filter(([k]) => (a[k] as number) > 0 || k === 'submitted' || k === 'allowed' || k === 'paid' || k === 'memberLiability').map(([k, system, code, display]) => ({
    category: concept(system, code, display),
    amount: money(a[k] as number),
  }));
}

function status(slice: string, code: string, display: string): Json {
  return { category: concept(SYS.c4bbDiscriminator, slice), reason: concept(SYS.c4bbStatus, code, display) };
}

function networkStatus(slice: string, inNet: boolean): Json {
  return status(slice, inNet ? 'innetwork' : 'outofnetwork', inNet ? 'In Network' : 'Out Of Network');
}

function lineAdjudication(a: LineAdjudication, withStatus: boolean): Json[] {
  const out = amounts(a);
  if (withStatus) out.push(networkStatus('benefitpaymentstatus', a.inNetwork));
  if (a.denial) out.push({ category: concept(SYS.c4bbDiscriminator, 'adjustmentreason'), reason: concept(SYS.carc, a.denial[0], a.denial[1]) });
  return out;
}

function paymentType(t: LineAdjudication, lines: LineAdjudication[]): Json {
  const denied = lines.filter((l) => l.denial).length;
  const [code, display] = denied === lines.length ? ['denied', 'Denied'] : denied ? ['partiallypaid', 'Partially Paid'] : ['paid', 'Paid'];
  return { type: concept(SYS.c4bbStatus, code, display), date: '', amount: money(t.paid) };
}

interface Header {
  ctx: MemberContext;
  profile: readonly string[];
  type: readonly [string, string];
  subType?: readonly [string, string];
  start: number;
  end: number;
  providerId: string;
  providerName: string;
  coverageId: string;
}

/** The part every C4BB profile shares; returns the EOB and its adjudication ("created") day. */
function header(h: Header): { eob: Resource; created: number; received: number } {
  const { ctx } = h;
  const received = Math.min(AS_OF, h.end + ctx.rng.int(2, 10));
  const created = Math.min(AS_OF, received + ctx.rng.int(3, 25));
  const id = nextId(ctx, 'eob');
  const eob: Resource = {
    resourceType: 'ExplanationOfBenefit',
    id,
    meta: { profile: [...h.profile] },
    identifier: [{ type: concept(SYS.c4bbIdentifierType, 'uc', 'Unique Claim ID'), system: ctx.dir.systems.claim, value: `${isoDate(h.start).replace(/-/g, '')}${id.slice(4).replace('-', 'X')}` }],
    status: 'active',
    type: concept(SYS.claimType, h.type[0], h.type[1]),
  };
  if (h.subType) eob.subType = concept(SYS.c4bbSubType, h.subType[0], h.subType[1]);
  Object.assign(eob, {
    use: 'claim',
    patient: patientRef(ctx),
    billablePeriod: { start: isoDate(h.start), end: isoDate(h.end) },
    created: isoDateTime(created, 8 * 60),
    insurer: ref('Organization', ctx.dir.payer.id, ctx.dir.payer.name),
    provider: ref('Organization', h.providerId, h.providerName),
    payee: { type: concept(SYS.payeeType, 'provider', 'Provider'), party: ref('Organization', h.providerId, h.providerName) },
    outcome: 'complete',
  });
  return { eob, created, received };
}

function finish(eob: Resource, coverageId: string, extra: Json, totalOf: LineAdjudication, lines: LineAdjudication[], created: number): Resource {
  const payment = paymentType(totalOf, lines);
  payment.date = isoDate(created);
  return Object.assign(eob, extra, {
    insurance: [{ focal: true, coverage: ref('Coverage', coverageId) }],
    total: amounts(totalOf),
    payment,
  });
}

function diagnoses(rec: EncounterRecord, institutional: boolean): Json[] {
  return rec.diagnoses.map((d, i) => {
    const out: Json = {
      sequence: i + 1,
      diagnosisCodeableConcept: concept(SYS.icd10cm, d[0], d[1]),
      type: [i === 0 ? concept(SYS.diagnosisType, 'principal', 'Principal Diagnosis') : institutional ? concept(SYS.c4bbDiagnosisType, 'other', 'Other') : concept(SYS.c4bbDiagnosisType, 'secondary', 'Secondary')],
    };
    if (rec.visit.kind === 'inpatient') out.onAdmission = concept(SYS.presentOnAdmission, 'Y', 'Diagnosis was present at time of inpatient admission');
    return out;
  });
}

const VACCINE_LINE = /^(90471|90[67]\d\d|91300)$/;

function categoryOf(rec: EncounterRecord, line: ClaimLine, first: boolean): CostCategory {
  const k = rec.visit.kind;
  if (k === 'dental') return line.code === 'D2391' ? 'dental-basic' : 'dental-preventive';
  if (k === 'wellness' || k === 'screening' || VACCINE_LINE.test(line.code)) return 'preventive';
  if (k === 'er') return 'er';
  if (!first) return 'ancillary';
  return k === 'specialist' ? 'specialist' : 'pcp';
}

const ALLOWED_RATIO = 0.55;

/** The claim for one encounter. */
export function encounterClaim(ctx: MemberContext, rec: EncounterRecord): Resource {
  const v = rec.visit;
  const plan = v.span.plan;
  const inNet = inNetwork(v.org, plan);
  // About one claim in fifty is denied outright, whatever the network.
  const denied = ctx.rng.chance(0.02) ? (ctx.rng.chance(0.5) ? DENIALS.notNecessary : DENIALS.missingInfo) : undefined;
  const institutional = v.kind === 'er' || v.kind === 'inpatient' || v.kind === 'screening';
  const kind = v.kind === 'inpatient' ? 'inpatient' : institutional ? 'outpatient' : v.kind === 'dental' ? 'oral' : 'professional';
  const profile = { inpatient: PROFILE.eobInpatient, outpatient: PROFILE.eobOutpatient, oral: PROFILE.eobOral, professional: PROFILE.eobProfessional }[kind];
  const type = institutional ? (['institutional', 'Institutional'] as const) : kind === 'oral' ? (['oral', 'Oral'] as const) : (['professional', 'Professional'] as const);
  const subType = institutional ? (kind === 'inpatient' ? (['inpatient', 'Inpatient'] as const) : (['outpatient', 'Outpatient'] as const)) : undefined;
  const { eob, created, received } = header({ ctx, profile, type, subType, start: v.day, end: v.end, providerId: v.org.id, providerName: v.org.name, coverageId: v.span.coverageId });
  const clinician = v.clinician;
  const role = institutional ? ['attending', 'Attending'] : ['rendering', 'Rendering provider'];
  const careTeam: Json = { sequence: 1, provider: ref('Practitioner', clinician.id, clinician.display), role: concept(SYS.c4bbCareTeamRole, role[0], role[1]) };
  if (!institutional) careTeam.qualification = concept(SYS.nucc, clinician.taxonomy[0], clinician.taxonomy[1]);
  const supportingInfo: Json[] = [{ sequence: 1, category: concept(SYS.c4bbSupportingInfo, 'clmrecvddate', 'Claim Received Date'), timingDate: isoDate(received) }];
  let lineAdj: LineAdjudication[];
  let headerAdj: Json[];
  let totalOf: LineAdjudication;
  if (kind === 'inpatient') {
    // Paid per admission by DRG: amounts live on the header, lines carry charges only.
    const charge = rec.lines.reduce((s, l) => s + l.charge, 0);
    // Admissions here come through the emergency department, so even a closed plan covers
    // them out of network at the contracted rate; the network status slices still tell.
    // A DRG payment never exceeds what the hospital billed.
    const a = adjudicateLine(ctx, plan, v.day, charge, Math.min(v.drg!.weight * DRG_BASE_RATE, charge * 0.85), 'inpatient', true, true, denied);
    lineAdj = [a];
    totalOf = a;
    headerAdj = [networkStatus('benefitpaymentstatus', inNet), networkStatus('billingnetworkstatus', inNet), ...lineAdjudication(a, false)];
    supportingInfo.push(
      { sequence: 2, category: concept(SYS.c4bbSupportingInfo, 'admissionperiod', 'Admission Period'), timingPeriod: { start: isoDate(v.day), end: isoDate(v.end) } },
      { sequence: 3, category: concept(SYS.c4bbSupportingInfo, 'typeofbill', 'Type of Bill'), code: concept(SYS.typeOfBill, '0111', 'Hospital inpatient, admit through discharge claim') },
      { sequence: 4, category: concept(SYS.c4bbSupportingInfo, 'pointoforigin', 'Point Of Origin'), code: concept(SYS.pointOfOrigin, '1', 'Non-health care facility point of origin') },
      { sequence: 5, category: concept(SYS.c4bbSupportingInfo, 'admtype', 'Admission Type'), code: concept(SYS.admissionType, '1', 'Emergency') },
      { sequence: 6, category: concept(SYS.c4bbSupportingInfo, 'discharge-status', 'Discharge Status'), code: concept(SYS.patDischarge, '01', 'Discharged to home or self care (routine discharge)') },
      { sequence: 7, category: concept(SYS.c4bbSupportingInfo, 'drg', 'DRG'), code: concept(SYS.msDrg, v.drg!.drg, v.drg!.display) },
    );
  } else {
    let copayDue = true;
    lineAdj = rec.lines.map((l, i) => {
      const cat = categoryOf(rec, l, i === 0);
      const a = adjudicateLine(ctx, plan, l.day, l.charge, l.charge * (kind === 'oral' ? 0.7 : ALLOWED_RATIO), cat, inNet, copayDue, denied);
      if (cat !== 'preventive' && cat !== 'ancillary') copayDue = false;
      return a;
    });
    totalOf = sumAdjudications(lineAdj);
    if (institutional) {
      headerAdj = [networkStatus('benefitpaymentstatus', inNet), networkStatus('billingnetworkstatus', inNet)];
      supportingInfo.push(
        { sequence: 2, category: concept(SYS.c4bbSupportingInfo, 'typeofbill', 'Type of Bill'), code: concept(SYS.typeOfBill, '0131', 'Hospital outpatient, admit through discharge claim') },
        { sequence: 3, category: concept(SYS.c4bbSupportingInfo, 'discharge-status', 'Discharge Status'), code: concept(SYS.patDischarge, '01', 'Discharged to home or self care (routine discharge)') },
      );
    } else {
      headerAdj = [networkStatus('billingnetworkstatus', inNet), networkStatus('renderingnetworkstatus', inNet)];
    }
  }
  const items = rec.lines.map((l, i) => {
    const item: Json = { sequence: i + 1, careTeamSequence: [1] };
    if (kind !== 'oral') item.diagnosisSequence = rec.diagnoses.map((_, d) => d + 1).slice(0, 4);
    if (l.revenue) item.revenue = concept(SYS.revenue, l.revenue[0], l.revenue[1]);
    item.productOrService = concept(l.system, l.code, l.display);
    item.servicedDate = isoDate(l.day);
    if (!institutional) item.locationCodeableConcept = concept(SYS.placeOfService, '11', 'Office');
    item.quantity = { value: l.quantity ?? 1 };
    if (l.tooth) {
      item.bodySite = concept(SYS.tooth, l.tooth, `Tooth ${l.tooth}`);
      item.subSite = [concept(SYS.c4bbSurface, l.surface!)];
    }
    item.encounter = [ref('Encounter', rec.encounterId)];
    if (kind !== 'inpatient') item.adjudication = lineAdjudication(lineAdj[i], !institutional);
    return item;
  });
  const extra: Json = { careTeam: [careTeam], supportingInfo };
  if (rec.diagnoses.length) extra.diagnosis = diagnoses(rec, institutional);
  extra.item = items;
  extra.adjudication = headerAdj;
  return finish(eob, v.span.coverageId, extra, totalOf, lineAdj, created);
}

/** The pharmacy claim for one fill. */
export function pharmacyClaim(ctx: MemberContext, f: Fill): Resource {
  const pharmacy = ctx.home.pharmacy;
  const { eob, created, received } = header({ ctx, profile: PROFILE.eobPharmacy, type: ['pharmacy', 'Pharmacy'], start: f.day, end: f.day, providerId: pharmacy.id, providerName: pharmacy.name, coverageId: f.span.coverageId });
  const cost = (f.med.cost30 * f.daysSupply) / 30 + 2;
  const a = adjudicateLine(ctx, f.span.plan, f.day, cost * 1.3, cost, f.med.brand ? 'rx-brand' : 'rx-generic', true, true);
  const num = (n: number) => ({ value: n });
  eob.prescription = ref('MedicationRequest', f.requestId);
  return finish(eob, f.span.coverageId, {
    careTeam: [{ sequence: 1, provider: ref('Practitioner', f.prescriber.id, f.prescriber.display), role: concept(SYS.c4bbCareTeamRole, 'prescribing', 'Prescribing provider') }],
    supportingInfo: [
      { sequence: 1, category: concept(SYS.c4bbSupportingInfo, 'clmrecvddate', 'Claim Received Date'), timingDate: isoDate(received) },
      { sequence: 2, category: concept(SYS.c4bbSupportingInfo, 'dayssupply', 'Days Supply'), valueQuantity: num(f.daysSupply) },
      { sequence: 3, category: concept(SYS.c4bbSupportingInfo, 'dawcode', 'DAW (Dispense As Written) Code'), code: concept(SYS.daw, '0', 'No Product Selection Indicated') },
      { sequence: 4, category: concept(SYS.c4bbSupportingInfo, 'refillnum', 'Refill Number'), valueQuantity: num(f.refill) },
      { sequence: 5, category: concept(SYS.c4bbSupportingInfo, 'brandgenericindicator', 'Brand Generic Indicator'), code: concept(SYS.brandGeneric, f.med.brand ? '1' : '2', f.med.brand ? 'Brand' : 'Generic') },
      { sequence: 6, category: concept(SYS.c4bbSupportingInfo, 'rxorigincode', 'Rx Origin Code'), code: concept(SYS.rxOrigin, '3', 'Electronic') },
    ],
    item: [{
      sequence: 1,
      careTeamSequence: [1],
      productOrService: concept(SYS.ndc, f.med.ndc, f.med.display),
      servicedDate: isoDate(f.day),
      quantity: { value: f.quantity },
      adjudication: lineAdjudication(a, false),
    }],
    adjudication: [networkStatus('benefitpaymentstatus', true)],
  }, a, [a], created);
}
