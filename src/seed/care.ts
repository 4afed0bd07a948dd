/**
 * The rest of the clinical record: allergies, the primary-care CareTeam, a CarePlan with
 * Goals for members in chronic-care management (diabetes, hypertension, heart failure, COPD),
 * clinical notes as DocumentReferences for admissions, emergency visits and some office
 * visits, and a US Core Provenance for each note naming its author and organisation.
 */
import type { Resource } from '../fhir/validation.js';
import { type MemberContext, nextId, patientRef } from './context.js';
import { AS_OF, isoDate, isoDateTime } from './dates.js';
import type { EncounterRecord } from './encounters.js';
import { PROFILE, SYS, concept, narrative, ref, type Json } from './vocabulary.js';

const ALLERGENS = [
  { code: '373270004', display: 'Penicillin -class of antibiotic- (substance)', category: 'medication', reaction: ['247472004', 'Wheal (finding)'], weight: 40 },
  { code: '387207008', display: 'Ibuprofen (substance)', category: 'medication', reaction: ['271807003', 'Eruption of skin (disorder)'], weight: 10 },
  { code: '762952008', display: 'Peanut (substance)', category: 'food', reaction: ['39579001', 'Anaphylaxis (disorder)'], weight: 15 },
  { code: '111088007', display: 'Latex (substance)', category: 'environment', reaction: ['247472004', 'Wheal (finding)'], weight: 8 },
  { code: '256277009', display: 'Grass pollen (substance)', category: 'environment', reaction: ['21626009', 'Cutaneous hypersensitivity (finding)'], weight: 20 },
] as const;

export function allergies(ctx: MemberContext, records: EncounterRecord[]): void {
  const first = records.find((r) => r.visit.kind !== 'dental');
  if (!first || !ctx.rng.chance(0.18)) return;
  const a = ctx.rng.weighted(ALLERGENS.map((x) => [x, x.weight] as const));
  ctx.out.push({
    resourceType: 'AllergyIntolerance',
    id: nextId(ctx, 'allergy'),
    meta: { profile: [...PROFILE.allergy] },
    clinicalStatus: concept(SYS.allergyClinical, 'active', 'Active'),
    verificationStatus: concept(SYS.allergyVer, 'confirmed', 'Confirmed'),
    type: 'allergy',
    category: [a.category],
    criticality: a.reaction[0] === '39579001' ? 'high' : 'low',
    code: concept(SYS.snomed, a.code, a.display),
    patient: patientRef(ctx),
    encounter: ref('Encounter', first.encounterId),
    recordedDate: isoDateTime(first.visit.day, first.visit.minute + 10),
    recorder: ref('Practitioner', first.visit.clinician.id),
    reaction: [{ manifestation: [concept(SYS.snomed, a.reaction[0], a.reaction[1])], severity: a.reaction[0] === '39579001' ? 'severe' : 'mild' }],
  });
}

const MANAGED = {
  diabetes: { goal: 'Hemoglobin A1c below 7.0%', measure: ['4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood'], detail: { detailQuantity: { value: 7, comparator: '<', unit: '%', system: SYS.ucum, code: '%' } } },
  hypertension: { goal: 'Blood pressure below 140/90 mmHg', measure: ['85354-9', 'Blood pressure panel with all children optional'], detail: { detailString: '<140/90 mm[Hg]' } },
  heartFailure: { goal: 'No heart-failure admissions; stable dry weight', measure: undefined, detail: {} },
  copd: { goal: 'Fewer than two exacerbations a year', measure: undefined, detail: {} },
} as const;

