/**
 * The one place where errors become HTTP answers: typed errors map to their status and an
 * OperationOutcome; framework and database failures map to safe, precise outcomes; anything
 * else is a 500 whose details go to the log only (never a stack trace, SQL or path).
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError, type Issue } from '../errors.js';
import { noteFailure } from '../audit/hooks.js';
import { databaseUnavailable } from '../store/availability.js';
import { FHIR_JSON_UTF8, outcomeMediaType } from './media.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Errors of this route are sent in the JSON media type the client accepts (`application/json`
     * when that is all it accepts) rather than always `application/fhir+json`: the export status
     * URL, whose manifest is plain JSON and whose clients may parse only that (ST-11, ST-21).
     */
    outcomeFollowsAccept?: boolean;
  }
}

export function operationOutcome(issues: Issue[]): Record<string, unknown> {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity,
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression?.length ? { expression: i.expression } : {}),
    })),
  };
}

/** Turns any thrown value into a FhirError. */
export function toFhirError(err: unknown): { error: FhirError; unexpected: boolean } {
  if (err instanceof FhirError) return { error: err, unexpected: false };
  const e = err as FastifyError & { code?: string; message?: string };
  const fail = (status: number, code: Issue['code'], diagnostics: string, headers: Record<string, string> = {}) => ({
    error: new FhirError(status, [{ severity: 'error', code, diagnostics }], headers),
    unexpected: false,
  });
  const unavailable = databaseUnavailable(err);
  if (unavailable) return { error: unavailable, unexpected: false };
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fail(413, 'too-long', 'The request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail(415, 'not-supported', 'Unsupported Content-Type; send application/fhir+json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return fail(400, 'structure', 'The request body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return fail(400, 'structure', 'Content-Length does not match the body');
    case '22021': // a NUL or other character PostgreSQL text cannot hold
    case '22P05':
      return fail(400, 'value', 'The request contains a character that cannot be stored (e.g. U+0000)');
    case '57014':
      return fail(503, 'too-costly', 'The database did not answer within the statement timeout; retry or narrow the request', { 'Retry-After': '5' });
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return fail(e.statusCode, 'invalid', 'The request could not be processed as sent');
  }
  return { error: new FhirError(500, [{ severity: 'error', code: 'exception', diagnostics: 'Internal server error' }]), unexpected: true };
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const { error, unexpected } = toFhirError(err);
  if (unexpected) request.log.error({ err }, 'unexpected error');
  else if (error.status >= 500) request.log.warn({ err }, 'request failed');
  noteFailure(request, error.auditDetail ?? error.issues[0]?.diagnostics ?? `HTTP ${error.status}`);
  const issues = error.issues.map((i) => ({ ...i, diagnostics: error.status === 500 ? `${i.diagnostics} (request ${request.id})` : i.diagnostics }));
  const type = request.routeOptions?.config?.outcomeFollowsAccept ? outcomeMediaType(request.headers.accept) : FHIR_JSON_UTF8;
  return reply.code(error.status).headers(error.headers).type(type).send(JSON.stringify(operationOutcome(issues)));
}

/**
 * A complete HTTP/1.1 error answer as raw text, for failures Node reports before there is a
 * request to reply to (a request that never finished arriving, oversized headers, bytes that
 * are not HTTP). The connection is closed after it.
 */
export function rawErrorResponse(error: FhirError, extraHeaders: Record<string, string>): string {
  const body = JSON.stringify(operationOutcome(error.issues));
  const headers = { 'Content-Type': FHIR_JSON_UTF8, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...error.headers, ...extraHeaders };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}
