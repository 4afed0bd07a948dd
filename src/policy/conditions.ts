/**
 * The partner access policy as SQL: one condition that says whether a resource may be seen
 * under a provider-access or payer-to-payer policy. Every interaction that lists or returns
 * resources — search (with its includes, chains and `_has`), read, vread, history,
 * `$everything`, every export unit — puts this condition in its statement, so paging, counts
 * and totals are right and nothing is filtered after the fact. README "CMS interoperability"
 * describes the rules; src/fhir/partner-index.ts feeds the tables they read.
 *
 * A resource is visible when
 * - it belongs to an allowed member: a Patient that is one, a resource in the Patient
 *   compartment of one (resource_compartment), an implantable Device whose patient is one;
 *   Groups only when they are the client's own lists; Consents (payer-to-payer) only those
 *   naming the client as recipient; a Binary when a resource it may see holds it as an
 *   attachment; the provider and knowledge directory always; anything else (unknown kinds of
 *   data) never;
 * - it has a date of service within the policy's look-back (src/fhir/service-dates.ts, stored as resource.service_date);
 * - payer-to-payer: it carries no sensitive-data label unless the member's consent is
 *   `#sensitive`, and a prior authorization is active or changed within the last year;
 * - a Provenance: every resource it targets is visible too (otherwise it would show a withheld
 *   resource's id, author and time).
 *
 * Allowed members: provider-access — attributed to the client's organisation on a usable
 * attribution list, within the list's contract period and the member's attribution period,
 * and not opted out (an opt-out Consent in force not withdrawn by a later permit);
 * payer-to-payer — matched by this very client, with an opt-in Consent in force naming the
 * client's organisation as recipient. `now` is bound per request (and per export unit), so a
 * new opt-out or a revoked consent takes effect on the next request or unit.
 */
import { ATTACHMENT_HOLDERS, ATTACHMENT_PARAM } from '../fhir/attachment.js';
import { patientCompartmentTypes } from '../fhir/compartment.js';
import { SECURITY_LABEL_SYSTEM, SENSITIVE_LABEL_CODES as SENSITIVE_CODES } from '../fhir/sensitivity.js';
import type { RestrictingPolicy } from './partner-policy.js';
import { SERVICE_DATE_PARAMS } from '../fhir/service-dates.js';
import { PAYER_TO_PAYER_YEARS, PRIOR_AUTH_CHANGE_YEARS, PROVIDER_ACCESS_FLOOR, yearsBefore } from './service-dates.js';

/**
 * What a statement's own conditions say about whose data its rows are: one member's (a patient
 * id: every row is in that member's compartment), or ALLOWED_MEMBERS (every row is in the
 * compartment of a member memberAdmission admits). Lets the member rule be answered once
 * instead of per row; the rule itself is the same.
 */
export const ALLOWED_MEMBERS = Symbol('allowed-members');
export type MemberHint = string | typeof ALLOWED_MEMBERS;

/** A policy as applied at one moment. */
export interface PolicyRule {
  policy: RestrictingPolicy;
  now: Date;
}

/** Adds bind parameters to the statement being built (search/conditions.ts `Binds`); `$1` is the tenant. */
export interface BindSink {
  add(value: unknown, cast?: string): string;
  nextAlias(prefix: string): string;
}

/** SQL expressions for the resource under test. */
export interface PolicySubject {
  type: string;
  id: string;
  /** Its stored date of service (resource.service_date), where its current row is at hand. */
  serviceDate?: string;
}

export const PRIOR_AUTH_PROFILE = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-priorauthorization';

/** Non-member data every partner may see: the provider directory and definitional resources. */
const OPEN_TYPES = new Set([
  'Practitioner', 'PractitionerRole', 'Organization', 'OrganizationAffiliation', 'Location', 'Endpoint', 'HealthcareService', 'InsurancePlan',
  'Medication', 'MedicationKnowledge', 'Substance', 'Questionnaire', 'ValueSet', 'CodeSystem', 'ConceptMap', 'NamingSystem', 'StructureDefinition',
  'SearchParameter', 'OperationDefinition', 'CapabilityStatement', 'CompartmentDefinition', 'ImplementationGuide', 'Library', 'Measure',
  'PlanDefinition', 'ActivityDefinition',
]);

let compartmentTypes: Set<string> | undefined;
function inCompartment(type: string): boolean {
  compartmentTypes ??= new Set(patientCompartmentTypes());
  return compartmentTypes.has(type);
}