/** The primary-care team, and for managed chronic problems a care plan with its goals. */
export function careTeamAndPlan(ctx: MemberContext, records: EncounterRecord[]): void {
  const firstVisit = records.find((r) => r.visit.kind !== 'dental');
  if (!firstVisit) return;
  const lastCovered = ctx.spans[ctx.spans.length - 1];
  const ended = ctx.p.death !== undefined || (lastCovered.end !== undefined && lastCovered.end < AS_OF);
  const endDay = ctx.p.death ?? lastCovered.end;
  const teamId = nextId(ctx, 'careteam');
  const participants: Json[] = [
    { role: [concept(SYS.snomed, '446050000', 'Primary care physician (occupation)')], member: ref('Practitioner', ctx.home.pcp.id, ctx.home.pcp.display), onBehalfOf: ref('Organization', ctx.home.pcpOrg.id, ctx.home.pcpOrg.name) },
  ];
  const specialists = new Map<string, EncounterRecord>();
  for (const r of records) if (r.visit.kind === 'specialist' && !specialists.has(r.visit.clinician.id)) specialists.set(r.visit.clinician.id, r);
  for (const r of specialists.values()) {
    participants.push({ role: [concept(SYS.nucc, r.visit.clinician.taxonomy[0], r.visit.clinician.taxonomy[1])], member: ref('Practitioner', r.visit.clinician.id, r.visit.clinician.display) });
  }
  participants.push({ role: [concept(SYS.snomed, '116154003', 'Patient (person)')], member: patientRef(ctx) });
  const period: Json = { start: isoDate(firstVisit.visit.day) };
  if (ended && endDay !== undefined) period.end = isoDate(endDay);
  ctx.out.push({
    resourceType: 'CareTeam',
    id: teamId,
    meta: { profile: [...PROFILE.careTeam] },
    status: ended ? 'inactive' : 'active',
    name: 'Primary care team',
    subject: patientRef(ctx),
    period,
    participant: participants,
    managingOrganization: [ref('Organization', ctx.home.pcpOrg.id, ctx.home.pcpOrg.name)],
  });

  const managed = ctx.p.chronic.filter((c) => c.def.key in MANAGED && ctx.problems.has(c.def.key));
  if (!managed.length) return;
  const start = Math.max(...managed.map((c) => records.find((r) => r.visit.day >= c.onset)?.visit.day ?? firstVisit.visit.day));
  const goalIds: string[] = [];
  for (const c of managed) {
    const g = MANAGED[c.def.key as keyof typeof MANAGED];
    const id = nextId(ctx, 'goal');
    goalIds.push(id);
    const target: Json = { dueDate: isoDate(start + 365), ...g.detail };
    if (g.measure) target.measure = concept(SYS.loinc, g.measure[0], g.measure[1]);
    ctx.out.push({
      resourceType: 'Goal',
      id,
      meta: { profile: [...PROFILE.goal] },
      lifecycleStatus: ended ? 'cancelled' : 'active',
      description: { text: g.goal },
      subject: patientRef(ctx),
      startDate: isoDate(start),
      target: [target],
      expressedBy: ref('Practitioner', ctx.home.pcp.id, ctx.home.pcp.display),
      addresses: [ref('Condition', ctx.problems.get(c.def.key)!)],
    });
  }
  const names = managed.map((c) => c.def.snomed[1].replace(/ \((disorder|finding)\)$/, '').toLowerCase());
  const planPeriod: Json = { start: isoDate(start) };
  if (ended && endDay !== undefined) planPeriod.end = isoDate(endDay);
  ctx.out.push({
    resourceType: 'CarePlan',
    id: nextId(ctx, 'careplan'),
    meta: { profile: [...PROFILE.carePlan] },
    text: narrative(`Chronic care management for ${names.join(', ')}. Assessment: condition(s) followed in primary care with specialist input as needed. Plan: medication adherence, scheduled follow-up visits and laboratory monitoring, self-management education; goals: ${managed.map((c) => MANAGED[c.def.key as keyof typeof MANAGED].goal).join('; ')}.`),
    status: ended ? 'revoked' : 'active',
    intent: 'plan',
    category: [concept('http://hl7.org/fhir/us/core/CodeSystem/careplan-category', 'assess-plan', 'Assessment and Plan of Treatment')],
    title: 'Chronic care management plan',
    subject: patientRef(ctx),
    period: planPeriod,
    created: isoDate(start),
    author: ref('Practitioner', ctx.home.pcp.id, ctx.home.pcp.display),
    careTeam: [ref('CareTeam', teamId)],
    addresses: managed.map((c) => ref('Condition', ctx.problems.get(c.def.key)!)),
    goal: goalIds.map((g) => ref('Goal', g)),
  });
}

const NOTE_TYPE = {
  inpatient: ['18842-5', 'Discharge summary'],
  er: ['34111-5', 'Emergency department Note'],
  specialist: ['11488-4', 'Consult note'],
  office: ['11506-3', 'Progress note'],
} as const;

/** A clinical note (and its Provenance) for admissions, emergency visits and some office visits. */
export function clinicalNote(ctx: MemberContext, rec: EncounterRecord): void {
  const v = rec.visit;
  const kind = v.kind === 'inpatient' ? 'inpatient' : v.kind === 'er' ? 'er' : v.kind === 'specialist' ? 'specialist' : v.kind === 'followup' || v.kind === 'acute' ? 'office' : undefined;
  if (!kind || (kind === 'office' && !ctx.rng.chance(0.2)) || (kind === 'specialist' && !ctx.rng.chance(0.5))) return;
  const [loinc, title] = NOTE_TYPE[kind];
  const when = isoDateTime(v.end, Math.min(v.minute + 240, 23 * 60 + 30));
  const text = `${title} for ${ctx.p.given} ${ctx.p.family}, seen ${isoDate(v.day)} at ${v.org.name} by ${v.clinician.display}. Diagnoses: ${rec.diagnoses.map((d) => `${d[1]} (${d[0]})`).join('; ')}.`;
  const docId = nextId(ctx, 'docref');
  const period: Json = { start: isoDateTime(v.day, v.minute), end: when };
  ctx.out.push({
    resourceType: 'DocumentReference',
    id: docId,
    meta: { profile: [...PROFILE.documentReference] },
    identifier: [{ system: ctx.dir.systems.document, value: docId }],
    status: 'current',
    docStatus: 'final',
    type: concept(SYS.loinc, loinc, title),
    category: [concept(SYS.usCoreDocCategory, 'clinical-note', 'Clinical Note')],
    subject: patientRef(ctx),
    date: when,
    author: [ref('Practitioner', v.clinician.id, v.clinician.display)],
    custodian: ref('Organization', v.org.id, v.org.name),
    content: [{
      attachment: { contentType: 'text/plain; charset=utf-8', data: Buffer.from(text).toString('base64'), title, creation: when },
      format: { system: SYS.formatCode, code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient', display: 'mimeType Sufficient' },
    }],
    context: { encounter: [ref('Encounter', rec.encounterId)], period },
  });
  const provenance: Resource = {
    resourceType: 'Provenance',
    id: nextId(ctx, 'prov'),
    meta: { profile: [...PROFILE.provenance] },
    target: [ref('DocumentReference', docId), ref('Encounter', rec.encounterId)],
    recorded: when,
    agent: [
      { type: concept(SYS.provenanceParticipant, 'author', 'Author'), who: ref('Practitioner', v.clinician.id, v.clinician.display), onBehalfOf: ref('Organization', v.org.id, v.org.name) },
      { type: concept('http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type', 'transmitter', 'Transmitter'), who: ref('Organization', ctx.dir.payer.id, ctx.dir.payer.name) },
    ],
  };
  ctx.out.push(provenance);
}
