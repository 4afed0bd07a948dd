/**
 * Observations taken at visits, each with its US Core profile, category and LOINC code:
 * vital signs (blood pressure as a panel with systolic/diastolic components, height, weight,
 * BMI, heart rate, respiratory rate, temperature, pulse oximetry), laboratory results (HbA1c,
 * lipid panel, creatinine) and tobacco smoking status.
 */
import type { Resource } from '../fhir/validation.js';
import { type MemberContext, bmiOn, heightOn, nextId, patientRef, round } from './context.js';
import { ageOn, isoDateTime } from './dates.js';
import type { Visit } from './history.js';
import { PROFILE, SYS, concept, coding, ref, type Json } from './vocabulary.js';

const VITAL_CATEGORY = [concept(SYS.obsCategory, 'vital-signs', 'Vital Signs')];
const LAB_CATEGORY = [concept(SYS.obsCategory, 'laboratory', 'Laboratory')];
const SOCIAL_CATEGORY = [concept(SYS.obsCategory, 'social-history', 'Social History')];

function quantity(value: number, unit: string, code: string): Json {
  return { value, unit, system: SYS.ucum, code };
}

export function base(ctx: MemberContext, v: Visit, encounterId: string, profile: readonly string[], category: Json[], code: Json, minute: number): Resource {
  return {
    resourceType: 'Observation',
    id: nextId(ctx, 'obs'),
    meta: { profile: [...profile] },
    status: 'final',
    category,
    code,
    subject: patientRef(ctx),
    encounter: ref('Encounter', encounterId),
    effectiveDateTime: isoDateTime(v.day, minute),
  };
}

function vital(ctx: MemberContext, v: Visit, enc: string, profile: readonly string[], loinc: string, display: string, value: Json): Resource {
  const o = base(ctx, v, enc, profile, VITAL_CATEGORY, concept(SYS.loinc, loinc, display), v.minute + 5);
  o.valueQuantity = value;
  return o;
}

export function bloodPressure(ctx: MemberContext, v: Visit, enc: string, acuteStress = 0): Resource {
  const age = ageOn(ctx.p.birth, v.day);
  const child = age < 18 ? (18 - age) * 1.5 : 0;
  const drift = age > 30 ? (age - 30) * 0.25 : 0;
  const sys = round(ctx.rng.normal(ctx.physio.systolic + drift - child + acuteStress, 6, 80, 210));
  const dia = round(ctx.rng.normal(ctx.physio.diastolic - child / 2 + acuteStress / 3, 4, 45, 120));
  const o = base(ctx, v, enc, PROFILE.bloodPressure, VITAL_CATEGORY, concept(SYS.loinc, '85354-9', 'Blood pressure panel with all children optional', 'Blood pressure'), v.minute + 5);
  o.component = [
    { code: concept(SYS.loinc, '8480-6', 'Systolic blood pressure'), valueQuantity: quantity(sys, 'mmHg', 'mm[Hg]') },
    { code: concept(SYS.loinc, '8462-4', 'Diastolic blood pressure'), valueQuantity: quantity(dia, 'mmHg', 'mm[Hg]') },
  ];
  return o;
}

export function heartRate(ctx: MemberContext, v: Visit, enc: string, extra = 0): Resource {
  const age = ageOn(ctx.p.birth, v.day);
  const mean = age < 1 ? 130 : age < 5 ? 105 : age < 12 ? 88 : 72;
  return vital(ctx, v, enc, PROFILE.heartRate, '8867-4', 'Heart rate', quantity(round(ctx.rng.normal(mean + extra, 7, 40, 190)), 'beats/minute', '/min'));
}

export function bodyMeasures(ctx: MemberContext, v: Visit, enc: string): Resource[] {
  const h = heightOn(ctx, v.day);
  const bmi = bmiOn(ctx, v.day);
  const w = (bmi * (h / 100) ** 2);
  const out: Resource[] = [];
  // Adults are measured for height every few years; children at every well visit.
  if (ageOn(ctx.p.birth, v.day) < 18 || v.day - ctx.lastHeight > 3 * 365) {
    out.push(vital(ctx, v, enc, PROFILE.bodyHeight, '8302-2', 'Body height', quantity(round(h, 1), 'cm', 'cm')));
    ctx.lastHeight = v.day;
  }
  out.push(vital(ctx, v, enc, PROFILE.bodyWeight, '29463-7', 'Body weight', quantity(round(w, 1), 'kg', 'kg')));
  if (ageOn(ctx.p.birth, v.day) >= 2) out.push(vital(ctx, v, enc, PROFILE.bmi, '39156-5', 'Body mass index (BMI) [Ratio]', quantity(round(bmi, 1), 'kg/m2', 'kg/m2')));
  return out;
}

