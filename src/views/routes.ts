/**
 * HTTP adapters of the view operations: `$run` at type and instance level (GET with query
 * parameters, POST with a Parameters body), also answered under the specification's newer
 * name `$viewdefinition-run`. The answer is streamed in the format asked for (`_format`, else
 * the Accept header, else JSON); the first batch is computed before the status is sent, so a
 * view that fails on the first page still answers 400 with an OperationOutcome.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { noteResources } from '../audit/hooks.js';
import { InvalidError, UnsupportedMediaTypeError } from '../errors.js';
import { sendFhir } from '../http/reply.js';
import { preferTokens, queryPairs as exportQueryPairs, requestUrl } from '../bulk/routes.js';
import { parseExportParameters } from './export-parameters.js';
import { kickOffViewExport } from './export-kickoff.js';
import type { TenantContext } from '../interactions/context.js';
import type { OutputFormat } from './formats.js';
import { prepareRun } from './run.js';
import { parseRunParameters } from './run-parameters.js';

type Req = FastifyRequest<{ Params: { tenant: string; id?: string }; Querystring: Record<string, string> }>;

const RUN_NAMES = ['$run', '$viewdefinition-run'];

/** Answers up to this size are sent whole (see run below). */
const SMALL_ANSWER = 64 * 1024;

/** Route paths (under the tenant's FHIR base) that answer in formats of their own, not FHIR JSON. */
export const VIEW_RUN_ROUTES: ReadonlySet<string> = new Set(RUN_NAMES.flatMap((op) => [`/ViewDefinition/${op}`, `/ViewDefinition/:id/${op}`]));

/**
 * `$viewdefinition-export` kick-offs: their `_format` names the files' format (ndjson, csv,
 * parquet), not the answer's, so it is not negotiated as FHIR JSON (the answer always is).
 */
export const VIEW_EXPORT_ROUTES: ReadonlySet<string> = new Set(['/$viewdefinition-export', '/ViewDefinition/$viewdefinition-export', '/ViewDefinition/:id/$viewdefinition-export']);

export interface ViewRouteOptions {
  tctx: (req: Req) => TenantContext;
  /** Wakes this process's export workers after a kick-off. */
  onQueued?: () => void;
}

function queryPairs(req: FastifyRequest): [string, string][] {
  const q = req.url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(req.url.slice(q + 1))];
}

/** The format an Accept header prefers when `_format` is absent. */
function acceptedFormat(accept: string | undefined): OutputFormat {
  const a = (accept ?? '').toLowerCase();
  if (a.includes('text/csv')) return 'csv';
  if (a.includes('ndjson')) return 'ndjson';
  if (a.includes('parquet')) return 'parquet';
  return 'json';
}

export function registerViewRoutes(fhir: FastifyInstance, opts: ViewRouteOptions): void {
  const run = async (req: Req, reply: import('fastify').FastifyReply) => {
    if (Buffer.isBuffer(req.body)) throw new UnsupportedMediaTypeError('Send the $run parameters as a FHIR Parameters resource (application/fhir+json)');
    const params = parseRunParameters(queryPairs(req), req.method === 'POST' ? req.body : undefined);
    const prepared = await prepareRun(opts.tctx(req), req.params.id, params, acceptedFormat(req.headers.accept));
    // Up to SMALL_ANSWER bytes are gathered before anything is sent: a small answer (one
    // member's rows) goes out as one buffer with a Content-Length, in one write, instead of a
    // chunked stream of several; a larger one streams on from there, memory still bounded.
    const head: Buffer[] = [];
    let size = 0;
    let done = false;
    while (size < SMALL_ANSWER) {
      const next = await prepared.body.next();
      if (next.done) {
        done = true;
        break;
      }
      head.push(next.value);
      size += next.value.length;
    }
    reply.code(200).type(prepared.contentType).header('Content-Disposition', `inline; filename="${(prepared.view.definition.name ?? 'view').replace(/[^A-Za-z0-9_.-]/g, '_')}.${prepared.format}"`);
    if (done) {
      noteResources(req, prepared.counts.resources);
      return reply.send(Buffer.concat(head));
    }
    async function* rest(): AsyncGenerator<Buffer> {
      yield* head;
      for await (const chunk of prepared.body) yield chunk;
      noteResources(req, prepared.counts.resources);
    }
    const stream = Readable.from(rest(), { objectMode: false });
    stream.on('error', (err) => req.log.warn({ err }, 'view run failed while streaming'));
    return reply.send(stream);
  };
  // $viewdefinition-export: asynchronous, on the Bulk export jobs (src/views/export-kickoff.ts).
  const exportViews = async (req: Req, reply: import('fastify').FastifyReply) => {
    if (!preferTokens(req).includes('respond-async')) throw new InvalidError('$viewdefinition-export runs asynchronously only: send Prefer: respond-async', ['Prefer'], 'required');
    if (req.body !== undefined && (Buffer.isBuffer(req.body) || typeof req.body === 'string')) {
      throw new UnsupportedMediaTypeError('Send the $viewdefinition-export parameters as a FHIR Parameters resource (application/fhir+json)');
    }
    const ctx = opts.tctx(req);
    const input = parseExportParameters(exportQueryPairs(req), req.body);
    return sendFhir(reply, await kickOffViewExport(ctx, { instanceId: req.params.id, input, requestUrl: requestUrl(ctx, req) }, opts.onQueued));
  };
  // R4 servers offer it at system level; the type and instance levels are the specification's R6 forms.
  for (const route of VIEW_EXPORT_ROUTES) fhir.post(route, exportViews);

  for (const op of RUN_NAMES) {
    fhir.get(`/ViewDefinition/:id/${op}`, run);
    fhir.post(`/ViewDefinition/:id/${op}`, run);
    fhir.post(`/ViewDefinition/${op}`, run);
  }
}