/** The earliest date of service the policy sends. */
export function serviceFloor(rule: PolicyRule): Date {
  return rule.policy.kind === 'provider-access' ? PROVIDER_ACCESS_FLOOR : yearsBefore(rule.now, PAYER_TO_PAYER_YEARS);
}

function inForce(b: BindSink, alias: string, low: string, high: string, now: string): string {
  return `(${alias}.${low} IS NULL OR ${alias}.${low} <= ${now}) AND (${alias}.${high} IS NULL OR ${alias}.${high} > ${now})`;
}

/** `patient` (SQL) is a member the policy allows; `labelled` (SQL) says the resource carries a sensitive label. */
function memberAllowed(b: BindSink, rule: PolicyRule, patient: string, labelled: string | undefined): string {
  const now = b.add(rule.now.toISOString(), 'timestamptz');
  const org = rule.policy.organization;
  if (rule.policy.kind === 'provider-access') {
    const g = b.nextAlias('pg');
    const m = b.nextAlias('pm');
    const d = b.nextAlias('pd');
    const w = b.nextAlias('pw');
    return `EXISTS (SELECT 1 FROM partner_group_member ${m} JOIN partner_group ${g} ON ${g}.tenant = ${m}.tenant AND ${g}.group_id = ${m}.group_id
        WHERE ${m}.tenant = $1 AND ${m}.patient_id = ${patient} AND ${g}.kind = 'attribution' AND ${g}.usable
          AND ${g}.org_system = ${b.add(org.system)} AND ${g}.org_value = ${b.add(org.value)}
          AND ${inForce(b, g, 'valid_low', 'valid_high', now)} AND ${inForce(b, m, 'low', 'high', now)})
      AND NOT EXISTS (SELECT 1 FROM consent_rule ${d}
        WHERE ${d}.tenant = $1 AND ${d}.patient_id = ${patient} AND ${d}.purpose = 'provider-access' AND ${d}.decision = 'deny' AND ${inForce(b, d, 'low', 'high', now)}
          AND NOT EXISTS (SELECT 1 FROM consent_rule ${w} WHERE ${w}.tenant = $1 AND ${w}.patient_id = ${patient} AND ${w}.purpose = 'provider-access'
            AND ${w}.decision = 'permit' AND ${w}.low > coalesce(${d}.low, '-infinity') AND ${w}.low <= ${now}))`;
  }
  const mm = b.nextAlias('mm');
  const c = b.nextAlias('pc');
  const level = labelled ? ` AND (${c}.level = 'sensitive' OR NOT ${labelled})` : '';
  return `EXISTS (SELECT 1 FROM member_match ${mm} WHERE ${mm}.tenant = $1 AND ${mm}.client_id = ${b.add(rule.policy.clientId)} AND ${mm}.patient_id = ${patient})
    AND EXISTS (SELECT 1 FROM consent_rule ${c}
      WHERE ${c}.tenant = $1 AND ${c}.patient_id = ${patient} AND ${c}.purpose = 'payer-to-payer' AND ${c}.decision = 'permit'
        AND ${c}.recipient_system = ${b.add(org.system)} AND ${c}.recipient_value = ${b.add(org.value)} AND ${inForce(b, c, 'low', 'high', now)}${level})`;
}

/**
 * SQL that a member (`patient`, SQL) is one the policy allows, for statements that confine
 * their rows to allowed members' compartments themselves (export units of a member list);
 * undefined where the policy's member rule also depends on the row (payer-to-payer's
 * sensitive labels). Binds are added only when the returned function is called.
 */
export function memberAdmission(b: BindSink, rule: PolicyRule): ((patient: string) => string) | undefined {
  return rule.policy.kind === 'provider-access' ? (patient) => memberAllowed(b, rule, patient, undefined) : undefined;
}

/** The resource carries a sensitive-data security label. */
function labelledSql(b: BindSink, type: string, s: PolicySubject): string {
  const t = b.nextAlias('sl');
  return `EXISTS (SELECT 1 FROM search_token ${t} WHERE ${t}.tenant = $1 AND ${t}.type = ${b.add(type)} AND ${t}.id = ${s.id} AND ${t}.param = '_security'
    AND ${t}.system = ${b.add(SECURITY_LABEL_SYSTEM)} AND ${t}.code = ANY(${b.add(SENSITIVE_CODES, 'text[]')}))`;
}