export function bodyWeight(ctx: MemberContext, v: Visit, enc: string): Resource {
  const w = bmiOn(ctx, v.day) * (heightOn(ctx, v.day) / 100) ** 2;
  return vital(ctx, v, enc, PROFILE.bodyWeight, '29463-7', 'Body weight', quantity(round(ctx.rng.normal(w, 1.2, 2), 1), 'kg', 'kg'));
}

export function temperature(ctx: MemberContext, v: Visit, enc: string, fever: boolean): Resource {
  const t = fever ? ctx.rng.normal(38.3, 0.5, 37.3, 40.2) : ctx.rng.normal(36.8, 0.25, 36, 37.5);
  return vital(ctx, v, enc, PROFILE.temperature, '8310-5', 'Body temperature', quantity(round(t, 1), 'Cel', 'Cel'));
}

export function respiratoryRate(ctx: MemberContext, v: Visit, enc: string, distress: boolean): Resource {
  const age = ageOn(ctx.p.birth, v.day);
  return vital(ctx, v, enc, PROFILE.respiratoryRate, '9279-1', 'Respiratory rate', quantity(round(ctx.rng.normal((age < 5 ? 28 : 16) + (distress ? 6 : 0), 2, 8, 60)), 'breaths/minute', '/min'));
}

export function pulseOximetry(ctx: MemberContext, v: Visit, enc: string, low: boolean): Resource {
  const o = base(ctx, v, enc, PROFILE.pulseOximetry, VITAL_CATEGORY, { coding: [coding(SYS.loinc, '59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry'), coding(SYS.loinc, '2708-6', 'Oxygen saturation in Arterial blood')], text: 'Pulse oximetry' }, v.minute + 5);
  o.valueQuantity = quantity(round(ctx.rng.normal(low ? 91 : 97.5, 1.5, 82, 100)), '%', '%');
  return o;
}

export function lab(ctx: MemberContext, v: Visit, enc: string, loinc: string, display: string, value: Json): Resource {
  const o = base(ctx, v, enc, PROFILE.lab, LAB_CATEGORY, concept(SYS.loinc, loinc, display), v.minute + 20);
  o.issued = isoDateTime(v.day, Math.min(v.minute + 240, 23 * 60));
  o.valueQuantity = value;
  return o;
}

export function hba1c(ctx: MemberContext, v: Visit, enc: string): Resource {
  const value = round(ctx.rng.normal(ctx.physio.a1c, 0.35, 4.2, 14), 1);
  return lab(ctx, v, enc, '4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', quantity(value, '%', '%'));
}

/** Total cholesterol, HDL, LDL (calculated) and triglycerides, as four results. */
export function lipidPanel(ctx: MemberContext, v: Visit, enc: string, onStatin: boolean): Resource[] {
  const ldl = round(ctx.rng.normal(ctx.physio.ldl - (onStatin ? 40 : 0), 8, 30, 260));
  const hdl = round(ctx.rng.normal(ctx.physio.hdl, 3, 20, 110));
  const tg = round(ctx.rng.normal(ctx.physio.triglycerides, 15, 30, 600));
  const mgdl = (n: number) => quantity(n, 'mg/dL', 'mg/dL');
  return [
    lab(ctx, v, enc, '2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', mgdl(round(ldl + hdl + tg / 5))),
    lab(ctx, v, enc, '2085-9', 'Cholesterol in HDL [Mass/volume] in Serum or Plasma', mgdl(hdl)),
    lab(ctx, v, enc, '13457-7', 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation', mgdl(ldl)),
    lab(ctx, v, enc, '2571-8', 'Triglyceride [Mass/volume] in Serum or Plasma', mgdl(tg)),
  ];
}

export function creatinine(ctx: MemberContext, v: Visit, enc: string, ckd: boolean): Resource {
  const value = round(ctx.rng.normal(ckd ? 1.8 : ctx.p.sex === 'female' ? 0.8 : 1.0, ckd ? 0.4 : 0.12, 0.4, 6), 2);
  return lab(ctx, v, enc, '2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', quantity(value, 'mg/dL', 'mg/dL'));
}

const SMOKING = {
  current: ['449868002', 'Current every day smoker'],
  former: ['8517006', 'Ex-smoker'],
  never: ['266919005', 'Never smoked tobacco'],
} as const;

export function smokingStatus(ctx: MemberContext, v: Visit, enc: string): Resource {
  const o = base(ctx, v, enc, PROFILE.smoking, SOCIAL_CATEGORY, concept(SYS.loinc, '72166-2', 'Tobacco smoking status'), v.minute + 2);
  const [code, display] = SMOKING[ctx.p.smoking];
  o.valueCodeableConcept = concept(SYS.snomed, code, display);
  return o;
}
