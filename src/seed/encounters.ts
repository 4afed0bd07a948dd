/**
 * One visit becomes an Encounter and what happened during it: problem-list Conditions first
 * recorded there, an encounter diagnosis for sick and emergency visits, vital signs and labs,
 * procedures, immunisations. It also returns what the claim needs — diagnoses and billable
 * lines — so the ExplanationOfBenefit tells the same story as the clinical record.
 */
import type { Resource } from '../fhir/validation.js';
import { CHARGES, DENTAL, PROCEDURES, VACCINES, VACCINE_CHARGE, CHILD_SCHEDULE, preventiveCode, type ProcedureDef } from './codes.js';
import type { ChronicCase } from './conditions.js';
import { type MemberContext, nextId, patientRef } from './context.js';
import { AS_OF, isoDate, isoDateTime, yearOf } from './dates.js';
import type { Visit } from './history.js';
import * as obs from './observations.js';
import { sensitiveScreenings } from './screenings.js';
import { PROFILE, SYS, concept, coding, ref, type Json } from './vocabulary.js';

export interface ClaimLine {
  system: string;
  code: string;
  display: string;
  charge: number;
  day: number;
  quantity?: number;
  revenue?: readonly [string, string];
  tooth?: string;
  surface?: string;
}

export interface EncounterRecord {
  visit: Visit;
  encounterId: string;
  diagnoses: (readonly [string, string])[];
  lines: ClaimLine[];
  /** The encounter-diagnosis Condition of a sick, emergency or inpatient visit. */
  diagnosisId?: string;
}

const ENCOUNTER_TYPE: Record<Visit['kind'], readonly [string, string, string]> = {
  wellness: ['162673000', 'General examination of patient (procedure)', 'Preventive visit'],
  followup: ['390906007', 'Follow-up encounter (procedure)', 'Chronic care follow-up'],
  acute: ['185345009', 'Encounter for symptom (procedure)', 'Sick visit'],
  specialist: ['11429006', 'Consultation (procedure)', 'Specialist consultation'],
  er: ['50849002', 'Emergency room admission (procedure)', 'Emergency department visit'],
  inpatient: ['32485007', 'Hospital admission (procedure)', 'Inpatient admission'],
  screening: ['185349003', 'Encounter for check up (procedure)', 'Screening'],
  dental: ['185349003', 'Encounter for check up (procedure)', 'Dental check-up'],
};

const CLASS = { AMB: 'ambulatory', EMER: 'emergency', IMP: 'inpatient encounter' } as const;

function cptLine(code: string, day: number, revenue?: readonly [string, string], quantity?: number): ClaimLine {
  const c = CHARGES[code];
  return { system: c.system === 'hcpcs' ? SYS.hcpcs : SYS.cpt, code, display: c.display, charge: c.charge * (quantity ?? 1), day, quantity, revenue };
}

/** Records each chronic problem the first time a visit happens on or after its onset. */
function recordProblems(ctx: MemberContext, v: Visit, encounterId: string): ChronicCase[] {
  const recorded: ChronicCase[] = [];
  for (const c of ctx.p.chronic) {
    if (c.onset > v.day || ctx.problems.has(c.def.key)) continue;
    ctx.out.push(problemCondition(ctx, c, v.day, v.clinician.id, encounterId));
    recorded.push(c);
  }
  return recorded;
}

export function problemCondition(ctx: MemberContext, c: ChronicCase, recorded: number, clinicianId: string | undefined, encounterId?: string): Resource {
  const id = nextId(ctx, 'cond');
  ctx.problems.set(c.def.key, id);
  const r: Resource = {
    resourceType: 'Condition',
    id,
    meta: { profile: [...PROFILE.conditionProblem] },
    clinicalStatus: concept(SYS.conditionClinical, 'active', 'Active'),
    verificationStatus: concept(SYS.conditionVer, 'confirmed', 'Confirmed'),
    category: [concept(SYS.conditionCategory, 'problem-list-item', 'Problem List Item')],
    code: { coding: [coding(SYS.snomed, c.def.snomed[0], c.def.snomed[1]), coding(SYS.icd10cm, c.def.icd10[0], c.def.icd10[1])], text: c.def.icd10[1] },
    subject: patientRef(ctx),
    onsetDateTime: isoDate(c.onset),
    recordedDate: isoDate(recorded),
  };
  if (encounterId) r.encounter = ref('Encounter', encounterId);
  if (clinicianId) r.asserter = ref('Practitioner', clinicianId);
  return r;
}

