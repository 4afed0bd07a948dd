/**
 * HTTP adapters of bulk export: kick-off (GET, or POST with Parameters) at the three levels,
 * the status URL (GET, DELETE) and file downloads with gzip and byte ranges (DL-13, resumable).
 */
import { pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidError, FhirError, UnsupportedMediaTypeError } from '../errors.js';
import { noteResources } from '../audit/hooks.js';
import { outcomeMediaType } from '../http/media.js';
import { sendFhir } from '../http/reply.js';
import { FHIR_BASE_PATH } from '../http/urls.js';
import type { TenantContext } from '../interactions/context.js';
import { checkKickoffHeaders, kickOff } from './kickoff.js';
import { parametersToPairs, type ExportLevel } from './parameters.js';
import { jobPrefix } from './runner.js';
import { cancelExport, exportFile, exportStatus } from './status.js';
import { exportFileMediaType, type ExportStorage } from './storage.js';

export const NDJSON = 'application/fhir+ndjson';
/** Route paths (under the tenant's FHIR base) whose Accept header is not FHIR JSON's business. */
export const FILE_ROUTE = '/$export-file/:job/:name';

type Req = FastifyRequest<{ Params: { tenant: string; id?: string; job?: string; name?: string }; Querystring: Record<string, string> }>;

export interface BulkRouteOptions {
  tctx: (req: Req) => TenantContext;
  storage: ExportStorage;
  onQueued: () => void;
}

/** `Prefer` as one token list, repeated headers merged (KO-11, KO-12). */
export function preferTokens(req: FastifyRequest): string[] {
  const raw = req.headers.prefer;
  const all = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return all
    .split(/[,;]/)
    .map((t) => t.trim().toLowerCase().replace(/\s*=\s*/, '='))
    .filter(Boolean);
}

export function queryPairs(req: FastifyRequest): [string, string][] {
  const q = req.url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(req.url.slice(q + 1))];
}

/** The kick-off URL as sent, absolute on the public base (a POST's body parameters are not part of it). */
export function requestUrl(ctx: TenantContext, req: FastifyRequest): string {
  return `${ctx.base}${req.url.slice(`${FHIR_BASE_PATH}/${ctx.tenant}`.length)}`;
}

/** A single `bytes=a-b` range of a file of `size` bytes; null when absent, 'invalid' when unsatisfiable. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? 'invalid' : { start, end };
}

export function registerBulkRoutes(fhir: FastifyInstance, opts: BulkRouteOptions): void {
  const { tctx } = opts;
  const start = async (req: Req, reply: FastifyReply, level: ExportLevel, davinci = false) => {
    const ctx = tctx(req);
    const prefer = preferTokens(req);
    // `_format` names the answer's format as Accept would (it overrides Accept in FHIR).
    checkKickoffHeaders(req.headers.accept || req.query._format, prefer.includes('respond-async'));
    let pairs = queryPairs(req);
    if (req.method === 'POST') {
      const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (req.body === undefined) throw new InvalidError('The $export POST needs a Parameters body (application/fhir+json)', undefined, 'required');
      if (Buffer.isBuffer(req.body) || typeof req.body === 'string' || !type.includes('json')) throw new UnsupportedMediaTypeError('Send the $export Parameters as application/fhir+json');
      pairs = [...pairs, ...parametersToPairs(req.body)];
    }
    const res = await kickOff(
      ctx,
      {
        level,
        groupId: req.params.id,
        pairs,
        lenient: prefer.includes('handling=lenient'),
        requestUrl: requestUrl(ctx, req),
        davinci,
      },
      opts.onQueued,
    );
    return sendFhir(reply, res);
  };
  for (const method of ['GET', 'POST'] as const) {
    fhir.route({ method, url: '/$export', handler: (req: Req, reply) => start(req, reply, 'system') });
    fhir.route({ method, url: '/Patient/$export', handler: (req: Req, reply) => start(req, reply, 'patient') });
    fhir.route({ method, url: '/Group/:id/$export', handler: (req: Req, reply) => start(req, reply, 'group') });
    fhir.route({ method, url: '/Group/:id/$davinci-data-export', handler: (req: Req, reply) => start(req, reply, 'group', true) });
  }

  // The status URL's OperationOutcomes (a 404 after DELETE, the DELETE's own 202) come in the JSON
  // type the client accepts: BDT and others accept only application/json there (ST-21).
  const statusConfig = { outcomeFollowsAccept: true };
  fhir.get('/$export-status/:job', { config: statusConfig }, async (req: Req, reply) => sendFhir(reply, await exportStatus(tctx(req), req.params.job!, req.query.page)));
  fhir.delete('/$export-status/:job', { config: statusConfig }, async (req: Req, reply) => {
    const res = await cancelExport(tctx(req), req.params.job!);
    return sendFhir(reply, { ...res, contentType: outcomeMediaType(req.headers.accept) });
  });

  fhir.get(FILE_ROUTE, async (req: Req, reply) => {
    const ctx = tctx(req);
    const { job, file } = await exportFile(ctx, req.params.job!, req.params.name!);
    const key = `${jobPrefix(ctx.tenant, job.id)}/${file.name}`;
    if (ctx.config.export.s3Redirect && opts.storage.presignedUrl) {
      // The token was checked above; the object store serves the bytes (DL-09).
      return reply.code(302).header('Location', await opts.storage.presignedUrl(key, 300)).header('Cache-Control', 'no-store').send();
    }
    const size = Number(file.bytes);
    if (!req.headers.range) noteResources(req, Number(file.count));
    const range = byteRange(req.headers.range, size);
    if (range === 'invalid') {
      return reply.code(416).header('Content-Range', `bytes */${size}`).type('application/fhir+json').send(JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'invalid', diagnostics: `Range ${req.headers.range} cannot be satisfied (file size ${size})` }],
      }));
    }
    const stored = await opts.storage.open(key, range ?? undefined);
    if (!stored) throw new FhirError(410, [{ severity: 'error', code: 'deleted', diagnostics: `File ${file.name} is no longer available` }]);
    reply.header('Accept-Ranges', 'bytes').header('Cache-Control', 'private, no-store').header('Vary', 'Accept-Encoding');
    reply.type(exportFileMediaType(file.name));
    if (range) {
      return reply
        .code(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`)
        .header('Content-Length', String(range.end - range.start + 1))
        .send(stored.stream);
    }
    const gzip = /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) {
      // pipeline() passes a read error on to the gzip stream, so the response is aborted rather than left hanging.
      const zipped = pipeline(stored.stream, createGzip({ level: 4 }), () => undefined);
      return reply.header('Content-Encoding', 'gzip').send(zipped);
    }
    return reply.header('Content-Length', String(size)).send(stored.stream);
  });
}
