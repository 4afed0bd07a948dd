/**
 * Fastify hooks that turn every request into an audit record: a note is opened when the
 * request arrives, filled in along the way (tenant and client once known, resources
 * returned, export job, failure reason), and handed to the audit log with the answer's status
 * and size — as the answer is sent, or for a streamed body once it has been sent.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UnavailableError } from '../errors.js';
import { requestInteraction } from '../http/interaction.js';
import type { AuditLog } from './log.js';
import { SYSTEM_TENANT } from './record.js';

export interface AuditNote {
  at: Date;
  started: bigint;
  /** Set once the tenant is known to exist. */
  tenant?: string;
  clientId?: string;
  resources?: number;
  jobId?: string;
  /** The resource an operation acted on, when the route does not name it (e.g. the member `$member-match` matched). */
  resourceType?: string;
  resourceId?: string;
  detail?: string;
  bytes: number;
  /** The body is a stream: recorded when sending has finished. */
  streamed?: boolean;
  /** Handed to the audit log already. */
  recorded?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    audit?: AuditNote;
  }
}

const MAX_TEXT = 2_000;
const clip = (s: string | undefined | null): string | null => (s ? (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s) : null);

/** Records, for the request's audit note, why it failed (never a secret: callers pass the public error text). */
export function noteFailure(req: FastifyRequest, detail: string): void {
  if (req.audit) req.audit.detail = detail;
}

export function noteTenant(req: FastifyRequest, tenant: string): void {
  if (req.audit) req.audit.tenant = tenant;
}

export function noteClient(req: FastifyRequest, clientId: string | undefined): void {
  if (req.audit && clientId) req.audit.clientId = clientId.slice(0, 200);
}

/** Names the resource an operation acted on (the route's own type and id otherwise). */
export function noteEntity(req: FastifyRequest, type: string, id: string | undefined): void {
  if (!req.audit) return;
  req.audit.resourceType = type;
  req.audit.resourceId = id;
}

/** Names the job a request started or asked about (when its id is not in the route). */
export function noteJob(req: FastifyRequest, jobId: string): void {
  if (req.audit) req.audit.jobId = jobId;
}

export function noteResources(req: FastifyRequest, n: number): void {
  if (req.audit) req.audit.resources = n;
}

function isStream(p: unknown): p is Readable {
  return !!p && typeof (p as Readable).pipe === 'function';
}

const ONE_RESOURCE = new Set(['read', 'vread', 'create', 'update']);
const NOT_AUDITED = new Set(['health', 'metrics']);

export function registerAuditHooks(app: FastifyInstance, log: AuditLog): void {
  // Callback-style hooks: on every request of the server, a promise per hook is measurable.
  app.addHook('onRequest', (req, _reply, done) => {
    req.audit = { at: new Date(), started: process.hrtime.bigint(), bytes: -1 };
    // Fail closed: when records cannot reach the database, stop serving rather than serve unaudited.
    if (log.overloaded && !NOT_AUDITED.has(requestInteraction(req))) {
      req.audit = undefined;
      done(new UnavailableError('The audit trail cannot be written at the moment; retry shortly', 10));
      return;
    }
    done();
  });

  // A body in hand is recorded here, before a byte is sent, so a client that has its answer can
  // rely on the record being buffered (a flush includes it). A streamed body (export downloads)
  // is counted as it passes and recorded once sending has finished.
  app.addHook('onSend', (req, reply, payload, done) => {
    const note = req.audit;
    if (!note) {
      done(null, payload);
      return;
    }
    if (!isStream(payload)) {
      note.bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0;
      record(log, req, reply, note);
      done(null, payload);
      return;
    }
    note.streamed = true;
    note.bytes = 0;
    const counter = new PassThrough();
    counter.on('data', (chunk: Buffer) => {
      note.bytes += chunk.length;
    });
    payload.on('error', (err) => counter.destroy(err));
    done(null, payload.pipe(counter));
  });

  app.addHook('onResponse', (req, reply, done) => {
    done();
    // Streamed bodies, and answers that never passed onSend (e.g. a client gone mid-request).
    if (req.audit && (req.audit.streamed || !req.audit.recorded)) record(log, req, reply, req.audit);
  });
}

function record(log: AuditLog, req: FastifyRequest, reply: FastifyReply, note: AuditNote): void {
  if (note.recorded) return;
  note.recorded = true;
  const interaction = requestInteraction(req);
  if (NOT_AUDITED.has(interaction)) return;
  const params = (req.params ?? {}) as Record<string, string | undefined>;
  const q = req.url.indexOf('?');
  let resourceType: string | undefined = note.resourceType ?? params.type;
  let resourceId: string | undefined = note.resourceId ?? params.id;
  if (interaction === 'export-kickoff' && req.routeOptions.url?.endsWith('/Group/:id/$export')) resourceType = 'Group';
  if (interaction === 'view-run' || (interaction === 'export-kickoff' && req.routeOptions.url?.endsWith('/$viewdefinition-export'))) resourceType = 'ViewDefinition';
  if (interaction.startsWith('export-') && interaction !== 'export-kickoff') resourceType = resourceId = undefined;
  let jobId = note.jobId ?? params.job;
  if (interaction === 'export-kickoff' && reply.statusCode === 202) jobId = String(reply.getHeader('content-location') ?? '').split('/').pop();
  const status = reply.statusCode;
  log.record({
    tenant: note.tenant ?? SYSTEM_TENANT,
    recorded: note.at,
    durationUs: Number((process.hrtime.bigint() - note.started) / 1000n),
    clientId: note.clientId ?? req.access?.clientId ?? null,
    sourceIp: req.ip ?? null,
    interaction,
    method: req.method,
    path: clip(q < 0 ? req.url : req.url.slice(0, q))!,
    query: q < 0 ? null : clip(req.url.slice(q + 1)),
    resourceType: clip(resourceType),
    resourceId: clip(resourceId),
    jobId: clip(jobId),
    status,
    resources: note.resources ?? (status < 300 && ONE_RESOURCE.has(interaction) ? 1 : null),
    bytes: Math.max(0, note.bytes),
    detail: status >= 400 ? clip(note.detail) : null,
    requestId: clip(req.id),
    policy: req.access && req.access.policy.kind !== 'internal' ? clip(req.access.policyName) : null,
  });
}
