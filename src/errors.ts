/**
 * Typed errors: modules below the HTTP layer throw these, and exactly one place
 * (src/http/outcome.ts) turns them into a status code and an OperationOutcome.
 * Each carries an R4 IssueType code and a message safe to show a client.
 */

export type IssueType =
  | 'invalid'
  | 'structure'
  | 'invariant'
  | 'required'
  | 'value'
  | 'not-supported'
  | 'not-found'
  | 'suppressed'
  | 'deleted'
  | 'conflict'
  | 'duplicate'
  | 'processing'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'throttled'
  | 'transient'
  | 'timeout'
  | 'too-costly'
  | 'too-long'
  | 'exception'
  | 'incomplete'
  | 'informational';

export interface Issue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueType;
  diagnostics: string;
  /** FHIRPath-style locations of the problem, e.g. `Patient.name[0].given`. */
  expression?: string[];
  /** The invariant's key (e.g. `mdd-1`) for code `invariant`: for summaries, never sent. */
  rule?: string;
}

export class FhirError extends Error {
  readonly status: number;
  readonly issues: Issue[];
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string>;
  /** What the audit record's detail says, when it should say more than the client is told. */
  auditDetail?: string;

  constructor(status: number, issues: Issue[], headers: Record<string, string> = {}) {
    super(issues.map((i) => i.diagnostics).join('; '));
    this.status = status;
    this.issues = issues;
    this.headers = headers;
  }
}

function one(status: number, code: IssueType, diagnostics: string, expression?: string[]): Issue[] {
  return [{ severity: 'error', code, diagnostics, ...(expression?.length ? { expression } : {}) }];
}

/** 400: the request is malformed or a value is invalid. */
export class InvalidError extends FhirError {
  constructor(diagnostics: string, expression?: string[], code: IssueType = 'invalid') {
    super(400, one(400, code, diagnostics, expression));
  }
}

/** 400 with several issues, e.g. every schema violation of one resource. */
export class ValidationError extends FhirError {
  constructor(issues: Issue[]) {
    super(400, issues);
  }
}

/**
 * 422: well formed, but cannot be acted on — HRex `$member-match` with no unique match or a
 * consent that cannot be honoured. `auditDetail` says why in the audit trail only.
 */
export class UnprocessableError extends FhirError {
  constructor(diagnostics: string, auditDetail?: string) {
    super(422, one(422, 'processing', diagnostics));
    this.auditDetail = auditDetail;
  }
}

export class NotFoundError extends FhirError {
  constructor(diagnostics: string) {
    super(404, one(404, 'not-found', diagnostics));
  }
}

export class GoneError extends FhirError {
  readonly versionId: number;
  constructor(diagnostics: string, versionId: number) {
    super(410, one(410, 'deleted', diagnostics));
    this.versionId = versionId;
  }
}

/** 409: a write collided with another (e.g. a concurrent create of the same id). */
export class ConflictError extends FhirError {
  constructor(diagnostics: string) {
    super(409, one(409, 'conflict', diagnostics));
  }
}

/** 412: `If-Match` named a version that is no longer current, or conditional create matched several. */
export class PreconditionFailedError extends FhirError {
  constructor(diagnostics: string) {
    super(412, one(412, 'conflict', diagnostics));
  }
}

export class NotSupportedError extends FhirError {
  constructor(diagnostics: string, status = 400) {
    super(status, one(status, 'not-supported', diagnostics));
  }
}

export class MethodNotAllowedError extends FhirError {
  constructor(diagnostics: string, allow: string[]) {
    super(405, one(405, 'not-supported', diagnostics), { Allow: allow.join(', ') });
  }
}

export class NotAcceptableError extends FhirError {
  constructor(diagnostics: string) {
    super(406, one(406, 'not-supported', diagnostics));
  }
}

export class UnsupportedMediaTypeError extends FhirError {
  constructor(diagnostics: string) {
    super(415, one(415, 'not-supported', diagnostics));
  }
}

export class PayloadTooLargeError extends FhirError {
  constructor(diagnostics: string) {
    super(413, one(413, 'too-long', diagnostics));
  }
}

/** 414: the query string is longer than MAX_QUERY_LENGTH. */
export class QueryTooLongError extends FhirError {
  constructor(diagnostics: string) {
    super(414, one(414, 'too-long', diagnostics));
  }
}

/** 431: the request line and headers are larger than the server reads. */
export class HeadersTooLargeError extends FhirError {
  constructor(diagnostics: string) {
    super(431, one(431, 'too-long', diagnostics));
  }
}

/** 400: more query (or `_search` form) parameters than MAX_QUERY_PARAMS. */
export class TooManyParametersError extends FhirError {
  constructor(diagnostics: string) {
    super(400, one(400, 'too-costly', diagnostics));
  }
}

/** 408: the client did not send its whole request within REQUEST_TIMEOUT_MS. */
export class RequestTimeoutError extends FhirError {
  constructor(diagnostics: string) {
    super(408, one(408, 'timeout', diagnostics));
  }
}

/** 400 `too-costly`: the request asks for more work than a configured limit allows. */
export class TooCostlyError extends FhirError {
  constructor(diagnostics: string, expression?: string[]) {
    super(400, one(400, 'too-costly', diagnostics, expression));
  }
}

/** 503: the server could not answer within RESPONSE_TIMEOUT_MS; the client may retry. */
export class ResponseTimeoutError extends FhirError {
  constructor(diagnostics: string, retryAfterSeconds = 5) {
    super(503, one(503, 'timeout', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
  }
}

/** 503: the database is unreachable or overloaded; the client should retry. */
export class UnavailableError extends FhirError {
  constructor(diagnostics: string, retryAfterSeconds = 5) {
    super(503, one(503, 'transient', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
  }
}

/**
 * 401: no credentials, or a bad, expired or foreign token (RS-03, RS-04). The
 * WWW-Authenticate challenge carries `error="invalid_token"` only when a token was sent.
 */
export class UnauthorizedError extends FhirError {
  constructor(diagnostics: string, challenge: string) {
    super(401, one(401, 'login', diagnostics), { 'WWW-Authenticate': challenge });
  }
}

/** 403: the token is valid but its scopes do not cover the request (RS-05). */
export class ForbiddenError extends FhirError {
  constructor(diagnostics: string, challenge?: string) {
    super(403, one(403, 'forbidden', diagnostics), challenge ? { 'WWW-Authenticate': challenge } : {});
  }
}

/** 429: too many concurrent jobs or requests; the client should wait `Retry-After` seconds. */
export class ThrottledError extends FhirError {
  constructor(diagnostics: string, retryAfterSeconds: number) {
    super(429, one(429, 'throttled', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
  }
}

/** 500 with a reason the client may see, e.g. an export job that failed. */
export class FailedError extends FhirError {
  constructor(diagnostics: string) {
    super(500, one(500, 'exception', diagnostics));
  }
}
