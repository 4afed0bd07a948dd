/**
 * Coded content for services and products: medications (RxNorm for the clinical record, an
 * NDC package code for the pharmacy claim — the NDCs are well-formed 11-digit codes chosen for
 * this synthetic set, not a drug-file lookup), vaccines (CVX with their CPT product codes),
 * procedures (SNOMED CT with CPT/HCPCS), dental services (CDT), and billed charges.
 */

export interface MedicationDef {
  key: string;
  rxnorm: string;
  display: string;
  ndc: string;
  brand: boolean;
  /** Units per 30 days of therapy (tablets, or inhalers). */
  unitsPer30: number;
  unit: string;
  sig: string;
  /** Ingredient cost for 30 days, USD. */
  cost30: number;
}

export const MEDICATIONS: Record<string, MedicationDef> = Object.fromEntries(
  (
    [
      ['metformin', '860975', '24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet', '00093726701', false, 60, 'TAB', 'Take 1 tablet by mouth twice daily with meals', 9],
      ['lisinopril', '314076', 'lisinopril 10 MG Oral Tablet', '68180051301', false, 30, 'TAB', 'Take 1 tablet by mouth once daily', 6],
      ['amlodipine', '197361', 'amlodipine 5 MG Oral Tablet', '00378520101', false, 30, 'TAB', 'Take 1 tablet by mouth once daily', 7],
      ['atorvastatin', '617310', 'atorvastatin 20 MG Oral Tablet', '00378212177', false, 30, 'TAB', 'Take 1 tablet by mouth at bedtime', 10],
      ['clopidogrel', '309362', 'clopidogrel 75 MG Oral Tablet', '16714004101', false, 30, 'TAB', 'Take 1 tablet by mouth once daily', 12],
      ['furosemide', '313988', 'furosemide 40 MG Oral Tablet', '00054429731', false, 30, 'TAB', 'Take 1 tablet by mouth every morning', 5],
      ['metoprolol', '866436', '24 HR metoprolol succinate 50 MG Extended Release Oral Tablet', '00378459801', false, 30, 'TAB', 'Take 1 tablet by mouth once daily', 11],
      ['albuterol', '745679', '200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler', '00487980101', false, 1, 'EA', 'Inhale 2 puffs every 4 to 6 hours as needed for wheezing', 32],
      ['fluticasone', '895994', '120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler', '00173071920', true, 1, 'EA', 'Inhale 2 puffs twice daily; rinse mouth after use', 240],
      ['sertraline', '312940', 'sertraline 50 MG Oral Tablet', '16729000301', false, 30, 'TAB', 'Take 1 tablet by mouth once daily', 8],
      ['amoxicillin', '308191', 'amoxicillin 500 MG Oral Capsule', '65862001501', false, 30, 'CAP', 'Take 1 capsule by mouth three times daily for 10 days', 9],
      ['azithromycin', '308460', 'azithromycin 250 MG Oral Tablet', '59762314001', false, 6, 'TAB', 'Take 2 tablets on day 1, then 1 tablet daily for 4 days', 11],
      ['ciprofloxacin', '197511', 'ciprofloxacin 250 MG Oral Tablet', '16714065101', false, 6, 'TAB', 'Take 1 tablet by mouth twice daily for 3 days', 8],
      ['buprenorphineNaloxone', '1010604', 'buprenorphine 8 MG / naloxone 2 MG Sublingual Film', '00093572056', false, 30, 'EA', 'Dissolve 1 film under the tongue once daily', 180],
      ['bictegravir', '1999667', 'bictegravir 50 MG / emtricitabine 200 MG / tenofovir alafenamide 25 MG Oral Tablet', '61958250101', true, 30, 'TAB', 'Take 1 tablet by mouth once daily', 3900],
      ['ibuprofen', '197806', 'ibuprofen 600 MG Oral Tablet', '67877032001', false, 30, 'TAB', 'Take 1 tablet by mouth every 8 hours as needed for pain, with food', 6],
    ] as const
  ).map(([key, rxnorm, display, ndc, brand, unitsPer30, unit, sig, cost30]) => [key, { key, rxnorm, display, ndc, brand, unitsPer30, unit, sig, cost30 }]),
);

export interface VaccineDef {
  cvx: string;
  display: string;
  cpt: string;
}

