/**
 * The SQL of one export work unit. Each statement yields the stored JSON text of the
 * resources the unit owns (one row each), ready to stream through `COPY … TO STDOUT`
 * without being parsed or re-serialised.
 *
 * Every statement sees the export as of its transactionTime (KO-44): resources changed later
 * contribute their latest version at or before it, from history; search filters
 * (`_typeFilter`, granular scopes) are evaluated on the index of the current version.
 */
import { Access } from '../auth/access.js';
import { ForbiddenError } from '../errors.js';
import { patientCompartmentTypes } from '../fhir/compartment.js';
import { Binds, filterCondition, type Subject } from '../search/conditions.js';
import { parseFilter, type Filter } from '../search/parse.js';
import { FINANCIAL_TYPES, partnerContentSql } from '../policy/basis.js';
import { ALLOWED_MEMBERS, memberAdmission, policyCondition, type MemberHint, type PolicyRule } from '../policy/conditions.js';
import type { RestrictingPolicy } from '../policy/partner-policy.js';
import { guardFilter, policyFilter } from '../search/policy-filter.js';
import { scopeFilter } from '../search/scope.js';
import type { ExportParams } from './parameters.js';

/** `view`: a `$viewdefinition-export` unit — one view (its index in the job, as `type`) over an id or member range. */
export type UnitKind = 'plan' | 'resources' | 'members' | 'referenced' | 'provenance' | 'organized' | 'deleted' | 'audit' | 'view';

/** A unit as planned: its kind, resource type and key range [lo, hi). */
export interface PlannedUnit {
  kind: UnitKind;
  type: string | null;
  lo: string | null;
  hi: string | null;
}

export interface Unit {
  jobId: string;
  seq: number;
  kind: UnitKind;
  type: string | null;
  lo: string | null;
  hi: string | null;
}

export interface JobSpec {
  id: string;
  tenant: string;
  base: string;
  params: ExportParams;
  scope: string;
  clientId: string;
  transactionTime: Date;
  /** The partner access policy the export was started under; undefined for `internal`. */
  policy?: RestrictingPolicy;
}

export interface Statement {
  sql: string;
  values: unknown[];
}

/** The policy as applied now: each unit re-checks opt-outs and consents when it runs. */
export function jobRule(job: JobSpec): PolicyRule | undefined {
  return job.policy ? { policy: job.policy, now: new Date() } : undefined;
}

/**
 * The search filters a type's rows must satisfy: the client's granular scopes AND its
 * `_typeFilter`s AND, under a partner policy, the policy (also inside their chains and _has).
 */
export function typeFilters(job: JobSpec, type: string, members?: MemberHint): Filter[] {
  const out: Filter[] = [];
  const granted = new Access(job.clientId, job.scope).require(type, 'r');
  if (granted) out.push(scopeFilter(type, granted));
  const queries = job.params.typeFilters[type];
  if (queries?.length) {
    const groups = queries.map((q) => [...new URLSearchParams(q)].map(([k, v]) => parseFilter(type, k, v)).filter((f): f is Filter => f !== undefined));
    out.push({ kind: 'any', groups });
  }
  const rule = jobRule(job);
  return rule ? [...out.map((f) => guardFilter(f, rule)), policyFilter(rule, [type], members)] : out;
}

/** Whether the client may read `type` at all (its scopes, regardless of granular filters). */
export function mayRead(job: Pick<JobSpec, 'clientId' | 'scope'>, type: string): boolean {
  try {
    new Access(job.clientId, job.scope).require(type, 'r');
    return true;
  } catch (err) {
    if (err instanceof ForbiddenError) return false;
    throw err;
  }
}

