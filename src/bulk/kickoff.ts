/**
 * `$export` kick-off at system, Patient and Group level (KO-01…KO-44): validates the request
 * against the client's scopes, resolves a Group's members (nested Groups, inactive members
 * and member periods honoured) or a patient= list, enforces the per-client and per-tenant
 * limits on running jobs, and records the job. The answer is 202 with the absolute status URL.
 */
import crypto from 'node:crypto';
import { ForbiddenError, InvalidError, NotFoundError, ThrottledError } from '../errors.js';
import { isValidId } from '../fhir/validation.js';
import { operationOutcome } from '../http/outcome.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { Binds, filterCondition } from '../search/conditions.js';
import type { PolicyRule } from '../policy/conditions.js';
import { isVisible, visibleKeys } from '../policy/visibility.js';
import { readCurrent } from '../store/resources.js';
import { inTransaction } from '../store/database.js';
import { applyExportType, lastTransmitted, takeExportType } from './davinci.js';
import { createJob, runningJobs, runningTenantJobs, type NewJob } from './jobs.js';
import { compartmentExportTypes, parseKickoff, type ExportLevel, type ExportParams } from './parameters.js';
import { mayRead, typeFilters, type JobSpec } from './unit-query.js';

export interface KickoffRequest {
  level: ExportLevel;
  groupId?: string;
  pairs: [string, string][];
  lenient: boolean;
  /** The kick-off URL as the client sent it, made absolute (without a POST body's parameters). */
  requestUrl: string;
  /** `Group/[id]/$davinci-data-export` (src/bulk/davinci.ts) rather than `$export`. */
  davinci?: boolean;
}

export function statusUrl(base: string, jobId: string): string {
  return `${base}/$export-status/${jobId}`;
}

/** Where a finished export file is downloaded (the route checks the token again). */
export function fileUrl(base: string, jobId: string, name: string): string {
  return `${base}/$export-file/${jobId}/${name}`;
}

interface GroupMember {
  entity?: { reference?: string };
  inactive?: boolean;
  period?: { start?: string; end?: string };
}

/** A member counts when active and its period (if any) contains `at`. */
function activeAt(m: GroupMember, at: Date): boolean {
  if (m.inactive === true) return false;
  if (m.period?.start && Date.parse(m.period.start) > at.getTime()) return false;
  // An end date without time covers the whole of that day.
  if (m.period?.end && Date.parse(m.period.end.length === 10 ? `${m.period.end}T23:59:59.999Z` : m.period.end) < at.getTime()) return false;
  return true;
}

/** The Group's Patient members, nested Groups expanded (each Group once, so cycles end). */
export async function groupMembers(ctx: TenantContext, groupId: string, at: Date): Promise<string[]> {
  const patients = new Set<string>();
  const seen = new Set<string>();
  const queue = [groupId];
  while (queue.length) {
    const id = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const found = await readCurrent(ctx.pool, ctx.tenant, 'Group', id);
    if (!found || found.deleted) {
      if (id === groupId) throw new NotFoundError(`Group/${groupId} is not known`);
      continue; // a nested Group that no longer exists contributes no one
    }
    const group = JSON.parse(found.content!) as { member?: GroupMember[] };
    for (const m of group.member ?? []) {
      if (!activeAt(m, at)) continue;
      const ref = /^(?:.*\/)?(Patient|Group)\/([A-Za-z0-9\-.]{1,64})$/.exec(m.entity?.reference ?? '');
      if (!ref) continue;
      if (ref[1] === 'Patient') patients.add(ref[2]);
      else queue.push(ref[2]);
    }
  }
  return [...patients].sort();
}

/** The patients among `ids` that the partner policy allows, in their order. */
async function allowedPatients(ctx: TenantContext, rule: PolicyRule, ids: string[]): Promise<string[]> {
  const visible = await visibleKeys(ctx.pool, ctx.tenant, rule, ids.map((id) => ({ type: 'Patient', id })));
  return ids.filter((id) => visible.has(`Patient/${id}`));
}

