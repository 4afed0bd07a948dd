/** Hand-written HTTP requests for the edge cases FHIR clients never send. */

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
}

const tokens = new Map<string, string>();

/** Makes `http()` send this bearer token with every request under `base` (set by newTenant). */
export function rememberToken(base: string, token: string): void {
  tokens.set(base, token);
}

/**
 * A raw HTTP request. The tenant's full-access token is attached automatically unless the
 * caller sets its own Authorization header or passes `auth: false` (to test 401s).
 */
export async function http(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; auth?: boolean } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.auth !== false && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) {
    for (const [base, token] of tokens) if (url === base || url.startsWith(`${base}/`) || url.startsWith(`${base}?`)) headers.authorization = `Bearer ${token}`;
  }
  let body: string | Buffer | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' || Buffer.isBuffer(init.body) ? (init.body as string | Buffer) : JSON.stringify(init.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/fhir+json';
  }
  const res = await fetch(url, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body: body as BodyInit | undefined });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts the shape every error answer must have (REST-09): an OperationOutcome with typed issues. */
export function isOperationOutcome(r: HttpResult): boolean {
  return (
    (r.headers.get('content-type') ?? '').startsWith('application/fhir+json') &&
    r.json?.resourceType === 'OperationOutcome' &&
    Array.isArray(r.json.issue) &&
    r.json.issue.length > 0 &&
    r.json.issue.every((i: any) => typeof i.severity === 'string' && typeof i.code === 'string')
  );
}
