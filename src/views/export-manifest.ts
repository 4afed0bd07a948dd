/**
 * What `$viewdefinition-export` answers at kick-off and on the status URL: a Parameters
 * resource as SQL on FHIR's ViewDefinitionExport defines it — `exportId`, `clientTrackingId`,
 * `status` (accepted, in-progress, completed, failed), `location` (the status URL; DELETE on it
 * cancels), `_format`, `exportStartTime` / `exportEndTime` / `exportDuration`, and one `output`
 * per view with its name and the download URL of each file (`location`, repeated when the
 * view's rows span several files).
 *
 * A view whose rows could not all be written (a unit met a resource the view cannot turn into a
 * row, e.g. several values in a column without `collection`) gets no `output` at all — none of its
 * files is listed, since together they would not be the complete view — but an `error` with the
 * view's name and the OperationOutcome file that says which resource failed and why; the status
 * is then `failed` while the other views' outputs stay listed.
 */
import { fileUrl, statusUrl } from '../bulk/kickoff.js';
import type { FileRow, JobRow } from '../bulk/jobs.js';
import type { TenantContext } from '../interactions/context.js';

export type ExportStatus = 'accepted' | 'in-progress' | 'completed' | 'failed';

type Param = Record<string, unknown>;

/** The view index a file belongs to: output files are named `view<index>-…`, error files `errors-view<index>-…`. */
export function fileView(name: string): number | undefined {
  const m = /^(?:errors-)?view(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function viewExportParameters(
  ctx: Pick<TenantContext, 'base'>,
  job: Pick<JobRow, 'id' | 'params' | 'created_at'> & Partial<Pick<JobRow, 'completed_at'>>,
  status: ExportStatus,
  files: FileRow[] = [],
): Record<string, unknown> {
  const request = job.params.views!;
  const location = statusUrl(ctx.base, job.id);
  const out: Param[] = [{ name: 'exportId', valueString: job.id }];
  if (request.clientTrackingId !== undefined) out.push({ name: 'clientTrackingId', valueString: request.clientTrackingId });
  const failed = status === 'completed' && files.some((f) => f.kind === 'error');
  out.push({ name: 'status', valueCode: failed ? 'failed' : status }, { name: 'location', valueUri: location }, { name: 'cancelUrl', valueUri: location });
  out.push({ name: '_format', valueCode: request.format }, { name: 'exportStartTime', valueInstant: job.created_at.toISOString() });
  if (status === 'completed' && job.completed_at) {
    out.push({ name: 'exportEndTime', valueInstant: job.completed_at.toISOString() });
    out.push({ name: 'exportDuration', valueInteger: Math.round((job.completed_at.getTime() - job.created_at.getTime()) / 1000) });
    request.views.forEach((v, i) => {
      const own = files.filter((f) => fileView(f.name) === i);
      const errors = own.filter((f) => f.kind === 'error');
      const listed = errors.length ? errors : own.filter((f) => f.kind === 'output');
      const locations = listed.map((f) => ({ name: 'location', valueUri: fileUrl(ctx.base, job.id, f.name) }));
      out.push({ name: errors.length ? 'error' : 'output', part: [{ name: 'name', valueString: v.name }, ...locations] });
    });
  }
  return { resourceType: 'Parameters', parameter: out };
}
