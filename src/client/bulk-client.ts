/**
 * A Bulk Data 2.0 client for any server, ours included: authenticates (private-key JWT or
 * client secret), kicks off, polls at the server's Retry-After (also through 429 and 503),
 * renews the token when it runs out, then downloads every file (src/client/download.ts)
 * and writes the manifest beside them. Used by `payer-fhir export`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { JWK } from 'jose';
import { fetchAccessToken, type TokenResponse } from '../auth/client-credentials.js';
import { downloadAll, type DownloadedFile } from './download.js';

export interface ExportRequest {
  base: string;
  tokenUrl: string;
  clientId: string;
  key?: JWK;
  secret?: string;
  scope: string;
  level: 'system' | 'patient' | 'group';
  group?: string;
  types?: string;
  since?: string;
  typeFilters?: string[];
  elements?: string;
  out: string;
  /** Progress and status lines for the user. */
  onEvent?: (e: ExportEvent) => void;
  /** Longest wait between polls, seconds (the server's Retry-After is honoured up to this). */
  maxWaitSeconds?: number;
}

export type ExportEvent =
  | { kind: 'kicked-off'; statusUrl: string }
  | { kind: 'waiting'; progress?: string; seconds: number; status: number }
  | { kind: 'manifest'; files: number }
  | { kind: 'file-progress'; name: string; bytes: number; total?: number }
  | { kind: 'file-done'; name: string; lines: number };

/** Access tokens for the whole run: fetched lazily, renewed shortly before they expire or after a 401. */
export class TokenSource {
  private current: { token: string; expires: number } | undefined;
  constructor(private readonly req: Pick<ExportRequest, 'tokenUrl' | 'clientId' | 'key' | 'secret' | 'scope'>) {}

  async get(): Promise<string> {
    if (!this.current || Date.now() > this.current.expires - 30_000) {
      const res = await this.fetch();
      this.current = { token: res.access_token, expires: Date.now() + res.expires_in * 1000 };
    }
    return this.current.token;
  }

  invalidate(): void {
    this.current = undefined;
  }

  private async fetch(): Promise<TokenResponse> {
    if (this.req.key) return fetchAccessToken(this.req.tokenUrl, this.req.clientId, this.req.key, this.req.scope);
    const res = await fetch(this.req.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(this.req.clientId)}:${encodeURIComponent(this.req.secret ?? '')}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: this.req.scope }),
    });
    const json = (await res.json().catch(() => ({}))) as Partial<TokenResponse> & { error?: string; error_description?: string };
    if (res.status !== 200 || !json.access_token) throw new Error(`token request failed (HTTP ${res.status}): ${json.error ?? 'unknown error'}${json.error_description ? ` — ${json.error_description}` : ''}`);
    return json as TokenResponse;
  }
}

/** Seconds a Retry-After header asks for (delay-seconds or an HTTP-date), within [1, max]. */
export function retryAfterSeconds(header: string | null, fallback: number, max: number): number {
  if (!header) return fallback;
  const n = /^\d+$/.test(header.trim()) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Number.isFinite(n) ? Math.min(max, Math.max(1, Math.ceil(n))) : fallback;
}

/** The OperationOutcome diagnostics of an error answer, or its first bytes. */
async function reason(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const json = JSON.parse(text) as { issue?: { diagnostics?: string; code?: string }[] };
    const d = json.issue?.map((i) => i.diagnostics ?? i.code).filter(Boolean).join('; ');
    if (d) return d;
  } catch {
    // not JSON
  }
  return text.slice(0, 200) || res.statusText;
}

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

export function kickoffUrl(req: ExportRequest): string {
  const base = req.base.replace(/\/+$/, '');
  const path = req.level === 'group' ? `/Group/${encodeURIComponent(req.group ?? '')}/$export` : req.level === 'patient' ? '/Patient/$export' : '/$export';
  const q = new URLSearchParams();
  if (req.types) q.set('_type', req.types);
  if (req.since) q.set('_since', req.since);
  if (req.elements) q.set('_elements', req.elements);
  for (const f of req.typeFilters ?? []) q.append('_typeFilter', f);
  const qs = q.toString();
  return `${base}${path}${qs ? `?${qs}` : ''}`;
}

/**
 * Sends an authenticated GET (or DELETE), renewing the token once after a 401 and waiting
 * out 429/503 answers as their Retry-After asks.
 */
async function call(tokens: TokenSource, url: string, headers: Record<string, string>, maxWait: number, notify?: (status: number, seconds: number) => void): Promise<Response> {
  let renewed = false;
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { headers: { ...headers, authorization: `Bearer ${await tokens.get()}` } });
    if (res.status === 401 && !renewed) {
      renewed = true;
      tokens.invalidate();
      await res.arrayBuffer().catch(() => undefined);
      continue;
    }
    if ((res.status === 429 || res.status === 503) && attempt < 20) {
      const wait = retryAfterSeconds(res.headers.get('retry-after'), 2 ** Math.min(attempt, 5), maxWait);
      notify?.(res.status, wait);
      await res.arrayBuffer().catch(() => undefined);
      await sleep(wait);
      continue;
    }
    return res;
  }
}

export interface ExportResult {
  manifest: { output: { type?: string; url: string; count?: number }[]; error: { url: string }[]; deleted?: { url: string }[] } & Record<string, unknown>;
  files: DownloadedFile[];
}

export async function runBulkExport(req: ExportRequest): Promise<ExportResult> {
  const maxWait = req.maxWaitSeconds ?? 60;
  const tokens = new TokenSource(req);
  const emit = req.onEvent ?? (() => undefined);
  const kick = await call(tokens, kickoffUrl(req), { accept: 'application/fhir+json', prefer: 'respond-async' }, maxWait, (status, seconds) => emit({ kind: 'waiting', status, seconds }));
  if (kick.status !== 202) throw new Error(`kick-off failed (HTTP ${kick.status}): ${await reason(kick)}`);
  await kick.arrayBuffer().catch(() => undefined);
  const statusUrl = kick.headers.get('content-location');
  if (!statusUrl) throw new Error('kick-off answered 202 without a Content-Location');
  emit({ kind: 'kicked-off', statusUrl });

  let manifest: ExportResult['manifest'];
  for (;;) {
    const res = await call(tokens, statusUrl, { accept: 'application/json' }, maxWait, (status, seconds) => emit({ kind: 'waiting', status, seconds }));
    if (res.status === 200) {
      manifest = (await res.json()) as ExportResult['manifest'];
      break;
    }
    if (res.status !== 202) throw new Error(`export failed (HTTP ${res.status}): ${await reason(res)}`);
    await res.arrayBuffer().catch(() => undefined);
    const seconds = retryAfterSeconds(res.headers.get('retry-after'), 2, maxWait);
    emit({ kind: 'waiting', status: 202, seconds, progress: res.headers.get('x-progress') ?? undefined });
    await sleep(seconds);
  }
  const items = [...manifest.output, ...(manifest.error ?? []), ...(manifest.deleted ?? [])];
  emit({ kind: 'manifest', files: items.length });
  await fs.mkdir(req.out, { recursive: true });
  const files = await downloadAll(items, req.out, {
    requiresToken: manifest.requiresAccessToken !== false,
    token: () => tokens.get(),
    renew: () => tokens.invalidate(),
    onProgress: (name, bytes, total) => emit({ kind: 'file-progress', name, bytes, total }),
    onDone: (f) => emit({ kind: 'file-done', name: f.name, lines: f.lines }),
  });
  await fs.writeFile(path.join(req.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, files };
}