/** `r` (a row of resource or its historic stand-in) is in the compartment of an exported patient. */
function inCompartment(b: Binds, job: JobSpec, type: string, id: string, patients?: { lo: string | null; hi: string | null }, lastUpdated?: string, allowed?: (patient: string) => string): string {
  if (job.params.level === 'system') return 'TRUE';
  if (!hasMembers(job)) return `EXISTS (SELECT 1 FROM resource_compartment c WHERE c.tenant = $1 AND c.type = ${type} AND c.id = ${id})`;
  const jobId = b.add(job.id, 'uuid');
  const range = patients ? `${patients.lo !== null ? ` AND m.patient_id >= ${b.add(patients.lo)}` : ''}${patients.hi !== null ? ` AND m.patient_id < ${b.add(patients.hi)}` : ''}` : '';
  // provider-delta: each member's data changed after its own lastTransmitted.
  const since = job.params.davinci?.exportType === 'hl7.fhir.us.davinci-pdex#provider-delta' && lastUpdated ? ` AND (m.since IS NULL OR ${lastUpdated} > m.since)` : '';
  // `allowed`: only members the partner policy admits count (see membersUnit).
  let sql = `EXISTS (SELECT 1 FROM resource_compartment c JOIN export_member m ON m.job_id = ${jobId} AND m.patient_id = c.patient_id
    WHERE c.tenant = $1 AND c.type = ${type} AND c.id = ${id}${range}${since}${allowed ? ` AND ${allowed('m.patient_id')}` : ''})`;
  // A resource in several members' compartments belongs to the unit of its first (admitted) member only.
  if (patients?.lo != null) {
    sql += ` AND NOT EXISTS (SELECT 1 FROM resource_compartment c2 JOIN export_member m2 ON m2.job_id = ${jobId} AND m2.patient_id = c2.patient_id
      WHERE c2.tenant = $1 AND c2.type = ${type} AND c2.id = ${id} AND c2.patient_id < ${b.add(patients.lo)}${allowed ? ` AND ${allowed('m2.patient_id')}` : ''})`;
  }
  return sql;
}

/** Group exports and `patient=` lists resolve their patients into export_member at kick-off. */
export function hasMembers(job: JobSpec): boolean {
  return job.params.level === 'group' || job.params.patients !== undefined;
}

/** The JSON column a line is made of: under a partner policy, a financial type's stored Basis rendition (src/policy/basis.ts). */
function servedContent(job: JobSpec, type: string, alias: string): string {
  return job.policy ? partnerContentSql(alias, FINANCIAL_TYPES.has(type)) : `${alias}.content`;
}

/** A unit's own resource row: its last_updated and stored date of service are in scope. */
type RowSubject = Subject & { lastUpdated: string };