function encounterDiagnosis(ctx: MemberContext, v: Visit, encounterId: string, snomed: readonly [string, string], icd10: readonly [string, string]): string {
  const id = nextId(ctx, 'cond');
  const abate = v.end + ctx.rng.int(5, 14);
  const resolved = abate <= AS_OF;
  const r: Resource = {
    resourceType: 'Condition',
    id,
    meta: { profile: [...PROFILE.conditionEncounter] },
    clinicalStatus: resolved ? concept(SYS.conditionClinical, 'resolved', 'Resolved') : concept(SYS.conditionClinical, 'active', 'Active'),
    verificationStatus: concept(SYS.conditionVer, 'confirmed', 'Confirmed'),
    category: [concept(SYS.conditionCategory, 'encounter-diagnosis', 'Encounter Diagnosis')],
    code: { coding: [coding(SYS.snomed, snomed[0], snomed[1]), coding(SYS.icd10cm, icd10[0], icd10[1])], text: icd10[1] },
    subject: patientRef(ctx),
    encounter: ref('Encounter', encounterId),
    onsetDateTime: isoDate(v.day - ctx.rng.int(0, 3)),
    recordedDate: isoDate(v.day),
  };
  if (resolved) r.abatementDateTime = isoDate(abate);
  ctx.out.push(r);
  return id;
}

function procedure(ctx: MemberContext, v: Visit, encounterId: string, def: ProcedureDef, reasonId?: string): void {
  const r: Resource = {
    resourceType: 'Procedure',
    id: nextId(ctx, 'proc'),
    meta: { profile: [...PROFILE.procedure] },
    status: 'completed',
    code: { coding: [coding(SYS.snomed, def.snomed[0], def.snomed[1]), coding(SYS.cpt, def.cpt[0], def.cpt[1])], text: def.snomed[1].replace(/ \(procedure\)$/, '') },
    subject: patientRef(ctx),
    encounter: ref('Encounter', encounterId),
    performedDateTime: isoDateTime(v.day, v.minute + 30),
    performer: [{ actor: ref('Practitioner', v.clinician.id, v.clinician.display), onBehalfOf: ref('Organization', v.org.id, v.org.name) }],
    location: ref('Location', v.org.locationId, v.org.name),
  };
  if (reasonId) r.reasonReference = [ref('Condition', reasonId)];
  ctx.out.push(r);
}

function immunize(ctx: MemberContext, v: Visit, encounterId: string, key: keyof typeof VACCINES, lines: ClaimLine[]): void {
  const vac = VACCINES[key];
  ctx.out.push({
    resourceType: 'Immunization',
    id: nextId(ctx, 'imm'),
    meta: { profile: [...PROFILE.immunization] },
    status: 'completed',
    vaccineCode: concept(SYS.cvx, vac.cvx, vac.display),
    patient: patientRef(ctx),
    encounter: ref('Encounter', encounterId),
    occurrenceDateTime: isoDateTime(v.day, v.minute + 25),
    primarySource: true,
    location: ref('Location', v.org.locationId, v.org.name),
    lotNumber: `${vac.cvx}L${(ctx.p.index * 31 + v.day) % 100000}`,
    performer: [{ function: concept('http://terminology.hl7.org/CodeSystem/v2-0443', 'AP', 'Administering Provider'), actor: ref('Practitioner', v.clinician.id) }],
  });
  ctx.vaccinesGiven.add(key);
  lines.push({ system: SYS.cpt, code: vac.cpt, display: vac.display, charge: VACCINE_CHARGE, day: v.day }, cptLine('90471', v.day));
}

