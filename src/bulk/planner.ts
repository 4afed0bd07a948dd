/**
 * Splits an export into work units: each exported type into key ranges of about
 * EXPORT_UNIT_SIZE resources (system level, all patients), or the job's patients into
 * chunks of EXPORT_UNIT_PATIENTS (Group exports, patient= lists, organizeOutputBy). Units
 * are independent, so workers in any process can run them in any order.
 */
import type pg from 'pg';
import { patientCompartmentTypes } from '../fhir/compartment.js';
import type { ExportConfig } from '../config.js';
import { isResourceType } from '../fhir/schema.js';
import { planAuditUnits } from './audit-unit.js';
import { compartmentExportTypes } from './parameters.js';
import { hasMembers, mayRead, type JobSpec, type PlannedUnit } from './unit-query.js';
import { storedTypes } from '../store/resource-ids.js';

export type { PlannedUnit } from './unit-query.js';

/** The types the job exports: asked (or all the level allows), present, and readable under the client's scopes. */
export async function exportTypes(db: pg.Pool, job: JobSpec): Promise<string[]> {
  const stored = new Set(await storedTypes(db, job.tenant));
  // Only R4 types: stored ViewDefinitions (src/fhir/schema.ts additionalResourceTypes) are not member data.
  const candidates = job.params.types ?? (job.params.level === 'system' ? [...stored].filter(isResourceType).sort() : compartmentExportTypes());
  return candidates.filter((t) => stored.has(t) && mayRead(job, t));
}

/** Boundaries splitting `ids` of one type into ranges of `size`: [null, b1), [b1, b2) … [bk, null). */
export async function idRanges(db: pg.Pool, tenant: string, type: string, size: number): Promise<[string | null, string | null][]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM resource WHERE tenant = $1 AND type = $2) s
      WHERE n % $3 = 1 AND n > 1 ORDER BY id`,
    [tenant, type, size],
  );
  return ranges(rows.map((r) => r.id));
}

function ranges(bounds: string[]): [string | null, string | null][] {
  const out: [string | null, string | null][] = [];
  let lo: string | null = null;
  for (const b of bounds) {
    out.push([lo, b]);
    lo = b;
  }
  out.push([lo, null]);
  return out;
}

/** Patient-id chunks of the job's members, or of every Patient when the export has no member list. */
export async function patientRanges(db: pg.Pool, job: JobSpec, size: number): Promise<[string | null, string | null][]> {
  const { rows } = hasMembers(job)
    ? await db.query<{ id: string }>(
        `SELECT patient_id AS id FROM (SELECT patient_id, row_number() OVER (ORDER BY patient_id) AS n FROM export_member WHERE job_id = $1) s
          WHERE (n - 1) % $2 = 0 AND n > 1 ORDER BY patient_id`,
        [job.id, size],
      )
    : await db.query<{ id: string }>(
        `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM resource WHERE tenant = $1 AND type = 'Patient') s
          WHERE (n - 1) % $2 = 0 AND n > 1 ORDER BY id`,
        [job.tenant, size],
      );
  return ranges(rows.map((r) => r.id));
}

export async function planUnits(db: pg.Pool, job: JobSpec, cfg: ExportConfig): Promise<PlannedUnit[]> {
  // Fresh statistics for the member lists, so unit statements join them sensibly.
  if (hasMembers(job)) await db.query('ANALYZE export_member');
  const types = await exportTypes(db, job);
  const units: PlannedUnit[] = [];
  const level = job.params.level;
  const compartment = new Set(patientCompartmentTypes());
  const latestProvenance = job.params.provenance === 'latest';

  if (level !== 'system' && job.params.organizeBy === 'Patient') {
    for (const [lo, hi] of await patientRanges(db, job, cfg.unitPatients)) units.push({ kind: 'organized', type: null, lo, hi });
  }
  // The audit trail is exported only when asked for by name (and readable: an explicit AuditEvent scope).
  if (level === 'system' && job.params.types?.includes('AuditEvent') && mayRead(job, 'AuditEvent')) {
    units.push(...(await planAuditUnits(db, job, cfg.unitSize)));
  }
  for (const type of types) {
    if (level === 'system') {
      const kind = type === 'Provenance' && latestProvenance ? 'provenance' : 'resources';
      for (const [lo, hi] of await idRanges(db, job.tenant, type, cfg.unitSize)) units.push({ kind, type, lo, hi });
    } else if (type === 'Provenance') {
      // Provenance of anything in the exported compartments, not only of the Patient (KO-26).
      for (const [lo, hi] of await idRanges(db, job.tenant, type, cfg.unitSize)) units.push({ kind: 'provenance', type, lo, hi });
    } else if (compartment.has(type)) {
      if (job.params.organizeBy === 'Patient') continue;
      if (hasMembers(job)) {
        for (const [lo, hi] of await patientRanges(db, job, cfg.unitPatients)) units.push({ kind: 'members', type, lo, hi });
      } else {
        for (const [lo, hi] of await idRanges(db, job.tenant, type, cfg.unitSize)) units.push({ kind: 'resources', type, lo, hi });
      }
    } else {
      // Outside the compartment (the usual REFERENCED_TYPES, or a type asked for by _type):
      // the resources of that type that the exported patients' resources reference.
      units.push({ kind: 'referenced', type, lo: null, hi: null });
    }
    if (job.params.since) units.push({ kind: 'deleted', type, lo: null, hi: null });
  }
  return units;
}

/** Compartment types an organized (by Patient) export writes into its Patient blocks. */
export function organizedTypes(types: string[]): string[] {
  const compartment = new Set(patientCompartmentTypes());
  return types.filter((t) => compartment.has(t) && t !== 'Provenance');
}