/** Which members' data the resource is: the condition that one of them is allowed. */
function memberCondition(b: BindSink, rule: PolicyRule, type: string, s: PolicySubject, patient?: MemberHint): string {
  // Built only where used: PostgreSQL refuses a statement with unreferenced parameters.
  const labelledFor = () => (rule.policy.kind === 'payer-to-payer' ? labelledSql(b, type, s) : undefined);
  if (type === 'Patient') return `(${memberAllowed(b, rule, s.id, labelledFor())})`;
  if (type === 'Group') {
    const g = b.nextAlias('og');
    const kind = rule.policy.kind === 'provider-access' ? 'attribution' : 'match';
    return `EXISTS (SELECT 1 FROM partner_group ${g} WHERE ${g}.tenant = $1 AND ${g}.group_id = ${s.id} AND ${g}.kind = '${kind}'
      AND ${g}.org_system = ${b.add(rule.policy.organization.system)} AND ${g}.org_value = ${b.add(rule.policy.organization.value)})`;
  }
  if (type === 'Consent') {
    if (rule.policy.kind === 'provider-access') return 'FALSE';
    const c = b.nextAlias('oc');
    return `EXISTS (SELECT 1 FROM consent_rule ${c} WHERE ${c}.tenant = $1 AND ${c}.consent_id = ${s.id} AND ${c}.purpose = 'payer-to-payer'
      AND ${c}.recipient_system = ${b.add(rule.policy.organization.system)} AND ${c}.recipient_value = ${b.add(rule.policy.organization.value)}
      AND ${memberAllowed(b, rule, `${c}.patient_id`, undefined)})`;
  }
  if (type === 'Binary') {
    // A Binary is the document of a resource whose Attachment points to it (fhir/attachment.ts):
    // it goes to whoever may see that resource. Payer-to-payer: one labelled sensitive itself is
    // withheld whatever the consent (its label is not tied to a member's consent here).
    const a = b.nextAlias('ab');
    const holders = policyConditionForTypes(b, rule, [...ATTACHMENT_HOLDERS].sort(), { type: `${a}.type`, id: `${a}.id` });
    const own = rule.policy.kind === 'payer-to-payer' ? ` AND NOT ${labelledSql(b, 'Binary', s)}` : '';
    return `(EXISTS (SELECT 1 FROM search_reference ${a} WHERE ${a}.tenant = $1 AND ${a}.target_type = 'Binary' AND ${a}.target_id = ${s.id}
      AND ${a}.param = '${ATTACHMENT_PARAM}' AND ${holders})${own})`;
  }
  if (type === 'Device') {
    const r = b.nextAlias('dv');
    return `EXISTS (SELECT 1 FROM search_reference ${r} WHERE ${r}.tenant = $1 AND ${r}.type = 'Device' AND ${r}.id = ${s.id} AND ${r}.param = 'patient'
      AND ${r}.target_type = 'Patient' AND ${memberAllowed(b, rule, `${r}.target_id`, labelledFor())})`;
  }
  if (inCompartment(type)) {
    const c = b.nextAlias('cm');
    const labelled = labelledFor();
    const any = `EXISTS (SELECT 1 FROM resource_compartment ${c} WHERE ${c}.tenant = $1 AND ${c}.type = ${b.add(type)} AND ${c}.id = ${s.id}
      AND ${memberAllowed(b, rule, `${c}.patient_id`, labelled)})`;
    if (!patient || labelled) return any;
    // Every row is already in an allowed member's compartment: that is this rule.
    if (patient === ALLOWED_MEMBERS) return 'TRUE';
    // Every row is `patient`'s (the statement's own filters see to it: a search by patient, a
    // compartment search, $everything): whether that member is allowed does not depend on the
    // row, so PostgreSQL answers it once per statement (an InitPlan) instead of checking
    // attribution and opt-out again for every row.
    return `((${memberAllowed(b, rule, b.add(patient), undefined)}) OR ${any})`;
  }
  return OPEN_TYPES.has(type) ? 'TRUE' : 'FALSE';
}

/**
 * A date of service on or after the policy's floor: the latest one stored with the row
 * (store/migration-service-date.ts) where the row is at hand and its value known, otherwise
 * the dates themselves looked up in the search index — the same answer, one index probe more.
 */
function serviceDateCondition(b: BindSink, rule: PolicyRule, type: string, s: PolicySubject): string | undefined {
  const params = SERVICE_DATE_PARAMS[type];
  if (!params) return undefined;
  const floor = b.add(serviceFloor(rule).toISOString(), 'timestamptz');
  const d = b.nextAlias('sd');
  const lookup = `EXISTS (SELECT 1 FROM search_date ${d} WHERE ${d}.tenant = $1 AND ${d}.type = ${b.add(type)} AND ${d}.id = ${s.id}
    AND ${d}.param = ANY(${b.add(params, 'text[]')}) AND ${d}.high > ${floor})`;
  return s.serviceDate ? `(CASE WHEN ${s.serviceDate} IS NULL THEN ${lookup} ELSE ${s.serviceDate} > ${floor} END)` : lookup;
}

