/**
 * Status polling, the completion manifest, cancellation and file lookup (ST-01…ST-23,
 * DL-01…DL-11). A job belongs to the client that started it: to any other client it does
 * not exist (404), whatever its scopes.
 */
import { FailedError, ForbiddenError, NotFoundError, ThrottledError } from '../errors.js';
import { operationOutcome } from '../http/outcome.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { cancelJob, countPoll, findFile, findJob, jobFiles, type FileRow, type JobRow } from './jobs.js';
import { fileUrl, statusUrl } from './kickoff.js';
import { mayRead } from './unit-query.js';
import { viewExportParameters } from '../views/export-manifest.js';

function ownedJob(job: JobRow | undefined, ctx: TenantContext, id: string): JobRow {
  if (!job || !ctx.access || job.client_id !== ctx.access.clientId) throw new NotFoundError(`No export job ${id} (it may have been deleted or expired)`);
  return job;
}

export { fileUrl };

interface ManifestItem {
  type?: string;
  url: string;
  count?: number;
}

function items(ctx: TenantContext, job: JobRow, files: FileRow[]): ManifestItem[] {
  return files.map((f) => ({ ...(f.type ? { type: f.type } : {}), url: fileUrl(ctx.base, job.id, f.name), count: Number(f.count) }));
}

/**
 * The manifest (ST-05…ST-09), paged when the client allowed partial manifests (KO-29): page
 * 1 carries the error and deleted files and a `next` link while outputs remain.
 */
function manifest(ctx: TenantContext, job: JobRow, files: FileRow[], page: number): Record<string, unknown> {
  const output = items(ctx, job, files.filter((f) => f.kind === 'output'));
  const size = ctx.config.export.manifestPageSize;
  const paged = job.params.partialManifests;
  const shown = paged ? output.slice((page - 1) * size, page * size) : output;
  const m: Record<string, unknown> = {
    transactionTime: job.transaction_time.toISOString(),
    request: job.request_url,
    requiresAccessToken: true,
    ...(job.params.organizeBy ? { outputOrganizedBy: job.params.organizeBy } : {}),
    output: shown,
    error: page === 1 ? items(ctx, job, files.filter((f) => f.kind === 'error')) : [],
  };
  if (job.params.since && page === 1) m.deleted = items(ctx, job, files.filter((f) => f.kind === 'deleted'));
  if (paged && page * size < output.length) m.link = [{ relation: 'next', url: `${statusUrl(ctx.base, job.id)}?page=${page + 1}` }];
  return m;
}

export async function exportStatus(ctx: TenantContext, id: string, pageParam: string | undefined): Promise<FhirResponse> {
  const job = ownedJob(await findJob(ctx.pool, ctx.tenant, id), ctx, id);
  const cfg = ctx.config.export;
  const page = pageParam === undefined ? 1 : Number(pageParam);
  if (!Number.isInteger(page) || page < 1) throw new NotFoundError(`No manifest page '${pageParam}'`);
  if (job.state === 'active') {
    // Only a client polling far faster than Retry-After asks is throttled (ST-02).
    if ((await countPoll(ctx.pool, job.id, cfg.retryAfterSeconds)) > cfg.pollBurst) {
      throw new ThrottledError(`Polling too often; wait ${cfg.retryAfterSeconds} s between status requests`, cfg.retryAfterSeconds);
    }
    const done = job.units_total === null ? 0 : job.units_done;
    const total = job.units_total ?? '?';
    const headers = { 'Retry-After': String(cfg.retryAfterSeconds), 'X-Progress': `${done}/${total} units, ${job.resources_done} resources` };
    if (job.level === 'view') return { status: 202, headers, body: JSON.stringify(viewExportParameters(ctx, job, job.units_total === null ? 'accepted' : 'in-progress')) };
    if (job.params.partialManifests) {
      // A partial manifest lists only files of finished units, which never change again.
      const files = await jobFiles(ctx.pool, job.id);
      return { status: 202, headers, contentType: 'application/json', body: JSON.stringify(manifest(ctx, job, files, page)) };
    }
    return { status: 202, headers };
  }
  if (job.state === 'failed') throw new FailedError(`The export failed: ${job.error ?? 'unknown reason'}`);
  const files = await jobFiles(ctx.pool, job.id);
  if (job.level === 'view') {
    // $viewdefinition-export answers with its own Parameters manifest (src/views/export-manifest.ts).
    return {
      status: 200,
      headers: { Expires: (job.expires_at ?? new Date()).toUTCString(), 'Cache-Control': 'no-store' },
      body: JSON.stringify(viewExportParameters(ctx, job, 'completed', files)),
    };
  }
  const body = manifest(ctx, job, files, page);
  if (page > 1 && !(body.output as unknown[]).length) throw new NotFoundError(`No manifest page ${page}`);
  return {
    status: 200,
    contentType: 'application/json',
    headers: { Expires: (job.expires_at ?? new Date()).toUTCString(), 'Cache-Control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export async function cancelExport(ctx: TenantContext, id: string): Promise<FhirResponse> {
  ownedJob(await findJob(ctx.pool, ctx.tenant, id), ctx, id);
  if (!(await cancelJob(ctx.pool, ctx.tenant, id, ctx.config.export.leaseSeconds))) throw new NotFoundError(`No export job ${id}`);
  return { status: 202, body: JSON.stringify(operationOutcome([{ severity: 'information', code: 'informational', diagnostics: `Export ${id} deleted` }])) };
}

/** The file a download asks for, after checking ownership and that the token's scopes cover its type (DL-01). */
export async function exportFile(ctx: TenantContext, id: string, name: string): Promise<{ job: JobRow; file: FileRow }> {
  const job = ownedJob(await findJob(ctx.pool, ctx.tenant, id), ctx, id);
  const file = /^[A-Za-z0-9._-]{1,200}$/.test(name) ? await findFile(ctx.pool, job.id, name) : undefined;
  if (!file) throw new NotFoundError(`No file ${name} in export ${id}`);
  if (file.kind === 'output' && file.type && !mayRead({ clientId: ctx.access!.clientId, scope: ctx.access!.scopeText }, file.type)) {
    throw new ForbiddenError(`The access token does not allow reading ${file.type}`);
  }
  return { job, file };
}
