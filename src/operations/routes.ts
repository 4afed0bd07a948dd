/**
 * HTTP adapters of the CMS interoperability operations (README "CMS interoperability —
 * operations"): HRex `$member-match`, PDex `$bulk-member-match` with its status URL, and the
 * ATR list operations. Each names what it acted on for the audit record.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidError, UnsupportedMediaTypeError } from '../errors.js';
import { noteEntity, noteJob } from '../audit/hooks.js';
import { sendFhir } from '../http/reply.js';
import type { TenantContext } from '../interactions/context.js';
import { attributionChange, type AttributionOperation } from './attribution.js';
import { bulkMemberMatch, bulkMemberMatchStatus, cancelBulkMemberMatch } from './bulk-member-match.js';
import { memberMatch } from './member-match.js';

type Req = FastifyRequest<{ Params: { tenant: string; id?: string; job?: string }; Querystring: Record<string, string> }>;

export interface OperationRouteOptions {
  tctx: (req: Req) => TenantContext;
  /** Told when a `$bulk-member-match` job is queued (wakes this process's match worker). */
  onQueued: () => void;
}

/** The operation's Parameters body: JSON only (415 otherwise); `optional` lets an empty body through. */
function parametersBody(req: FastifyRequest, optional = false): unknown {
  if (Buffer.isBuffer(req.body) || typeof req.body === 'string') throw new UnsupportedMediaTypeError('Send the operation Parameters as application/fhir+json');
  if (req.body === undefined && !optional) throw new InvalidError('The operation needs a Parameters body (application/fhir+json)', undefined, 'required');
  return req.body;
}

function respondAsync(req: FastifyRequest): boolean {
  const raw = req.headers.prefer;
  return /(^|[\s,;])respond-async\s*($|[,;])/i.test(Array.isArray(raw) ? raw.join(',') : (raw ?? ''));
}

export function registerOperationRoutes(fhir: FastifyInstance, opts: OperationRouteOptions): void {
  const { tctx } = opts;
  fhir.post('/Patient/$member-match', async (req: Req, reply) => {
    noteEntity(req, 'Patient', undefined);
    const out = await memberMatch(tctx(req), parametersBody(req));
    noteEntity(req, 'Patient', out.patientId);
    return sendFhir(reply, out.response);
  });

  fhir.post('/Group/$bulk-member-match', async (req: Req, reply) => {
    noteEntity(req, 'Group', undefined);
    const ctx = tctx(req);
    const out = await bulkMemberMatch(ctx, { body: parametersBody(req), async: respondAsync(req), requestUrl: `${ctx.base}/Group/$bulk-member-match` });
    noteJob(req, out.jobId);
    opts.onQueued();
    return sendFhir(reply, out);
  });
  fhir.get('/$bulk-member-match-status/:job', async (req: Req, reply) => sendFhir(reply, await bulkMemberMatchStatus(tctx(req), req.params.job!)));
  fhir.delete('/$bulk-member-match-status/:job', async (req: Req, reply) => sendFhir(reply, await cancelBulkMemberMatch(tctx(req), req.params.job!)));

  for (const op of ['member-add', 'member-remove', 'confirm-attribution-list'] as AttributionOperation[]) {
    fhir.post(`/Group/:id/$${op}`, async (req: Req, reply) => {
      noteEntity(req, 'Group', req.params.id);
      return sendFhir(reply, await attributionChange(tctx(req), req.params.id!, op, parametersBody(req, op === 'confirm-attribution-list')));
    });
  }
}
