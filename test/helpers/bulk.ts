/**
 * Bulk export from the client's side: kick off, poll at the advertised Retry-After (as
 * Inferno does), download every file with the token, and collect the lines per type.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fixtureResources } from '../fixtures/us-core.js';
import { http, type HttpResult } from './http.js';

/** The compiled helper lives in dist/test/helpers; the repository is three levels up. */
export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');

export const KICKOFF_HEADERS = { accept: 'application/fhir+json', prefer: 'respond-async' };

/**
 * The project's US Core fixtures (test/fixtures/us-core.ts), stored through the API as PUTs in
 * transaction Bundles of 100 (a few requests, not hundreds); returns what was stored.
 */
export async function loadFixtures(base: string): Promise<any[]> {
  const stored: any[] = [];
  const all = fixtureResources();
  for (let i = 0; i < all.length; i += 100) {
    const entry = all.slice(i, i + 100).map((resource) => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } }));
    const r = await http(base, { method: 'POST', body: { resourceType: 'Bundle', type: 'transaction', entry }, headers: { prefer: 'return=representation' } });
    assert.equal(r.status, 200, r.text.slice(0, 500));
    for (const e of r.json.entry) {
      assert.match(e.response.status, /^20[01]/);
      stored.push(e.resource);
    }
  }
  assert.equal(stored.length, all.length);
  return stored;
}

export async function kickOff(url: string, init: { headers?: Record<string, string>; body?: unknown; method?: string } = {}): Promise<HttpResult> {
  return http(url, { method: init.method ?? (init.body ? 'POST' : 'GET'), headers: { ...KICKOFF_HEADERS, ...(init.headers ?? {}) }, body: init.body });
}

/** Polls a status URL until it is no longer 202, honouring Retry-After; returns the final answer. */
export async function poll(statusUrl: string, headers: Record<string, string> = {}, timeoutMs = 120_000): Promise<HttpResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await http(statusUrl, { headers: { accept: 'application/json', ...headers } });
    if (r.status !== 202) return r;
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/, 'Retry-After is integer seconds');
    if (Date.now() > deadline) throw new Error(`export did not finish in ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, Math.min(Number(r.headers.get('retry-after')) * 1000, 1000)));
  }
}

export interface ExportResult {
  manifest: any;
  status: HttpResult;
  /** Parsed lines per manifest item type (organized files under '*'). */
  byType: Map<string, any[]>;
  /** Raw text of each output file by URL. */
  files: Map<string, string>;
}

/** Runs an export to completion and downloads everything it lists. */
export async function runExport(url: string, init: { headers?: Record<string, string>; body?: unknown } = {}): Promise<ExportResult> {
  const k = await kickOff(url, init);
  assert.equal(k.status, 202, `kick-off ${url}: ${k.text}`);
  const status = await poll(k.headers.get('content-location')!);
  assert.equal(status.status, 200, `status: ${status.text}`);
  const manifest = status.json;
  const byType = new Map<string, any[]>();
  const files = new Map<string, string>();
  for (const item of [...manifest.output, ...manifest.error, ...(manifest.deleted ?? [])]) {
    const r = await http(item.url, { headers: { accept: 'application/fhir+ndjson' } });
    assert.equal(r.status, 200, `${item.url}: ${r.text.slice(0, 300)}`);
    assert.ok((r.headers.get('content-type') ?? '').startsWith('application/fhir+ndjson'), 'DL-03 content type');
    files.set(item.url, r.text);
    const lines = r.text.split('\n');
    assert.equal(lines.pop(), '', 'DL-04: the file ends with one newline');
    for (const line of lines) {
      assert.ok(line.length > 0, 'DL-04: no blank lines');
      const res = JSON.parse(line);
      const key = item.type ?? '*';
      if (!byType.has(key)) byType.set(key, []);
      byType.get(key)!.push(res);
    }
    if (item.count !== undefined) assert.equal(item.count, lines.length, `count of ${item.url}`);
  }
  return { manifest, status, byType, files };
}

/** `Type/id` strings of a list of resources, sorted. */
export function refs(resources: any[]): string[] {
  return resources.map((r) => `${r.resourceType}/${r.id}`).sort();
}
