/**
 * The admin API as the console uses it: same-origin JSON, the session cookie sent by the
 * browser, the session's CSRF token on every state change, and RFC 9457 problems turned into
 * errors whose message is the problem's detail.
 */
export interface Session {
  email: string;
  role: 'admin' | 'operator' | 'auditor';
  tenant: string | null;
  source: 'local' | 'oidc';
  permissions: string[];
  csrfToken: string;
  mustChangePassword: boolean;
  expiresAt: string;
  idleMinutes: number;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: () => void = () => undefined;

export function setCsrf(token: string): void {
  csrf = token;
}

/** Called when any request finds the session gone (401): the console shows the sign-in page. */
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

export const API = '/admin/api';

export async function call<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${API}${path}`, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), credentials: 'same-origin' });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/session') onSignedOut();
    throw new ApiError(res.status, json?.detail ?? `The server answered ${res.status}`);
  }
  return json as T;
}

export const t = (tenant: string, path = '') => `/tenants/${encodeURIComponent(tenant)}${path}`;

export function can(s: Session | undefined, permission: string): boolean {
  return !!s?.permissions.includes(permission);
}

export const fmtNumber = (n: number | null | undefined) => (n === null || n === undefined ? '—' : new Intl.NumberFormat('en-US').format(n));
export const fmtDate = (s: string | null | undefined) => (s ? new Date(s).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'medium' }) : '—');
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}
