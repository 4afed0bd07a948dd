/**
 * `$viewdefinition-export` kick-off: every view is resolved (stored by id or canonical url,
 * or inline) and compiled, its resource type checked against the token through
 * viewReadFilters, `patient` / `group` resolved to members the caller may see — all before
 * anything is queued, so a bad request is a 400/403/404 and never a failed job. The job then
 * runs on the Bulk export machinery (src/bulk/: units, leases, workers, storage, retention,
 * status URL, downloads) with units of kind `view` (./export-unit.ts).
 */
import crypto from 'node:crypto';
import { enqueueJob, statusUrl } from '../bulk/kickoff.js';
import type { ExportParams } from '../bulk/parameters.js';
import { ForbiddenError, InvalidError, NotFoundError } from '../errors.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { viewReadFilters } from './access.js';
import type { ExportInput, ViewChoice } from './export-parameters.js';
import { viewExportParameters } from './export-manifest.js';
import { findView, referenceTarget } from './run.js';
import { compileView } from './runner.js';
import { patientScope, storedPages } from './source.js';

/** A view's output name as it appears in file names: letters, digits, '_', '-' and '.'. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'view';
}

/** The views of the request, compiled (a 400 names the first problem) and named per the specification. */
async function resolveViews(ctx: TenantContext, instanceId: string | undefined, input: ExportInput): Promise<{ name: string; definition: Record<string, unknown> }[]> {
  if (instanceId !== undefined && input.views.length) throw new InvalidError(`view: on an instance the view is ViewDefinition/${instanceId}; give no view parameters`, ['view']);
  const choices: ViewChoice[] = instanceId !== undefined ? [{ at: `ViewDefinition/${instanceId}`, viewReference: `ViewDefinition/${instanceId}` }] : input.views;
  if (!choices.length) throw new InvalidError('view: name at least one view (a view parameter with viewReference or viewResource)', ['view'], 'required');
  const out: { name: string; definition: Record<string, unknown> }[] = [];
  const names = new Set<string>();
  for (const [i, c] of choices.entries()) {
    const definition = c.viewResource ?? (await findView(ctx, referenceTarget(c.viewReference!)));
    let compiled;
    try {
      compiled = compileView(definition);
    } catch (err) {
      if (err instanceof InvalidError) throw new InvalidError(`${c.at}: ${err.issues[0].diagnostics}`, err.issues[0].expression, err.issues[0].code);
      throw err;
    }
    // The token must allow reading the view's type (403 otherwise), as for $run.
    viewReadFilters(ctx, compiled.definition.resource);
    const name = safeName(c.name ?? compiled.definition.name ?? `view_${i + 1}`);
    if (names.has(name)) throw new InvalidError(`${c.at}: the output name '${name}' is used by another view of this export; give each view a distinct name part`, [`${c.at}.name`]);
    names.add(name);
    out.push({ name, definition });
  }
  return out;
}

/** `patient` ids must be patients the caller can see (404 otherwise, as the specification suggests). */
async function checkPatients(ctx: TenantContext, ids: string[]): Promise<void> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    for await (const page of storedPages(ctx, 'Patient', [['_id', ids.slice(i, i + 500).join(',')]], [])) for (const p of page) found.add(String(p.id));
  }
  const unknown = ids.filter((id) => !found.has(id));
  if (unknown.length) throw new NotFoundError(`patient: ${unknown.map((p) => `Patient/${p}`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not known`);
}

export interface ViewExportRequest {
  instanceId?: string;
  input: ExportInput;
  requestUrl: string;
}

export async function kickOffViewExport(ctx: TenantContext, req: ViewExportRequest, onQueued?: () => void): Promise<FhirResponse> {
  const access = ctx.access;
  if (!access) throw new ForbiddenError('$viewdefinition-export needs an authenticated client');
  const { input } = req;
  const views = await resolveViews(ctx, req.instanceId, input);
  if (input.patients) await checkPatients(ctx, [...new Set(input.patients)]);
  const members = await patientScope(ctx, input.patients, input.groups);
  // With patient/group the job has a member list (export_member) and units run over ranges of
  // members' compartments; `group` is the Bulk level that means exactly that.
  const params: ExportParams = {
    level: members ? 'group' : 'system',
    since: input.since?.toISOString(),
    provenance: 'relevant',
    typeFilters: {},
    partialManifests: false,
    ignored: [],
    views: { format: input.format, header: input.header, clientTrackingId: input.clientTrackingId, views },
  };
  const id = crypto.randomUUID();
  const rule = access.policyRule();
  await enqueueJob(ctx, {
    id,
    tenant: ctx.tenant,
    clientId: access.clientId,
    requestUrl: req.requestUrl,
    params,
    scope: access.scopeText,
    storage: ctx.config.export.storage,
    members,
    policy: rule?.policy,
    level: 'view',
  });
  onQueued?.();
  const location = statusUrl(ctx.base, id);
  return {
    status: 202,
    headers: { 'Content-Location': location },
    body: JSON.stringify(viewExportParameters(ctx, { id, params, created_at: new Date() }, 'accepted')),
  };
}