/** Vaccines due at this visit: the childhood schedule, flu each season, adult boosters. */
function vaccinate(ctx: MemberContext, v: Visit, encounterId: string, lines: ClaimLine[]): void {
  if (v.kind === 'wellness' && v.ageMonths !== undefined) {
    for (const [key, month] of CHILD_SCHEDULE) {
      const tag = `${key}@${month}`;
      if (month <= v.ageMonths && v.ageMonths - month < 12 && !ctx.vaccinesGiven.has(tag) && ctx.rng.chance(0.93)) {
        immunize(ctx, v, encounterId, key, lines);
        ctx.vaccinesGiven.add(tag);
      }
    }
  }
  const month = Number(isoDate(v.day).slice(5, 7));
  const season = month >= 9 ? yearOf(v.day) : yearOf(v.day) - 1;
  if ((month >= 9 || month <= 2) && v.age >= 1 && !ctx.fluSeasons.has(season) && v.kind !== 'dental' && v.kind !== 'inpatient') {
    if (ctx.rng.chance(v.age >= 65 ? 0.7 : 0.45)) immunize(ctx, v, encounterId, 'flu', lines);
    ctx.fluSeasons.add(season);
  }
  if (v.kind !== 'wellness' || v.age < 18) return;
  if (v.day >= 18_700 && v.day < 19_000 && !ctx.vaccinesGiven.has('covid') && ctx.rng.chance(0.6)) immunize(ctx, v, encounterId, 'covid', lines);
  if (v.age >= 50 && !ctx.vaccinesGiven.has('zoster') && ctx.rng.chance(0.3)) immunize(ctx, v, encounterId, 'zoster', lines);
  if (v.age >= 65 && !ctx.vaccinesGiven.has('ppsv23') && ctx.rng.chance(0.5)) immunize(ctx, v, encounterId, 'ppsv23', lines);
  if (ctx.rng.chance(0.06)) immunize(ctx, v, encounterId, 'tdap', lines);
}

function encounterResource(ctx: MemberContext, v: Visit, id: string, reasons: { code?: Json[]; ref?: string[] }): Resource {
  const [code, display, text] = ENCOUNTER_TYPE[v.kind];
  const cls = v.kind === 'er' ? 'EMER' : v.kind === 'inpatient' ? 'IMP' : 'AMB';
  const start = isoDateTime(v.day, v.minute);
  // Inpatients leave at 11:00 on their discharge day; one discharged the day they came in (a
  // stay cut short by the end of coverage) leaves two hours after admission, never before (R4 per-1).
  const discharge = v.end > v.day ? 11 * 60 : Math.max(11 * 60, v.minute + 120);
  const end = isoDateTime(v.end, v.kind === 'inpatient' ? discharge : v.minute + (v.kind === 'er' ? 200 : 30));
  const r: Resource = {
    resourceType: 'Encounter',
    id,
    meta: { profile: [...PROFILE.encounter] },
    identifier: [{ system: ctx.dir.systems.encounter, value: id }],
    status: 'finished',
    class: coding(SYS.actCode, cls, CLASS[cls]),
    type: [concept(SYS.snomed, code, display, text)],
    subject: patientRef(ctx),
    participant: [{ type: [concept(SYS.participationType, v.kind === 'inpatient' ? 'ATND' : 'PPRF', v.kind === 'inpatient' ? 'attender' : 'primary performer')], period: { start, end }, individual: ref('Practitioner', v.clinician.id, v.clinician.display) }],
    period: { start, end },
    location: [{ location: ref('Location', v.org.locationId, v.org.name) }],
    serviceProvider: ref('Organization', v.org.id, v.org.name),
  };
  if (reasons.code) r.reasonCode = reasons.code;
  if (reasons.ref?.length) r.reasonReference = reasons.ref.map((c) => ref('Condition', c));
  if (v.kind === 'inpatient') r.hospitalization = { dischargeDisposition: concept(SYS.dischargeDisposition, 'home', 'Home') };
  return r;
}

