/**
 * Disease burden. Chronic conditions carry a prevalence per age band (age on the as-of day),
 * close to published US adult figures (CDC chronic-disease surveillance, rounded), with the
 * usual comorbidity links — diabetes raises the odds of hypertension, hyperlipidaemia and
 * kidney disease; hypertension those of heart failure; smoking those of COPD and coronary disease.
 * Acute problems are what sick visits and emergency visits are for.
 */
import type { Rng } from './prng.js';

export type ChronicKey = 'diabetes' | 'hypertension' | 'hyperlipidemia' | 'cad' | 'heartFailure' | 'copd' | 'asthma' | 'depression' | 'ckd' | SensitiveChronicKey;
/** Conditions whose records carry sensitive-data labels (src/fhir/sensitivity.ts), besides depression. */
export type SensitiveChronicKey = 'anxiety' | 'alcoholUse' | 'opioidUse' | 'hiv' | 'cysticFibrosis';
export type Specialty = 'cardiology' | 'endocrinology' | 'pulmonology' | 'behavioral' | 'nephrology';
export type AgeBand = '0-17' | '18-44' | '45-64' | '65+';
export const AGE_BANDS: readonly AgeBand[] = ['0-17', '18-44', '45-64', '65+'];

export function ageBand(age: number): AgeBand {
  return age < 18 ? '0-17' : age < 45 ? '18-44' : age < 65 ? '45-64' : '65+';
}

export interface ChronicDef {
  key: ChronicKey;
  snomed: readonly [string, string];
  icd10: readonly [string, string];
  /** Base probability per age band, before comorbidity multipliers. */
  prevalence: Record<AgeBand, number>;
  minAge: number;
  specialty?: Specialty;
  /** Maintenance medications (keys into MEDICATIONS). */
  meds: readonly string[];
}

/** In drawing order: a condition's multipliers may only depend on conditions drawn before it. */
export const CHRONIC: readonly ChronicDef[] = [
  { key: 'diabetes', snomed: ['44054006', 'Diabetes mellitus type 2 (disorder)'], icd10: ['E11.9', 'Type 2 diabetes mellitus without complications'], prevalence: { '0-17': 0.003, '18-44': 0.04, '45-64': 0.14, '65+': 0.24 }, minAge: 10, specialty: 'endocrinology', meds: ['metformin'] },
  { key: 'hypertension', snomed: ['38341003', 'Hypertensive disorder, systemic arterial (disorder)'], icd10: ['I10', 'Essential (primary) hypertension'], prevalence: { '0-17': 0.01, '18-44': 0.09, '45-64': 0.3, '65+': 0.52 }, minAge: 8, meds: ['lisinopril', 'amlodipine'] },
  { key: 'hyperlipidemia', snomed: ['55822004', 'Hyperlipidemia (disorder)'], icd10: ['E78.5', 'Hyperlipidemia, unspecified'], prevalence: { '0-17': 0.005, '18-44': 0.07, '45-64': 0.25, '65+': 0.4 }, minAge: 10, meds: ['atorvastatin'] },
  { key: 'cad', snomed: ['53741008', 'Coronary arteriosclerosis (disorder)'], icd10: ['I25.10', 'Atherosclerotic heart disease of native coronary artery without angina pectoris'], prevalence: { '0-17': 0, '18-44': 0.004, '45-64': 0.045, '65+': 0.13 }, minAge: 30, specialty: 'cardiology', meds: ['clopidogrel'] },
  { key: 'heartFailure', snomed: ['84114007', 'Heart failure (disorder)'], icd10: ['I50.9', 'Heart failure, unspecified'], prevalence: { '0-17': 0, '18-44': 0.002, '45-64': 0.012, '65+': 0.05 }, minAge: 30, specialty: 'cardiology', meds: ['furosemide', 'metoprolol'] },
  { key: 'copd', snomed: ['13645005', 'Chronic obstructive lung disease (disorder)'], icd10: ['J44.9', 'Chronic obstructive pulmonary disease, unspecified'], prevalence: { '0-17': 0, '18-44': 0.006, '45-64': 0.035, '65+': 0.07 }, minAge: 35, specialty: 'pulmonology', meds: ['albuterol', 'fluticasone'] },
  { key: 'asthma', snomed: ['195967001', 'Asthma (disorder)'], icd10: ['J45.909', 'Unspecified asthma, uncomplicated'], prevalence: { '0-17': 0.07, '18-44': 0.08, '45-64': 0.08, '65+': 0.07 }, minAge: 2, meds: ['albuterol'] },
  { key: 'depression', snomed: ['370143000', 'Major depressive disorder (disorder)'], icd10: ['F32.9', 'Major depressive disorder, single episode, unspecified'], prevalence: { '0-17': 0.03, '18-44': 0.09, '45-64': 0.08, '65+': 0.06 }, minAge: 12, specialty: 'behavioral', meds: ['sertraline'] },
  { key: 'ckd', snomed: ['709044004', 'Chronic kidney disease (disorder)'], icd10: ['N18.9', 'Chronic kidney disease, unspecified'], prevalence: { '0-17': 0, '18-44': 0.005, '45-64': 0.03, '65+': 0.1 }, minAge: 30, specialty: 'nephrology', meds: [] },
];