export const VACCINES = {
  flu: { cvx: '150', display: 'Influenza, injectable, quadrivalent, preservative free', cpt: '90686' },
  hepB: { cvx: '08', display: 'Hep B, adolescent or pediatric', cpt: '90744' },
  dtap: { cvx: '20', display: 'DTaP', cpt: '90700' },
  ipv: { cvx: '10', display: 'IPV', cpt: '90713' },
  mmr: { cvx: '03', display: 'MMR', cpt: '90707' },
  varicella: { cvx: '21', display: 'varicella', cpt: '90716' },
  pcv13: { cvx: '133', display: 'Pneumococcal conjugate PCV 13', cpt: '90670' },
  hepA: { cvx: '83', display: 'Hep A, ped/adol, 2 dose', cpt: '90633' },
  tdap: { cvx: '115', display: 'Tdap', cpt: '90715' },
  hpv: { cvx: '165', display: 'HPV9', cpt: '90651' },
  zoster: { cvx: '187', display: 'zoster recombinant', cpt: '90750' },
  ppsv23: { cvx: '33', display: 'pneumococcal polysaccharide PPV23', cpt: '90732' },
  covid: { cvx: '208', display: 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose', cpt: '91300' },
} satisfies Record<string, VaccineDef>;

/** Childhood schedule: vaccine and age in months at the well-child visit that gives it. */
export const CHILD_SCHEDULE: readonly (readonly [keyof typeof VACCINES, number])[] = [
  ['hepB', 0], ['hepB', 2], ['dtap', 2], ['ipv', 2], ['pcv13', 2], ['dtap', 4], ['ipv', 4], ['pcv13', 4],
  ['hepB', 6], ['dtap', 6], ['pcv13', 12], ['mmr', 12], ['varicella', 12], ['hepA', 12], ['dtap', 15], ['hepA', 18],
  ['dtap', 48], ['ipv', 48], ['mmr', 48], ['varicella', 48], ['tdap', 132], ['hpv', 132], ['hpv', 138],
];

export interface ProcedureDef {
  snomed: readonly [string, string];
  cpt: readonly [string, string];
}

export const PROCEDURES = {
  colonoscopy: { snomed: ['73761001', 'Colonoscopy (procedure)'], cpt: ['45378', 'Colonoscopy, flexible; diagnostic'] },
  mammography: { snomed: ['71651007', 'Mammography (procedure)'], cpt: ['77067', 'Screening mammography, bilateral'] },
  ecg: { snomed: ['29303009', 'Electrocardiographic procedure (procedure)'], cpt: ['93000', 'Electrocardiogram, routine ECG with at least 12 leads'] },
  echo: { snomed: ['40701008', 'Echocardiography (procedure)'], cpt: ['93306', 'Echocardiography, transthoracic, complete'] },
  spirometry: { snomed: ['127783003', 'Spirometry (procedure)'], cpt: ['94010', 'Spirometry'] },
  suture: { snomed: ['288086009', 'Suture of wound (procedure)'], cpt: ['12002', 'Simple repair of superficial wounds; 2.6 cm to 7.5 cm'] },
  xray: { snomed: ['168537006', 'Plain X-ray (procedure)'], cpt: ['73090', 'Radiologic examination; forearm, 2 views'] },
  chestXray: { snomed: ['399208008', 'Plain chest X-ray (procedure)'], cpt: ['71046', 'Radiologic examination, chest; 2 views'] },
} as const satisfies Record<string, ProcedureDef>;

/** Office E/M, preventive, emergency, lab and vaccine-administration codes with billed charges. */
export const CHARGES: Record<string, { display: string; charge: number; system?: 'hcpcs' }> = {
  '99212': { display: 'Office or other outpatient visit, established patient, straightforward', charge: 110 },
  '99213': { display: 'Office or other outpatient visit, established patient, low complexity', charge: 165 },
  '99214': { display: 'Office or other outpatient visit, established patient, moderate complexity', charge: 240 },
  '99204': { display: 'Office or other outpatient visit, new patient, moderate complexity', charge: 320 },
  '99391': { display: 'Periodic preventive medicine, established patient; infant (age younger than 1 year)', charge: 210 },
  '99392': { display: 'Periodic preventive medicine, established patient; early childhood (age 1 through 4 years)', charge: 225 },
  '99393': { display: 'Periodic preventive medicine, established patient; late childhood (age 5 through 11 years)', charge: 225 },
  '99394': { display: 'Periodic preventive medicine, established patient; adolescent (age 12 through 17 years)', charge: 240 },
  '99395': { display: 'Periodic preventive medicine, established patient; 18-39 years', charge: 250 },
  '99396': { display: 'Periodic preventive medicine, established patient; 40-64 years', charge: 270 },
  '99397': { display: 'Periodic preventive medicine, established patient; 65 years and older', charge: 290 },
  G0439: { display: 'Annual wellness visit, includes a personalized prevention plan of service, subsequent visit', charge: 260, system: 'hcpcs' },
  '99283': { display: 'Emergency department visit, moderate medical decision making', charge: 780 },
  '99284': { display: 'Emergency department visit, moderate to high medical decision making', charge: 1250 },
  '99285': { display: 'Emergency department visit, high medical decision making', charge: 1900 },
  '80061': { display: 'Lipid panel', charge: 75 },
  '83036': { display: 'Hemoglobin; glycosylated (A1C)', charge: 55 },
  '80048': { display: 'Basic metabolic panel', charge: 60 },
  '36415': { display: 'Collection of venous blood by venipuncture', charge: 15 },
  '96127': { display: 'Brief emotional/behavioral assessment, with scoring and documentation, per standardized instrument', charge: 25 },
  '87536': { display: 'Infectious agent detection by nucleic acid (DNA or RNA); HIV-1, quantification', charge: 180 },
  '86361': { display: 'T cells; absolute CD4 count', charge: 95 },
  '90471': { display: 'Immunization administration, one vaccine', charge: 35 },
  '45378': { display: 'Colonoscopy, flexible; diagnostic', charge: 2400 },
  '77067': { display: 'Screening mammography, bilateral', charge: 380 },
  '93000': { display: 'Electrocardiogram, routine ECG with at least 12 leads', charge: 90 },
  '93306': { display: 'Echocardiography, transthoracic, complete', charge: 1400 },
  '94010': { display: 'Spirometry', charge: 120 },
  '12002': { display: 'Simple repair of superficial wounds; 2.6 cm to 7.5 cm', charge: 520 },
  '73090': { display: 'Radiologic examination; forearm, 2 views', charge: 240 },
  '71046': { display: 'Radiologic examination, chest; 2 views', charge: 260 },
};

/** Vaccine product charges (CPT) for the immunisation lines of a claim. */
export const VACCINE_CHARGE = 95;

export const DENTAL = {
  periodicExam: { code: 'D0120', display: 'periodic oral evaluation - established patient', charge: 65 },
  comprehensiveExam: { code: 'D0150', display: 'comprehensive oral evaluation - new or established patient', charge: 110 },
  bitewings: { code: 'D0274', display: 'bitewings - four radiographic images', charge: 85 },
  adultCleaning: { code: 'D1110', display: 'prophylaxis - adult', charge: 120 },
  childCleaning: { code: 'D1120', display: 'prophylaxis - child', charge: 80 },
  filling: { code: 'D2391', display: 'resin-based composite - one surface, posterior', charge: 210 },
} as const;

/** Preventive visit code by age (CPT 9939x for established patients; G0439 for Medicare members). */
export function preventiveCode(age: number, medicare: boolean): string {
  if (medicare) return 'G0439';
  if (age < 1) return '99391';
  if (age < 5) return '99392';
  if (age < 12) return '99393';
  if (age < 18) return '99394';
  if (age < 40) return '99395';
  if (age < 65) return '99396';
  return '99397';
}

/** Inpatient stays: MS-DRG with relative weight, principal diagnosis and typical length of stay. */
export interface DrgDef {
  drg: string;
  display: string;
  weight: number;
  icd10: readonly [string, string];
  snomed: readonly [string, string];
  los: readonly [number, number];
}

export const DRGS: Record<string, DrgDef> = {
  heartFailure: { drg: '291', display: 'Heart failure and shock with MCC', weight: 1.3, icd10: ['I50.9', 'Heart failure, unspecified'], snomed: ['84114007', 'Heart failure (disorder)'], los: [3, 7] },
  copd: { drg: '190', display: 'Chronic obstructive pulmonary disease with MCC', weight: 1.15, icd10: ['J44.1', 'Chronic obstructive pulmonary disease with (acute) exacerbation'], snomed: ['195951007', 'Acute exacerbation of chronic obstructive airways disease (disorder)'], los: [3, 6] },
  pneumonia: { drg: '194', display: 'Simple pneumonia and pleurisy with CC', weight: 0.9, icd10: ['J18.9', 'Pneumonia, unspecified organism'], snomed: ['233604007', 'Pneumonia (disorder)'], los: [2, 5] },
  chestPain: { drg: '313', display: 'Chest pain', weight: 0.6, icd10: ['R07.9', 'Chest pain, unspecified'], snomed: ['29857009', 'Chest pain (finding)'], los: [1, 2] },
  gi: { drg: '392', display: 'Esophagitis, gastroenteritis and miscellaneous digestive disorders without MCC', weight: 0.75, icd10: ['K52.9', 'Noninfective gastroenteritis and colitis, unspecified'], snomed: ['25374005', 'Gastroenteritis (disorder)'], los: [1, 4] },
  diabetes: { drg: '638', display: 'Diabetes with CC', weight: 0.85, icd10: ['E11.65', 'Type 2 diabetes mellitus with hyperglycemia'], snomed: ['44054006', 'Diabetes mellitus type 2 (disorder)'], los: [2, 4] },
};

/** Payment per unit of DRG weight (a commercial base rate in the range plans negotiate). */
export const DRG_BASE_RATE = 11_500;
