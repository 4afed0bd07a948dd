/**
 * Errors of the admin API as RFC 9457 problem details (`application/problem+json`): the same
 * typed errors the FHIR API throws (src/errors.ts) and the same mapping of framework and
 * database failures (http/outcome.ts), shaped for a JSON API rather than FHIR.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FhirError } from '../errors.js';
import { toFhirError } from '../http/outcome.js';

export const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** 401: no session, or one that ended (idle or absolute timeout, sign-out). */
export class SignInRequiredError extends FhirError {
  constructor(detail = 'Sign in first (the session is missing or has ended)') {
    super(401, [{ severity: 'error', code: 'login', diagnostics: detail }]);
  }
}

/** 423: the account is locked after repeated failed sign-ins. */
export class LockedError extends FhirError {
  constructor(detail: string, retryAfterSeconds: number) {
    super(423, [{ severity: 'error', code: 'security', diagnostics: detail }], { 'Retry-After': String(retryAfterSeconds) });
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
}

export function problemOf(err: unknown): { problem: Problem; headers: Record<string, string>; unexpected: boolean } {
  const e = err as { validation?: unknown; message?: string };
  if (e && e.validation) {
    return { problem: { type: 'about:blank', title: STATUS_CODES[400]!, status: 400, detail: `Invalid request: ${e.message}` }, headers: {}, unexpected: false };
  }
  const { error, unexpected } = toFhirError(err);
  return {
    problem: { type: 'about:blank', title: STATUS_CODES[error.status] ?? 'Error', status: error.status, detail: error.issues.map((i) => i.diagnostics).join('; ') },
    headers: error.headers,
    unexpected,
  };
}

export function sendProblem(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const { problem, headers, unexpected } = problemOf(err);
  if (unexpected) req.log.error({ err }, 'unexpected error in the admin API');
  req.adminNote = { ...(req.adminNote ?? {}), failure: problem.detail };
  return reply
    .code(problem.status)
    .headers(headers)
    .type(PROBLEM_JSON)
    .send(JSON.stringify({ ...problem, instance: req.url.split('?')[0] }));
}

declare module 'fastify' {
  interface FastifyRequest {
    /** What the admin API's audit record says about this request (see admin/audit.ts). */
    adminNote?: { action?: string; failure?: string; signin?: boolean; tenant?: string; email?: string };
  }
}