/**
 * Drawn from a stream of their own (so adding them left every other draw as it was), at US
 * prevalence: generalized anxiety, alcohol and opioid use disorder (NSDUH, diagnosed share),
 * HIV (CDC, about 0.4% of adults), and cystic fibrosis standing in for genetic disorders
 * (kept above its true 0.03% so a few thousand members include some).
 */
export const SENSITIVE_CHRONIC: readonly ChronicDef[] = [
  { key: 'anxiety', snomed: ['21897009', 'Generalized anxiety disorder (disorder)'], icd10: ['F41.1', 'Generalized anxiety disorder'], prevalence: { '0-17': 0.03, '18-44': 0.07, '45-64': 0.055, '65+': 0.04 }, minAge: 10, specialty: 'behavioral', meds: ['sertraline'] },
  { key: 'alcoholUse', snomed: ['7200002', 'Alcoholism (disorder)'], icd10: ['F10.20', 'Alcohol dependence, uncomplicated'], prevalence: { '0-17': 0.002, '18-44': 0.025, '45-64': 0.022, '65+': 0.01 }, minAge: 15, specialty: 'behavioral', meds: [] },
  { key: 'opioidUse', snomed: ['75544000', 'Opioid dependence (disorder)'], icd10: ['F11.20', 'Opioid dependence, uncomplicated'], prevalence: { '0-17': 0, '18-44': 0.012, '45-64': 0.009, '65+': 0.003 }, minAge: 16, specialty: 'behavioral', meds: ['buprenorphineNaloxone'] },
  { key: 'hiv', snomed: ['86406008', 'Human immunodeficiency virus infection (disorder)'], icd10: ['B20', 'Human immunodeficiency virus [HIV] disease'], prevalence: { '0-17': 0.0005, '18-44': 0.004, '45-64': 0.006, '65+': 0.003 }, minAge: 13, meds: ['bictegravir'] },
  { key: 'cysticFibrosis', snomed: ['190905008', 'Cystic fibrosis (disorder)'], icd10: ['E84.9', 'Cystic fibrosis, unspecified'], prevalence: { '0-17': 0.003, '18-44': 0.003, '45-64': 0.002, '65+': 0.001 }, minAge: 0, specialty: 'pulmonology', meds: [] },
];

export const CHRONIC_BY_KEY = Object.fromEntries([...CHRONIC, ...SENSITIVE_CHRONIC].map((c) => [c.key, c])) as Record<ChronicKey, ChronicDef>;

export interface ChronicCase {
  def: ChronicDef;
  /** Day of onset (may precede the history window). */
  onset: number;
}

function multiplier(key: ChronicKey, has: Set<ChronicKey>, smoker: boolean): number {
  switch (key) {
    case 'hypertension':
    case 'hyperlipidemia':
      return has.has('diabetes') ? 1.5 : 1;
    case 'cad':
      return (has.has('diabetes') || has.has('hypertension') ? 1.5 : 1) * (smoker ? 1.5 : 1);
    case 'heartFailure':
      return (has.has('hypertension') ? 1.8 : 1) * (has.has('cad') ? 2 : 1);
    case 'copd':
      return smoker ? 3 : 0.5;
    case 'ckd':
      return has.has('diabetes') || has.has('hypertension') ? 2 : 0.6;
    default:
      return 1;
  }
}

/**
 * Chronic conditions for a person aged `age` on `refDay` (the as-of day or the day of death).
 * Onset falls between the age the disease can start and the reference day, within 20 years.
 */
export function drawChronic(rng: Rng, age: number, birth: number, refDay: number, smoker: boolean, defs: readonly ChronicDef[] = CHRONIC): ChronicCase[] {
  const band = ageBand(age);
  const has = new Set<ChronicKey>();
  const cases: ChronicCase[] = [];
  for (const def of defs) {
    if (age < def.minAge) continue;
    const p = Math.min(0.95, def.prevalence[band] * multiplier(def.key, has, smoker));
    if (!rng.chance(p)) continue;
    has.add(def.key);
    const earliest = Math.max(birth + def.minAge * 365, refDay - 20 * 365);
    cases.push({ def, onset: rng.int(earliest, refDay) });
  }
  return cases;
}

