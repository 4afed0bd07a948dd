/**
 * What a follow-up for a sensitive condition measures: a PHQ-9 or GAD-7 score for depression
 * and anxiety, an AUDIT-C score for alcohol use disorder, an HIV viral load and CD4 count for
 * HIV. These results reveal the condition by themselves, so each carries the condition's
 * sensitive-data labels (src/fhir/sensitivity.ts) in `meta.security` from the start.
 */
import { labelsForIcd10, securityCoding } from '../fhir/sensitivity.js';
import type { Resource } from '../fhir/validation.js';
import type { ChronicKey } from './conditions.js';
import { type MemberContext, round } from './context.js';
import type { Visit } from './history.js';
import { base, lab } from './observations.js';
import { PROFILE, SYS, concept } from './vocabulary.js';

const SURVEY = [concept(SYS.obsCategory, 'survey', 'Survey')];

interface Screening {
  loinc: string;
  display: string;
  /** CPT billed for it. */
  cpt: string;
  survey: boolean;
  value: (ctx: MemberContext) => { value: number; unit: string; code: string };
}

const score = (n: number) => ({ value: n, unit: '{score}', code: '{score}' });

const SCREENINGS: Partial<Record<ChronicKey, readonly Screening[]>> = {
  depression: [{ loinc: '44261-6', display: 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]', cpt: '96127', survey: true, value: (ctx) => score(round(ctx.rng.normal(11, 5, 0, 27))) }],
  anxiety: [{ loinc: '70274-6', display: 'Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]', cpt: '96127', survey: true, value: (ctx) => score(round(ctx.rng.normal(10, 4, 0, 21))) }],
  alcoholUse: [{ loinc: '75626-2', display: 'Total score [AUDIT-C]', cpt: '96127', survey: true, value: (ctx) => score(round(ctx.rng.normal(7, 2.5, 0, 12))) }],
  hiv: [
    { loinc: '20447-9', display: 'HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe amplification', cpt: '87536', survey: false, value: (ctx) => ({ value: ctx.rng.chance(0.85) ? 20 : round(ctx.rng.normal(8000, 6000, 40, 90000)), unit: 'copies/mL', code: '{copies}/mL' }) },
    { loinc: '24467-3', display: 'CD3+CD4+ (T4 helper) cells [#/volume] in Blood', cpt: '86361', survey: false, value: (ctx) => ({ value: round(ctx.rng.normal(650, 200, 50, 1500)), unit: 'cells/uL', code: '/uL' }) },
  ],
};

/**
 * Screenings and monitoring labs for the sensitive problems this visit addresses (each about
 * two visits in three). Returns the resources and the CPT codes to bill.
 */
export function sensitiveScreenings(ctx: MemberContext, v: Visit, encounterId: string): { resources: Resource[]; cpt: string[] } {
  const resources: Resource[] = [];
  const cpt: string[] = [];
  for (const c of v.chronic) {
    const list = SCREENINGS[c.def.key];
    if (!list || !ctx.rng.chance(0.65)) continue;
    const meta = labelsForIcd10(c.def.icd10[0]).map((l) => securityCoding(l.code));
    for (const s of list) {
      const q = s.value(ctx);
      const quantity = { value: q.value, unit: q.unit, system: SYS.ucum, code: q.code };
      const o = s.survey
        ? Object.assign(base(ctx, v, encounterId, PROFILE.screening, SURVEY, concept(SYS.loinc, s.loinc, s.display), v.minute + 10), { valueQuantity: quantity })
        : lab(ctx, v, encounterId, s.loinc, s.display, quantity);
      (o.meta as { security?: unknown[] }).security = meta;
      resources.push(o);
      if (!cpt.includes(s.cpt)) cpt.push(s.cpt);
    }
  }
  return { resources, cpt };
}