/** Conditions on a version's last_updated: after `_since`, before `_until`. */
function changed(b: Binds, job: JobSpec, col: string): string {
  const parts: string[] = [];
  if (job.params.since) parts.push(`${col} > ${b.add(job.params.since, 'timestamptz')}`);
  if (job.params.until) parts.push(`${col} < ${b.add(job.params.until, 'timestamptz')}`);
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

/**
 * Rows of `type` as of transactionTime that satisfy `where` (SQL over `r.type`, `r.id`,
 * `r.last_updated`): current versions written up to it, plus the version current at it for
 * resources rewritten since.
 */
function asOf(b: Binds, job: JobSpec, type: string, where: (subject: RowSubject) => string, extraSelect = ''): string {
  const t = b.add(type);
  const tt = b.add(job.transactionTime, 'timestamptz');
  const now = where({ type: 'r.type', id: 'r.id', lastUpdated: 'r.last_updated', serviceDate: 'r.service_date' });
  return `SELECT ${extraSelect}${servedContent(job, type, 'r')} FROM resource r
      WHERE r.tenant = $1 AND r.type = ${t} AND NOT r.deleted AND r.last_updated <= ${tt} AND ${changed(b, job, 'r.last_updated')} AND ${now}
    UNION ALL
    SELECT ${extraSelect}${servedContent(job, type, 'h')} FROM resource r
      CROSS JOIN LATERAL (SELECT content, basis, deleted, last_updated FROM resource_history h
        WHERE h.tenant = r.tenant AND h.type = r.type AND h.id = r.id AND h.last_updated <= ${tt}
        ORDER BY h.version DESC LIMIT 1) h
      WHERE r.tenant = $1 AND r.type = ${t} AND r.last_updated > ${tt} AND NOT h.deleted AND ${changed(b, job, 'h.last_updated')} AND ${now}`;
}

function filtersSql(b: Binds, job: JobSpec, type: string, subject: RowSubject, members?: MemberHint): string {
  const parts = typeFilters(job, type, members).map((f) => filterCondition(b, f, subject, job.base));
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

function idRange(b: Binds, unit: Unit, col: string): string {
  const parts: string[] = [];
  if (unit.lo !== null) parts.push(`${col} >= ${b.add(unit.lo)}`);
  if (unit.hi !== null) parts.push(`${col} < ${b.add(unit.hi)}`);
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

/** Provenance whose target is in the exported compartments (KO-26); `latest`: only the newest per target. */
function provenanceCondition(b: Binds, job: JobSpec, s: { type: string; id: string; lastUpdated: string }): string {
  const target = job.params.level === 'system' ? 'TRUE' : inCompartment(b, job, 'x.target_type', 'x.target_id');
  const latest =
    job.params.provenance === 'latest'
      ? ` AND NOT EXISTS (SELECT 1 FROM search_reference y JOIN resource p ON p.tenant = $1 AND p.type = 'Provenance' AND p.id = y.id AND NOT p.deleted
          WHERE y.tenant = $1 AND y.type = 'Provenance' AND y.param = 'target' AND y.target_type = x.target_type AND y.target_id = x.target_id
            AND (p.last_updated, p.id) > (${s.lastUpdated}, ${s.id}))`
      : '';
  return `EXISTS (SELECT 1 FROM search_reference x WHERE x.tenant = $1 AND x.type = 'Provenance' AND x.id = ${s.id} AND x.param = 'target' AND x.target_type IS NOT NULL AND ${target}${latest})`;
}

/**
 * A member-list unit's condition. Under a policy whose member rule does not depend on the row
 * (provider-access), the unit's members are narrowed to those the policy admits, once per
 * member in the compartment lookup the unit makes anyway, and the policy's own per-row member
 * check is then already answered (ALLOWED_MEMBERS): a row in an admitted member's compartment
 * is exactly what it asks. Dates of service and the rest are still checked per row.
 */
function membersUnit(b: Binds, job: JobSpec, unit: Unit, type: string, s: RowSubject): string {
  const rule = jobRule(job);
  const admits = rule && memberAdmission(b, rule);
  return `${inCompartment(b, job, s.type, s.id, unit, s.lastUpdated, admits)} AND ${filtersSql(b, job, type, s, admits ? ALLOWED_MEMBERS : undefined)}`;
}

/** The statement whose rows are the unit's NDJSON lines. */
export function unitStatement(job: JobSpec, unit: Unit): Statement {
  const b = new Binds(job.tenant);
  const type = unit.type!;
  let sql: string;
  switch (unit.kind) {
    case 'resources':
      // System level, or all patients (then restricted to resources in some compartment).
      sql = asOf(b, job, type, (s) => `${idRange(b, unit, s.id)} AND ${inCompartment(b, job, s.type, s.id)} AND ${filtersSql(b, job, type, s)}`);
      break;
    case 'members':
      sql = asOf(b, job, type, (s) => membersUnit(b, job, unit, type, s));
      break;
    case 'provenance':
      sql = asOf(b, job, type, (s) => `${idRange(b, unit, s.id)} AND ${provenanceCondition(b, job, s)} AND ${filtersSql(b, job, type, s)}`);
      break;
    case 'referenced':
      // Non-compartment resources the exported members' resources refer to (DL-07).
      sql = asOf(
        b,
        job,
        type,
        (s) =>
          `EXISTS (SELECT 1 FROM search_reference x WHERE x.tenant = $1 AND x.target_type = ${s.type} AND x.target_id = ${s.id}
            AND ${inCompartment(b, job, 'x.type', 'x.id')}) AND ${filtersSql(b, job, type, s)}`,
      );
      break;
    case 'deleted':
      return deletedStatement(job, unit);
    default:
      throw new Error(`unit kind ${unit.kind} has no row statement`);
  }
  return { sql, values: b.values };
}

/**
 * The stored JSON of `type` a view export unit reads, as of transactionTime: the unit's id
 * range (or, with a member list, the compartments of its range of members) under `filters`
 * — what src/views/access.ts viewReadFilters allows the job's reader, scopes and partner policy.
 */
export function viewUnitStatement(job: JobSpec, unit: Unit, type: string, filters: Filter[]): Statement {
  const b = new Binds(job.tenant);
  const sql = asOf(b, job, type, (s) => {
    const where = hasMembers(job) ? inCompartment(b, job, s.type, s.id, unit, s.lastUpdated) : idRange(b, unit, s.id);
    const conditions = filters.map((f) => filterCondition(b, f, s, job.base));
    return [where, ...conditions].join(' AND ');
  });
  return { sql, values: b.values };
}

/**
 * organizeOutputBy=Patient (KO-28): for the unit's patients in id order, each patient's
 * compartment resources of the exported types — the Patient first — as (patient, json) rows.
 */
export function organizedStatement(job: JobSpec, unit: Unit, types: string[]): Statement {
  const b = new Binds(job.tenant);
  const tt = b.add(job.transactionTime, 'timestamptz');
  const members = hasMembers(job)
    ? `SELECT patient_id FROM export_member m WHERE m.job_id = ${b.add(job.id, 'uuid')} AND ${idRange(b, unit, 'm.patient_id')}`
    : `SELECT id AS patient_id FROM resource m WHERE m.tenant = $1 AND m.type = 'Patient' AND NOT m.deleted AND ${idRange(b, unit, 'm.id')}`;
  const perType = types.map((type) => {
    const t = b.add(type);
    const filters = filtersSql(b, job, type, { type: 'r.type', id: 'r.id', lastUpdated: 'r.last_updated', serviceDate: 'r.service_date' });
    return `SELECT c.patient_id, r.type, r.id, CASE WHEN r.last_updated <= ${tt} THEN ${servedContent(job, type, 'r')} ELSE ${servedContent(job, type, 'h')} END AS content
      FROM resource_compartment c JOIN resource r ON r.tenant = $1 AND r.type = c.type AND r.id = c.id
      LEFT JOIN LATERAL (SELECT content, basis, deleted, last_updated FROM resource_history h
        WHERE r.last_updated > ${tt} AND h.tenant = r.tenant AND h.type = r.type AND h.id = r.id AND h.last_updated <= ${tt}
        ORDER BY h.version DESC LIMIT 1) h ON TRUE
      WHERE c.tenant = $1 AND c.type = ${t} AND c.patient_id IN (SELECT patient_id FROM mem)
        AND CASE WHEN r.last_updated <= ${tt} THEN NOT r.deleted AND ${changed(b, job, 'r.last_updated')}
                 ELSE h.content IS NOT NULL AND NOT h.deleted AND ${changed(b, job, 'h.last_updated')} END
        AND ${filters}`;
  });
  const sql = `WITH mem AS (${members})
    SELECT patient_id, content FROM (${perType.join('\n    UNION ALL\n    ')}) o
    ORDER BY patient_id, (type <> 'Patient'), type, id`;
  return { sql, values: b.values };
}

/**
 * Resources of `type` deleted after `_since` and up to transactionTime (ST-09), as DELETE
 * Bundle lines built by PostgreSQL. At Patient and Group level the tombstone's compartment
 * membership (kept at deletion) says whose it was. Filters cannot apply to a deletion.
 */
export function deletedStatement(job: JobSpec, unit: Unit): Statement {
  const b = new Binds(job.tenant);
  const type = unit.type!;
  const t = b.add(type);
  const tt = b.add(job.transactionTime, 'timestamptz');
  const sql = `SELECT json_build_object('resourceType', 'Bundle', 'type', 'transaction',
      'entry', json_build_array(json_build_object('request', json_build_object('method', 'DELETE', 'url', r.type || '/' || r.id))))::text
    FROM resource r
    WHERE r.tenant = $1 AND r.type = ${t} AND r.deleted AND r.last_updated <= ${tt} AND ${changed(b, job, 'r.last_updated')}
      AND ${idRange(b, unit, 'r.id')} AND ${inCompartment(b, job, 'r.type', 'r.id')}`;
  return { sql, values: b.values };
}

/** The unit's members (by its patient range) that the partner policy does not allow as it runs. */
export function withheldStatement(job: JobSpec, rule: PolicyRule, unit: Pick<Unit, 'lo' | 'hi'>): Statement {
  const b = new Binds(job.tenant);
  const allowed = policyCondition(b, rule, 'Patient', { type: "'Patient'", id: 'm.patient_id' });
  const sql = `SELECT m.patient_id FROM export_member m WHERE m.job_id = ${b.add(job.id, 'uuid')} AND ${idRange(b, unit as Unit, 'm.patient_id')}
    AND NOT (${allowed}) ORDER BY m.patient_id`;
  return { sql, values: b.values };
}

/** Types whose Patient/Group export runs through the compartment. */
export function isCompartmentType(type: string): boolean {
  return patientCompartmentTypes().includes(type);
}