/** Payer-to-Payer: a prior authorization goes only while active (its service period not over) or changed within the year. */
function priorAuthCondition(b: BindSink, rule: PolicyRule, s: PolicySubject): string {
  const p = b.nextAlias('pa');
  const r = b.nextAlias('pr');
  const st = b.nextAlias('ps');
  const sd = b.nextAlias('pe');
  const now = b.add(rule.now.toISOString(), 'timestamptz');
  return `(NOT EXISTS (SELECT 1 FROM search_uri ${p} WHERE ${p}.tenant = $1 AND ${p}.type = 'ExplanationOfBenefit' AND ${p}.id = ${s.id} AND ${p}.param = '_profile'
        AND ${p}.value LIKE ${b.add(`${PRIOR_AUTH_PROFILE}%`)})
    OR EXISTS (SELECT 1 FROM resource ${r} WHERE ${r}.tenant = $1 AND ${r}.type = 'ExplanationOfBenefit' AND ${r}.id = ${s.id}
        AND ${r}.last_updated >= ${b.add(yearsBefore(rule.now, PRIOR_AUTH_CHANGE_YEARS).toISOString(), 'timestamptz')})
    OR (EXISTS (SELECT 1 FROM search_token ${st} WHERE ${st}.tenant = $1 AND ${st}.type = 'ExplanationOfBenefit' AND ${st}.id = ${s.id} AND ${st}.param = 'status' AND ${st}.code = 'active')
      AND EXISTS (SELECT 1 FROM search_date ${sd} WHERE ${sd}.tenant = $1 AND ${sd}.type = 'ExplanationOfBenefit' AND ${sd}.id = ${s.id} AND ${sd}.param = 'service-date' AND ${sd}.high > ${now})))`;
}

let provenanceTargets: string[] | undefined;
/** What a Provenance's targets may be checked as: member data and the directory (a Provenance of a Provenance, or of a type never shown, is withheld). */
function provenanceTargetTypes(): string[] {
  provenanceTargets ??= [...new Set(['Patient', 'Device', 'Group', 'Consent', ...patientCompartmentTypes(), ...OPEN_TYPES])].filter((t) => t !== 'Provenance').sort();
  return provenanceTargets;
}

/** A Provenance goes only when each resource it targets would go (references to other servers are not ours to judge). */
function provenanceTargetsCondition(b: BindSink, rule: PolicyRule, s: PolicySubject): string {
  const x = b.nextAlias('pt');
  const visible = policyConditionForTypes(b, rule, provenanceTargetTypes(), { type: `${x}.target_type`, id: `${x}.target_id` });
  return `NOT EXISTS (SELECT 1 FROM search_reference ${x} WHERE ${x}.tenant = $1 AND ${x}.type = 'Provenance' AND ${x}.id = ${s.id} AND ${x}.param = 'target'
    AND ${x}.target_type IS NOT NULL AND NOT ${visible})`;
}

/**
 * The whole policy for one resource type, over the subject's SQL `id`. `patient`: what the
 * statement's other conditions already say about whose data the rows are (MemberHint); the
 * rule is the same, answered faster.
 */
export function policyCondition(b: BindSink, rule: PolicyRule, type: string, s: PolicySubject, patient?: MemberHint): string {
  const parts = [memberCondition(b, rule, type, s, patient)];
  if (parts[0] === 'FALSE') return 'FALSE';
  const dated = serviceDateCondition(b, rule, type, s);
  if (dated) parts.push(dated);
  if (type === 'ExplanationOfBenefit' && rule.policy.kind === 'payer-to-payer') parts.push(priorAuthCondition(b, rule, s));
  if (type === 'Provenance') parts.push(provenanceTargetsCondition(b, rule, s));
  return parts.filter((p) => p !== 'TRUE').join(' AND ') || 'TRUE';
}

/** The policy over resources of several types: each row is held to its own type's rule. */
export function policyConditionForTypes(b: BindSink, rule: PolicyRule, types: readonly string[], s: PolicySubject, patient?: MemberHint): string {
  if (types.length === 1) return policyCondition(b, rule, types[0], s, patient);
  const parts = types.map((t) => {
    const c = policyCondition(b, rule, t, s, patient);
    return c === 'FALSE' ? undefined : `(${s.type} = ${b.add(t)} AND ${c})`;
  }).filter((p): p is string => p !== undefined);
  return parts.length ? `(${parts.join(' OR ')})` : 'FALSE';
}
