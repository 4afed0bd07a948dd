/**
 * `$run` (ViewDefinitionRun): resolves the view (the instance, a `viewReference` by id or
 * canonical url, or an inline `viewResource`), compiles it once, and turns its input — the
 * given `resource`s or this server's data in pages — into encoded bytes batch by batch. The
 * bytes are produced lazily as the HTTP answer is read, so memory stays flat.
 */
import { InvalidError, NotFoundError } from '../errors.js';
import type { TenantContext } from '../interactions/context.js';
import { OUTPUT_FORMATS, rowEncoder, type OutputFormat } from './formats.js';
import { compileViewCached as compileView, type CompiledView } from './runner.js';
import type { RunParameters } from './run-parameters.js';
import { inlineResources, patientScope, serverResources, storedPages } from './source.js';

/** A stored ViewDefinition, by id or by its canonical `url`, read like any server data. */
export async function findView(ctx: TenantContext, ref: { id: string } | { url: string }): Promise<Record<string, unknown>> {
  const pairs: [string, string][] = 'id' in ref ? [['_id', ref.id]] : [['url', ref.url]];
  for await (const page of storedPages(ctx, 'ViewDefinition', pairs, [], 2)) {
    if (page.length > 1) throw new InvalidError(`viewReference: several ViewDefinitions have the url '${'url' in ref ? ref.url : ''}'`, ['viewReference']);
    return page[0];
  }
  throw new NotFoundError('id' in ref ? `ViewDefinition/${ref.id} is not known` : `No ViewDefinition has the url '${ref.url}'`);
}

/** `ViewDefinition/123` (relative or absolute) → by id; any other URI → by canonical url. */
export function referenceTarget(ref: string): { id: string } | { url: string } {
  const m = /^(?:[^?#]*\/)?ViewDefinition\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  return m ? { id: m[1] } : { url: ref };
}

/** The view a run executes, from the instance id or the parameters. */
export async function resolveView(ctx: TenantContext, instanceId: string | undefined, params: RunParameters): Promise<CompiledView> {
  if (instanceId !== undefined) {
    if (params.viewReference || params.viewResource) throw new InvalidError('viewReference and viewResource are not used on an instance: the view is ViewDefinition/' + instanceId, ['viewResource']);
    return compileView(await findView(ctx, { id: instanceId }));
  }
  if (params.viewReference && params.viewResource) throw new InvalidError('Give viewReference or viewResource, not both', ['viewReference']);
  if (params.viewResource) return compileView(params.viewResource);
  if (params.viewReference) return compileView(await findView(ctx, referenceTarget(params.viewReference)));
  throw new InvalidError('Name the view: viewReference, or an inline viewResource', ['viewReference'], 'required');
}

export interface PreparedRun {
  view: CompiledView;
  format: OutputFormat;
  contentType: string;
  /** Encoded output, produced as it is read. */
  body: AsyncGenerator<Buffer>;
  /** Source resources read so far (for the audit record). */
  readonly counts: { resources: number; rows: number };
}

/** Everything a run needs that can fail as a 400 or 404 happens here, before any byte is sent. */
export async function prepareRun(ctx: TenantContext, instanceId: string | undefined, params: RunParameters, fallbackFormat: OutputFormat): Promise<PreparedRun> {
  const view = await resolveView(ctx, instanceId, params);
  const format = params.format ?? fallbackFormat;
  const patients = params.resources ? undefined : await patientScope(ctx, params.patients, params.groups);
  const source = params.resources ? inlineResources(params.resources) : serverResources(ctx, view.definition.resource, { patients, since: params.since });
  const counts = { resources: 0, rows: 0 };
  return { view, format, contentType: OUTPUT_FORMATS[format].contentType, body: encode(view, format, params, source, counts), counts };
}

async function* encode(view: CompiledView, format: OutputFormat, params: RunParameters, source: AsyncGenerator<Record<string, unknown>[]>, counts: { resources: number; rows: number }): AsyncGenerator<Buffer> {
  const encoder = rowEncoder(format, view.columns, { header: params.header });
  // The opening bytes go out with the first batch, so an error in the first page is still a 400.
  let pending: Buffer | undefined = encoder.start();
  const limit = params.limit ?? Infinity;
  try {
    for await (const page of source) {
      let rows = [];
      for (const resource of page) {
        counts.resources++;
        for (const row of view.rows(resource)) rows.push(row);
      }
      if (counts.rows + rows.length > limit) rows = rows.slice(0, limit - counts.rows);
      counts.rows += rows.length;
      const bytes = encoder.rows(rows);
      const out = pending ? Buffer.concat([pending, bytes]) : bytes;
      pending = undefined;
      if (out.length) yield out;
      if (counts.rows >= limit) break;
    }
  } finally {
    await source.return(undefined);
  }
  const end = encoder.end();
  yield pending ? Buffer.concat([pending, end]) : end;
}