/**
 * The two kick-off headers (KO-10, KO-11). Bulk Data 2.0 has the client send both and lets the
 * server refuse a request without them ("MAY return an error"); the conformance kits expect the
 * refusal, and the answer names the header to send. Accept governs the OperationOutcome's
 * format, so any JSON or wildcard range does (an XML-only Accept was already answered 406).
 */
export function checkKickoffHeaders(accept: string | undefined, respondAsync: boolean): void {
  if (!accept?.trim()) throw new InvalidError('The $export kick-off needs an Accept header: send Accept: application/fhir+json', ['Accept'], 'required');
  if (!respondAsync) throw new InvalidError('$export runs asynchronously only: send Prefer: respond-async', ['Prefer'], 'required');
}

/**
 * The `patient` list without the ids the export cannot serve (unknown, or not in the Group).
 * Bulk Data: the server SHOULD answer such a request with an error, and with
 * `Prefer: handling=lenient` MAY process it instead — then without those patients, each named
 * in the manifest's error file (KO-25, KO-30).
 */
function leaveOut(params: ExportParams, strangers: string[], why: string, lenient: boolean): string[] {
  if (!strangers.length) return params.patients!;
  const named = strangers.map((p) => `Patient/${p}`).join(', ');
  if (!lenient) throw new InvalidError(`patient: ${named} ${why}`, ['patient']);
  params.ignored.push(`patient: ${named} ${why}`);
  params.patients = params.patients!.filter((p) => !strangers.includes(p));
  return params.patients;
}

export async function kickOff(ctx: TenantContext, req: KickoffRequest, onQueued?: () => void): Promise<FhirResponse> {
  const access = ctx.access;
  if (!access) throw new ForbiddenError('Bulk export needs an authenticated client');
  const davinci = req.davinci ? takeExportType(req.pairs) : undefined;
  const params = parseKickoff(req.level, davinci?.rest ?? req.pairs, req.lenient);
  if (req.level === 'group') {
    if (!req.groupId || !isValidId(req.groupId)) throw new NotFoundError(`Group/${req.groupId ?? ''} is not known`);
    params.groupId = req.groupId;
  }
  if (davinci) applyExportType(params, davinci.exportType);
  const rule = access.policyRule();
  const job: JobSpec = { id: crypto.randomUUID(), tenant: ctx.tenant, base: ctx.base, params, scope: access.scopeText, clientId: access.clientId, transactionTime: new Date(), policy: rule?.policy };
  // Under a partner policy a Group that is not the client's own list does not exist for it.
  if (rule && req.level === 'group' && !(await isVisible(ctx.pool, ctx.tenant, rule, { type: 'Group', id: req.groupId! }))) {
    throw new NotFoundError(`Group/${req.groupId} is not known`);
  }

  // Explicit types the token cannot read are refused (or dropped when lenient); without
  // _type the export silently covers what the scopes allow (KO-43).
  if (params.types) {
    const denied = params.types.filter((t) => !mayRead(job, t));
    if (denied.length && !req.lenient) throw new ForbiddenError(`The access token does not allow reading ${denied.join(', ')} (needs system/${denied[0]}.read or .r)`);
    for (const t of denied) params.ignored.push(`_type: ${t} is not allowed by the access token's scopes`);
    params.types = params.types.filter((t) => !denied.includes(t));
  } else {
    const candidates = req.level === 'system' ? ['*'] : compartmentExportTypes();
    const any = req.level === 'system' ? access.scopes.some((s) => s.context === 'system' && s.perms.has('r')) : candidates.some((t) => mayRead(job, t));
    if (!any) throw new ForbiddenError('The access token allows reading none of the resource types this export would contain');
  }
  // _typeFilter values are checked now (a malformed date or token is the client's 400, not a failed job).
  for (const type of Object.keys(params.typeFilters)) {
    const b = new Binds(ctx.tenant);
    for (const f of typeFilters(job, type)) filterCondition(b, f, { type: 'r.type', id: 'r.id', lastUpdated: 'r.last_updated' }, ctx.base);
  }

  let members: string[] | undefined;
  if (req.level === 'group') {
    members = await groupMembers(ctx, req.groupId!, new Date());
    // Members outside the policy (opted out, attribution ended, consent revoked) are left out
    // of the job altogether, as if they were not on the list.
    if (rule) members = await allowedPatients(ctx, rule, members);
    if (params.patients) {
      const inGroup = new Set(members);
      const strangers = params.patients.filter((p) => !inGroup.has(p));
      // $davinci-data-export ignores ids that are not members (PDex); $export refuses them unless lenient.
      members = leaveOut(params, strangers, `is not a member of Group/${req.groupId}`, req.lenient || req.davinci === true);
    }
  } else if (params.patients) {
    const { rows } = await ctx.pool.query<{ id: string }>(
      `SELECT id FROM resource WHERE tenant = $1 AND type = 'Patient' AND id = ANY($2::text[]) AND NOT deleted`,
      [ctx.tenant, params.patients],
    );
    const known = new Set(rule ? await allowedPatients(ctx, rule, rows.map((r) => r.id)) : rows.map((r) => r.id));
    const unknown = params.patients.filter((p) => !known.has(p));
    members = leaveOut(params, unknown, 'is not known', req.lenient);
  }

  // provider-delta: each member from its own lastTransmitted on the list.
  let memberSince: Map<string, string> | undefined;
  if (params.davinci?.exportType === 'hl7.fhir.us.davinci-pdex#provider-delta') {
    const group = await readCurrent(ctx.pool, ctx.tenant, 'Group', req.groupId!);
    memberSince = group?.content ? lastTransmitted(JSON.parse(group.content)) : undefined;
  }

  await enqueueJob(ctx, {
    id: job.id,
    tenant: ctx.tenant,
    clientId: access.clientId,
    requestUrl: req.requestUrl,
    params,
    scope: access.scopeText,
    storage: ctx.config.export.storage,
    members,
    memberSince,
    policy: rule?.policy,
  });
  onQueued?.();
  const location = statusUrl(ctx.base, job.id);
  return {
    status: 202,
    headers: { 'Content-Location': location },
    body: JSON.stringify(operationOutcome([{ severity: 'information', code: 'informational', diagnostics: `Export started; poll ${location}` }])),
  };
}