/** Builds the visit's resources into ctx.out and returns what its claim needs. */
export function buildEncounter(ctx: MemberContext, v: Visit): EncounterRecord {
  const id = nextId(ctx, 'enc');
  const at = ctx.out.length;
  const lines: ClaimLine[] = [];
  const diagnoses: (readonly [string, string])[] = [];
  const reasons: { code?: Json[]; ref?: string[] } = {};
  recordProblems(ctx, v, id);
  const has = (k: string) => v.chronic.some((c) => c.def.key === k);
  const problemRefs = v.chronic.map((c) => ctx.problems.get(c.def.key)).filter((x): x is string => !!x);
  switch (v.kind) {
    case 'wellness': {
      const z = v.age < 18 ? (['Z00.129', 'Encounter for routine child health examination without abnormal findings'] as const) : (['Z00.00', 'Encounter for general adult medical examination without abnormal findings'] as const);
      diagnoses.push(z);
      reasons.code = [concept(SYS.icd10cm, z[0], z[1])];
      lines.push(cptLine(preventiveCode(v.age, v.span.plan.kind === 'medicare'), v.day));
      ctx.out.push(...obs.bodyMeasures(ctx, v, id));
      if (v.age < 18) ctx.out.push(obs.heartRate(ctx, v, id));
      if (v.age >= 3) ctx.out.push(obs.bloodPressure(ctx, v, id));
      if (v.age >= 13) ctx.out.push(obs.smokingStatus(ctx, v, id));
      if (v.age >= 20 && ctx.rng.chance(0.15)) {
        ctx.out.push(...obs.lipidPanel(ctx, v, id, ctx.problems.has('hyperlipidemia')));
        lines.push(cptLine('80061', v.day), cptLine('36415', v.day));
      }
      break;
    }
    case 'followup':
    case 'specialist': {
      for (const c of v.chronic) diagnoses.push(c.def.icd10);
      reasons.ref = problemRefs;
      lines.push(cptLine(v.kind === 'specialist' && !ctx.visitsByOrg.has(v.org.id) ? '99204' : v.chronic.length > 1 ? '99214' : '99213', v.day));
      ctx.out.push(obs.bloodPressure(ctx, v, id));
      if (v.specialty === 'cardiology' || has('heartFailure')) ctx.out.push(obs.heartRate(ctx, v, id));
      if (has('heartFailure') || (has('diabetes') && v.kind === 'followup')) ctx.out.push(obs.bodyWeight(ctx, v, id));
      if (has('diabetes') && ctx.rng.chance(0.75)) {
        ctx.out.push(obs.hba1c(ctx, v, id));
        lines.push(cptLine('83036', v.day), cptLine('36415', v.day));
      } else if (has('hyperlipidemia') && ctx.rng.chance(0.35)) {
        ctx.out.push(...obs.lipidPanel(ctx, v, id, true));
        lines.push(cptLine('80061', v.day), cptLine('36415', v.day));
      }
      if (has('ckd') && ctx.rng.chance(0.6)) {
        ctx.out.push(obs.creatinine(ctx, v, id, true));
        lines.push(cptLine('80048', v.day));
      }
      const screened = sensitiveScreenings(ctx, v, id);
      ctx.out.push(...screened.resources);
      for (const code of screened.cpt) lines.push(cptLine(code, v.day));
      const reason = problemRefs[0];
      if (v.specialty === 'cardiology' && ctx.rng.chance(0.5)) addProcedure(ctx, v, id, PROCEDURES.ecg, lines, reason);
      if (has('heartFailure') && v.kind === 'specialist' && ctx.rng.chance(0.3)) addProcedure(ctx, v, id, PROCEDURES.echo, lines, reason);
      if (v.specialty === 'pulmonology' && ctx.rng.chance(0.6)) addProcedure(ctx, v, id, PROCEDURES.spirometry, lines, reason);
      break;
    }
    case 'acute':
    case 'er': {
      const a = v.acute!;
      diagnoses.push(a.icd10);
      reasons.ref = [encounterDiagnosis(ctx, v, id, a.snomed, a.icd10)];
      const fever = ['uri', 'bronchitis', 'otitis', 'strep', 'sinusitis', 'pneumonia'].includes(a.key);
      ctx.out.push(obs.temperature(ctx, v, id, fever));
      if (fever || v.kind === 'er') ctx.out.push(obs.heartRate(ctx, v, id, fever ? 12 : 0));
      if (v.kind === 'acute') {
        lines.push(cptLine(ctx.rng.chance(0.6) ? '99213' : '99212', v.day));
        break;
      }
      ctx.out.push(obs.bloodPressure(ctx, v, id, 8), obs.respiratoryRate(ctx, v, id, a.key === 'pneumonia'), obs.pulseOximetry(ctx, v, id, a.key === 'pneumonia'));
      lines.push(cptLine(a.key === 'chestpain' || a.key === 'pneumonia' ? '99285' : ctx.rng.chance(0.5) ? '99284' : '99283', v.day, ['0450', 'Emergency room - general']));
      const r = reasons.ref[0];
      if (a.key === 'chestpain') addProcedure(ctx, v, id, PROCEDURES.ecg, lines, r, ['0730', 'EKG/ECG - general']);
      if (a.key === 'laceration') addProcedure(ctx, v, id, PROCEDURES.suture, lines, r, ['0450', 'Emergency room - general']);
      if (a.key === 'fracture') addProcedure(ctx, v, id, PROCEDURES.xray, lines, r, ['0320', 'Radiology - diagnostic - general']);
      if (a.key === 'pneumonia') addProcedure(ctx, v, id, PROCEDURES.chestXray, lines, r, ['0320', 'Radiology - diagnostic - general']);
      if (a.key === 'chestpain' || a.key === 'pneumonia') lines.push(cptLine('80048', v.day, ['0300', 'Laboratory - general']));
      break;
    }
    case 'inpatient': {
      const d = v.drg!;
      diagnoses.push(d.icd10);
      for (const c of v.chronic) if (c.def.icd10[0] !== d.icd10[0]) diagnoses.push(c.def.icd10);
      reasons.ref = [encounterDiagnosis(ctx, v, id, d.snomed, d.icd10)];
      ctx.out.push(obs.bloodPressure(ctx, v, id, 10), obs.heartRate(ctx, v, id, 10), obs.respiratoryRate(ctx, v, id, true), obs.pulseOximetry(ctx, v, id, d === undefined ? false : d.drg !== '313'));
      const days = Math.max(1, v.end - v.day);
      lines.push({ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable', display: 'Not Applicable', charge: 6200 * days, day: v.day, quantity: days, revenue: ['0120', 'Room & board - semi-private two bed - general'] });
      lines.push({ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable', display: 'Not Applicable', charge: 1100 * days, day: v.day, revenue: ['0250', 'Pharmacy - general'] });
      lines.push(cptLine('80048', v.day, ['0300', 'Laboratory - general'], days));
      if (d.drg !== '392' && d.drg !== '638') addProcedure(ctx, v, id, PROCEDURES.chestXray, lines, reasons.ref[0], ['0320', 'Radiology - diagnostic - general']);
      break;
    }
    case 'screening': {
      const colon = v.screening === 'colonoscopy';
      const z = colon ? (['Z12.11', 'Encounter for screening for malignant neoplasm of colon'] as const) : (['Z12.31', 'Encounter for screening mammogram for malignant neoplasm of breast'] as const);
      diagnoses.push(z);
      reasons.code = [concept(SYS.icd10cm, z[0], z[1])];
      addProcedure(ctx, v, id, colon ? PROCEDURES.colonoscopy : PROCEDURES.mammography, lines, undefined, colon ? ['0750', 'Gastro-intestinal services - general'] : ['0403', 'Other imaging services - screening mammography']);
      break;
    }
    case 'dental': {
      diagnoses.push(['Z01.20', 'Encounter for dental examination and cleaning without abnormal findings']);
      reasons.code = [concept(SYS.icd10cm, 'Z01.20', 'Encounter for dental examination and cleaning without abnormal findings')];
      const first = !ctx.visitsByOrg.has(v.org.id);
      const exam = first ? DENTAL.comprehensiveExam : DENTAL.periodicExam;
      const clean = v.age < 14 ? DENTAL.childCleaning : DENTAL.adultCleaning;
      for (const s of [exam, clean]) lines.push({ system: SYS.cdt, code: s.code, display: s.display, charge: s.charge, day: v.day });
      if (ctx.rng.chance(0.45)) lines.push({ system: SYS.cdt, code: DENTAL.bitewings.code, display: DENTAL.bitewings.display, charge: DENTAL.bitewings.charge, day: v.day });
      if (v.age >= 6 && ctx.rng.chance(0.15)) {
        const tooth = String(ctx.rng.pick([2, 3, 14, 15, 18, 19, 30, 31]));
        lines.push({ system: SYS.cdt, code: DENTAL.filling.code, display: DENTAL.filling.display, charge: DENTAL.filling.charge, day: v.day, tooth, surface: ctx.rng.pick(['O', 'M', 'D']) });
      }
      break;
    }
  }
  vaccinate(ctx, v, id, lines);
  ctx.out.splice(at, 0, encounterResource(ctx, v, id, reasons));
  if (v.kind === 'wellness' || v.kind === 'followup' || v.kind === 'acute' || v.kind === 'specialist' || v.kind === 'dental') {
    const seen = ctx.visitsByOrg.get(v.org.id);
    if (v.kind !== 'dental' && seen) {
      seen.count++;
      seen.last = v.day;
    } else if (!seen) {
      ctx.visitsByOrg.set(v.org.id, { org: v.org, count: v.kind === 'dental' ? 0 : 1, last: v.day });
    }
  }
  const diagnosisId = v.kind === 'acute' || v.kind === 'er' || v.kind === 'inpatient' ? reasons.ref?.[0] : undefined;
  return { visit: v, encounterId: id, diagnoses, lines, diagnosisId };
}

function addProcedure(ctx: MemberContext, v: Visit, id: string, def: ProcedureDef, lines: ClaimLine[], reason?: string, revenue?: readonly [string, string]): void {
  procedure(ctx, v, id, def, reason);
  lines.push(cptLine(def.cpt[0], v.day, revenue));
}
