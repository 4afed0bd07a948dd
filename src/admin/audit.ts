/**
 * Every request to the admin API — sign-ins and their failures included — becomes a record in
 * the audit trail (src/audit/), chained like every other. The record goes to the tenant the
 * request concerned (once the guard has let it through) or to the system chain, names the
 * person (never a password or token) and what they did. Client id stays empty: these are not
 * a partner's requests and must not count in a partner's usage.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/log.js';
import { SYSTEM_TENANT } from '../audit/record.js';
import type { Principal } from './roles.js';

const MAX_TEXT = 2_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in person, set by the admin API's guard. */
    principal?: Principal;
  }
}

export function recordAdminRequest(log: AuditLog, req: FastifyRequest, reply: FastifyReply, startedAt: Date, started: bigint): void {
  const note = req.adminNote ?? {};
  const who = req.principal
    ? `${req.principal.email} (${req.principal.role}${req.principal.source === 'oidc' ? ', oidc' : ''})`
    : note.email
      ? `${note.email} (not signed in)`
      : 'anonymous';
  const parts = [who, note.action, note.failure ? `refused: ${note.failure}` : undefined].filter(Boolean);
  const q = req.url.indexOf('?');
  const detail = parts.join(': ');
  log.record({
    tenant: note.tenant ?? req.principal?.tenant ?? SYSTEM_TENANT,
    recorded: startedAt,
    durationUs: Number((process.hrtime.bigint() - started) / 1000n),
    clientId: null,
    sourceIp: req.ip ?? null,
    interaction: note.signin ? 'admin-signin' : 'admin',
    method: req.method,
    path: (q < 0 ? req.url : req.url.slice(0, q)).slice(0, MAX_TEXT),
    query: q < 0 ? null : req.url.slice(q + 1, q + 1 + MAX_TEXT),
    resourceType: null,
    resourceId: null,
    jobId: null,
    status: reply.statusCode,
    resources: null,
    bytes: null,
    detail: detail.slice(0, MAX_TEXT),
    requestId: String(req.id).slice(0, 200),
  });
}
