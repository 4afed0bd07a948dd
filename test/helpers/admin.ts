/** The admin API as the console calls it: sign in, keep the cookie and CSRF token, send JSON. */
import crypto from 'node:crypto';
import type pg from 'pg';
import { addAccount } from '../../src/admin/accounts.js';

export interface AdminSession {
  cookie: string;
  csrf: string;
  body: any;
}

export interface ApiResult {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export const TEST_PASSWORD = 'correct horse battery staple';

/** A unique email, so test files and runs never collide on the global account table. */
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}@payer.example`;
}

export async function makeAccount(pool: pg.Pool, role: string, tenant: string | null, prefix: string = role): Promise<string> {
  const email = uniqueEmail(prefix);
  await addAccount(pool, { email, role, tenant, password: TEST_PASSWORD });
  return email;
}

export async function api(origin: string, path: string, init: { method?: string; body?: unknown; session?: AdminSession; headers?: Record<string, string>; csrf?: boolean } = {}): Promise<ApiResult> {
  const headers: Record<string, string> = { accept: 'application/json', ...(init.headers ?? {}) };
  if (init.session) {
    headers.cookie = init.session.cookie;
    if (init.csrf !== false && init.method && init.method !== 'GET') headers['x-csrf-token'] = init.session.csrf;
  }
  let body: string | undefined;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${origin}/admin/api${path}`, { method: init.method ?? 'GET', headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function signIn(origin: string, email: string, password = TEST_PASSWORD): Promise<AdminSession> {
  const r = await api(origin, '/session', { method: 'POST', body: { email, password } });
  if (r.status !== 200) throw new Error(`sign-in of ${email} failed: ${r.status} ${r.text}`);
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0];
  return { cookie, csrf: r.json.csrfToken, body: r.json };
}

/** An RFC 9457 problem: the media type and its members. */
export function isProblem(r: ApiResult, status: number): boolean {
  return (
    r.status === status &&
    (r.headers.get('content-type') ?? '').startsWith('application/problem+json') &&
    r.json?.status === status &&
    typeof r.json.title === 'string' &&
    typeof r.json.detail === 'string'
  );
}
