/**
 * Sensitive-data security labels on a member's record, the way a payer's data carries them:
 * a resource is labelled (`meta.security`, codes from src/fhir/sensitivity.ts) when its own
 * content reveals a protected diagnosis — a Condition with such a code; a claim or prior
 * authorization listing it; an Encounter whose diagnoses (its reasons or its claim's) include
 * it; a prescription for it and its fills and pharmacy claims; a clinical note of such a visit;
 * a Procedure, Goal or CarePlan addressing it. Vital signs taken at the visit are not labelled:
 * they say nothing about the condition (screenings and monitoring labs that do are labelled
 * where they are made, in screenings.ts).
 *
 * Runs once over the member's finished record, after everything is built, so it needs no
 * hooks in the modules that build resources.
 */
import { SENSITIVE_LABELS, labelsForIcd10, securityCoding } from '../fhir/sensitivity.js';
import type { Resource } from '../fhir/validation.js';
import { SYS, type Json } from './vocabulary.js';

type Labels = Set<string>;
type Ref = { reference?: string };

function icd10Labels(concepts: unknown[], into: Labels): void {
  for (const c of concepts as { coding?: { system?: string; code?: string }[] }[]) {
    for (const coding of c?.coding ?? []) if (coding.system === SYS.icd10cm && coding.code) for (const l of labelsForIcd10(coding.code)) into.add(l.code);
  }
}

function fromRefs(refs: unknown, known: Map<string, Labels>, into: Labels): void {
  for (const r of (Array.isArray(refs) ? refs : refs ? [refs] : []) as Ref[]) {
    const found = r.reference ? known.get(r.reference) : undefined;
    if (found) for (const code of found) into.add(code);
  }
}

/** Adds the labels to `meta.security`, in SENSITIVE_LABELS order, keeping what is there. */
function apply(r: Resource, labels: Labels): void {
  if (!labels.size) return;
  const meta = (r.meta ??= {}) as { security?: { system: string; code: string }[] };
  const have = new Set((meta.security ?? []).map((s) => s.code));
  const add = SENSITIVE_LABELS.filter((l) => labels.has(l.code) && !have.has(l.code)).map((l) => securityCoding(l.code));
  if (add.length) meta.security = [...(meta.security ?? []), ...add];
}

/** Labels every resource of one member's record that reveals a sensitive diagnosis. */
export function labelSensitive(out: Resource[]): void {
  const conditions = new Map<string, Labels>();
  const encounters = new Map<string, Labels>();
  const prescriptions = new Map<string, Labels>();
  const key = (r: Resource) => `${r.resourceType}/${r.id}`;
  // Diagnoses first: Conditions, then claims and prior authorizations (which also tell what
  // each billed encounter was for).
  for (const r of out) {
    if (r.resourceType !== 'Condition') continue;
    const labels: Labels = new Set();
    icd10Labels([r.code], labels);
    apply(r, labels);
    if (labels.size) conditions.set(key(r), labels);
  }
  for (const r of out) {
    if (r.resourceType !== 'ExplanationOfBenefit' || !r.diagnosis) continue;
    const labels: Labels = new Set();
    icd10Labels((r.diagnosis as Json[]).map((d) => d.diagnosisCodeableConcept), labels);
    apply(r, labels);
    if (!labels.size) continue;
    for (const item of (r.item ?? []) as Json[]) {
      for (const enc of (item.encounter ?? []) as Ref[]) {
        const set = encounters.get(enc.reference!) ?? new Set<string>();
        for (const c of labels) set.add(c);
        encounters.set(enc.reference!, set);
      }
    }
  }
  for (const r of out) {
    const labels: Labels = new Set();
    switch (r.resourceType) {
      case 'Encounter':
        fromRefs(r.reasonReference, conditions, labels);
        icd10Labels((r.reasonCode ?? []) as unknown[], labels);
        for (const c of encounters.get(key(r)) ?? []) labels.add(c);
        if (labels.size) encounters.set(key(r), labels);
        break;
      case 'MedicationRequest':
        fromRefs(r.reasonReference, conditions, labels);
        if (labels.size) prescriptions.set(key(r), labels);
        break;
      case 'Procedure':
        fromRefs(r.reasonReference, conditions, labels);
        break;
      case 'Goal':
      case 'CarePlan':
        fromRefs(r.addresses, conditions, labels);
        break;
      default:
        continue;
    }
    apply(r, labels);
  }
  // What follows from encounters and prescriptions: notes, fills and pharmacy claims.
  for (const r of out) {
    const labels: Labels = new Set();
    if (r.resourceType === 'DocumentReference') fromRefs((r.context as Json | undefined)?.encounter, encounters, labels);
    else if (r.resourceType === 'MedicationDispense') fromRefs(r.authorizingPrescription, prescriptions, labels);
    else if (r.resourceType === 'ExplanationOfBenefit' && r.prescription) fromRefs(r.prescription, prescriptions, labels);
    else continue;
    apply(r, labels);
  }
}
