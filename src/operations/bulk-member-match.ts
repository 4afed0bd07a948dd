/**
 * PDex `POST [base]/Group/$bulk-member-match`, asynchronous as the FHIR async pattern (and
 * `$export`) has it: the kick-off validates the whole request (MemberBundle 1..*, each with
 * MemberPatient, CoverageToMatch, CoverageToLink 0..1, Consent 1..1 — a malformed member
 * rejects the request with 400 before anything is queued), stores it as a job and answers 202
 * with a status URL in Content-Location. GET on that URL answers 202 with X-Progress while
 * members are matched, then 200 with the result Parameters; DELETE cancels. The job runs in
 * any `serve` or `worker` process (src/operations/bulk-match-runner.ts).
 *
 * Consents are checked per member while the job runs: a member whose consent cannot be
 * honoured lands in ConsentConstrainedMembers, without being looked up.
 */
import crypto from 'node:crypto';
import { FailedError, InvalidError, NotFoundError } from '../errors.js';
import { operationOutcome } from '../http/outcome.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { cancelMatchJob, createMatchJob, getMatchJob } from '../store/member-match-jobs.js';
import { assertMayMatch, assertNotThrottled } from './member-match.js';
import { memberInput, memberSpec } from './member-match-input.js';
import { readParameters } from './parameters.js';

export function matchStatusUrl(base: string, id: string): string {
  return `${base}/$bulk-member-match-status/${id}`;
}

export interface KickOffRequest {
  body: unknown;
  /** `Prefer: respond-async` was sent. */
  async: boolean;
  requestUrl: string;
}

export async function bulkMemberMatch(ctx: TenantContext, req: KickOffRequest): Promise<FhirResponse & { jobId: string }> {
  const policy = assertMayMatch(ctx, '$bulk-member-match');
  if (!req.async) throw new InvalidError('$bulk-member-match runs asynchronously: send Prefer: respond-async', undefined, 'required');
  const clientId = ctx.access!.clientId;
  await assertNotThrottled(ctx, clientId, new Date());
  const max = ctx.config.memberMatch.bulkMaxMembers;
  const values = readParameters(req.body, { MemberBundle: { min: 1, max, parts: memberSpec(1) } });
  const members = values.get('MemberBundle')!.map((b) => memberInput(b.parts!));
  const id = crypto.randomUUID();
  await createMatchJob(ctx.pool, {
    id,
    tenant: ctx.tenant,
    clientId,
    organization: policy.organization ?? null,
    policy: policy.kind,
    requestUrl: req.requestUrl,
    input: members,
  });
  const body = operationOutcome([{ severity: 'information', code: 'informational', diagnostics: `Matching ${members.length} member${members.length === 1 ? '' : 's'}; poll the Content-Location URL for the result` }]);
  return { status: 202, headers: { 'Content-Location': matchStatusUrl(ctx.base, id) }, body: JSON.stringify(body), jobId: id };
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`No $bulk-member-match job ${id} (it may have been cancelled or expired)`);
}

export async function bulkMemberMatchStatus(ctx: TenantContext, id: string): Promise<FhirResponse> {
  const job = await getMatchJob(ctx.pool, ctx.tenant, ctx.access!.clientId, id);
  if (!job || job.status === 'cancelled') throw notFound(id);
  if (job.status === 'queued' || job.status === 'running') {
    return { status: 202, headers: { 'X-Progress': `${job.done} of ${job.total} members matched`, 'Retry-After': String(ctx.config.export.retryAfterSeconds) } };
  }
  if (job.status === 'failed') throw new FailedError(`The member match failed: ${job.error ?? 'unknown reason'}`);
  return { status: 200, body: job.result!, headers: { 'Cache-Control': 'no-store' } };
}

export async function cancelBulkMemberMatch(ctx: TenantContext, id: string): Promise<FhirResponse> {
  if (!(await cancelMatchJob(ctx.pool, ctx.tenant, ctx.access!.clientId, id))) throw notFound(id);
  return { status: 202, body: JSON.stringify(operationOutcome([{ severity: 'information', code: 'informational', diagnostics: `Member match ${id} cancelled` }])) };
}