export interface AcuteDef {
  key: string;
  snomed: readonly [string, string];
  icd10: readonly [string, string];
  minAge: number;
  maxAge: number;
  weight: number;
  /** Acute medication key, if one is usually prescribed. */
  med?: string;
  /** Emergency-department problem rather than an office one. */
  emergency?: boolean;
  /** Seen in the office only, never in the emergency department. */
  office?: boolean;
  female?: boolean;
}

export const ACUTE: readonly AcuteDef[] = [
  { key: 'uri', snomed: ['54150009', 'Upper respiratory infection (disorder)'], icd10: ['J06.9', 'Acute upper respiratory infection, unspecified'], minAge: 0, maxAge: 120, weight: 30 },
  { key: 'bronchitis', snomed: ['10509002', 'Acute bronchitis (disorder)'], icd10: ['J20.9', 'Acute bronchitis, unspecified'], minAge: 5, maxAge: 120, weight: 10, med: 'azithromycin' },
  { key: 'otitis', snomed: ['65363002', 'Otitis media (disorder)'], icd10: ['H66.90', 'Otitis media, unspecified, unspecified ear'], minAge: 0, maxAge: 12, weight: 25, med: 'amoxicillin' },
  { key: 'strep', snomed: ['43878008', 'Streptococcal sore throat (disorder)'], icd10: ['J02.0', 'Streptococcal pharyngitis'], minAge: 3, maxAge: 40, weight: 10, med: 'amoxicillin' },
  { key: 'sinusitis', snomed: ['444814009', 'Viral sinusitis (disorder)'], icd10: ['J01.90', 'Acute sinusitis, unspecified'], minAge: 5, maxAge: 120, weight: 12, med: 'amoxicillin' },
  { key: 'uti', snomed: ['68566005', 'Urinary tract infectious disease (disorder)'], icd10: ['N39.0', 'Urinary tract infection, site not specified'], minAge: 15, maxAge: 120, weight: 12, med: 'ciprofloxacin', female: true },
  { key: 'sprain', snomed: ['44465007', 'Sprain of ankle (disorder)'], icd10: ['S93.401A', 'Sprain of unspecified ligament of right ankle, initial encounter'], minAge: 8, maxAge: 70, weight: 8, med: 'ibuprofen' },
  { key: 'backpain', snomed: ['161891005', 'Backache (finding)'], icd10: ['M54.9', 'Dorsalgia, unspecified'], minAge: 18, maxAge: 120, weight: 10, med: 'ibuprofen' },
  { key: 'gastroenteritis', snomed: ['25374005', 'Gastroenteritis (disorder)'], icd10: ['K52.9', 'Noninfective gastroenteritis and colitis, unspecified'], minAge: 0, maxAge: 120, weight: 6 },
  { key: 'chestpain', snomed: ['29857009', 'Chest pain (finding)'], icd10: ['R07.9', 'Chest pain, unspecified'], minAge: 25, maxAge: 120, weight: 10, emergency: true },
  { key: 'pneumonia', snomed: ['233604007', 'Pneumonia (disorder)'], icd10: ['J18.9', 'Pneumonia, unspecified organism'], minAge: 0, maxAge: 120, weight: 6, med: 'azithromycin', emergency: true },
  { key: 'laceration', snomed: ['283385000', 'Laceration of hand (disorder)'], icd10: ['S61.419A', 'Unspecified laceration without foreign body of unspecified hand, initial encounter'], minAge: 3, maxAge: 90, weight: 8, emergency: true },
  // Sensitive visit reasons (labelled STD and SEX): a chlamydia infection, a prenatal visit.
  { key: 'chlamydia', snomed: ['105629000', 'Chlamydial infection (disorder)'], icd10: ['A56.00', 'Chlamydial infection of lower genitourinary tract, unspecified'], minAge: 15, maxAge: 35, weight: 3, med: 'azithromycin', office: true },
  { key: 'prenatal', snomed: ['72892002', 'Normal pregnancy (finding)'], icd10: ['Z34.90', 'Encounter for supervision of normal pregnancy, unspecified, unspecified trimester'], minAge: 18, maxAge: 44, weight: 6, female: true, office: true },
  { key: 'fracture', snomed: ['65966004', 'Fracture of forearm (disorder)'], icd10: ['S52.90XA', 'Unspecified fracture of unspecified forearm, initial encounter for closed fracture'], minAge: 4, maxAge: 120, weight: 4, med: 'ibuprofen', emergency: true },
];

export function drawAcute(rng: Rng, age: number, female: boolean, emergency: boolean): AcuteDef {
  const fits = ACUTE.filter((a) => age >= a.minAge && age <= a.maxAge && (!a.female || female) && (emergency ? !a.office : !a.emergency));
  return rng.weighted(fits.map((a) => [a, emergency && a.emergency ? a.weight * 3 : a.weight] as const));
}