/**
 * Records a job under the per-client and per-tenant limits on running exports (KO-42): the
 * limits are checked and the job created under advisory locks, so two kick-offs cannot both
 * slip under a limit. Every kind of export (`$export`, `$davinci-data-export`,
 * `$viewdefinition-export`) counts against the same limits.
 */
export async function enqueueJob(ctx: TenantContext, job: NewJob): Promise<void> {
  const access = ctx.access!;
  await inTransaction(ctx.pool, async (client) => {
    // One kick-off at a time per client, so two cannot both slip under the limit (KO-42).
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`export:${ctx.tenant}:${access.clientId}`]);
    const running = await runningJobs(client, ctx.tenant, access.clientId);
    const limit = access.client?.maxExports ?? ctx.config.export.maxJobsPerClient;
    if (running >= limit) {
      throw new ThrottledError(
        `This client already has ${running} export(s) running (limit ${limit}); wait for one to finish or DELETE it`,
        ctx.config.export.retryAfterSeconds * 5,
      );
    }
    const tenantLimit = ctx.config.export.maxJobsPerTenant;
    if (tenantLimit > 0) {
      // After the client's lock (always in that order): one kick-off at a time per tenant.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`export-tenant:${ctx.tenant}`]);
      const inTenant = await runningTenantJobs(client, ctx.tenant);
      if (inTenant >= tenantLimit) {
        throw new ThrottledError(`This tenant already has ${inTenant} export(s) running (limit ${tenantLimit}); wait for one to finish`, ctx.config.export.retryAfterSeconds * 5);
      }
    }
    await createJob(client, job);
  });
}
