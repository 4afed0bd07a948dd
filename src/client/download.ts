/**
 * Downloads the files of a manifest, four at a time. A broken transfer resumes where it
 * stopped with an HTTP Range request (a server that ignores Range restarts the file); each
 * file is written under a temporary name and renamed when complete, and its lines are
 * checked against the manifest's `count`.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export interface DownloadedFile {
  name: string;
  url: string;
  type?: string;
  bytes: number;
  lines: number;
}

export interface DownloadOptions {
  requiresToken: boolean;
  token: () => Promise<string>;
  renew: () => void;
  onProgress?: (name: string, bytes: number, total?: number) => void;
  onDone?: (f: DownloadedFile) => void;
  concurrency?: number;
  attempts?: number;
}

/** A safe local file name from the URL's last segment. */
export function fileNameOf(url: string): string {
  const last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '') || 'file.ndjson';
  return last.replace(/[^A-Za-z0-9._-]/g, '_');
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  const handle = await fs.open(file);
  try {
    for await (const chunk of handle.createReadStream()) {
      for (let i = (chunk as Buffer).indexOf(10); i >= 0; i = (chunk as Buffer).indexOf(10, i + 1)) n++;
    }
  } finally {
    await handle.close();
  }
  return n;
}

/** Appends the body of one GET to `partial` from byte `offset`; returns the new size. */
async function fetchInto(url: string, partial: string, offset: number, opts: DownloadOptions, name: string): Promise<{ size: number; complete: boolean }> {
  const headers: Record<string, string> = { accept: 'application/fhir+ndjson' };
  if (opts.requiresToken) headers.authorization = `Bearer ${await opts.token()}`;
  if (offset > 0) headers.range = `bytes=${offset}-`;
  // Redirects (e.g. to a presigned URL) are followed without the token (DL-09).
  let res = await fetch(url, { headers, redirect: 'manual' });
  if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
    res = await fetch(new URL(res.headers.get('location')!, url), { headers: offset > 0 ? { range: headers.range } : {} });
  }
  if (res.status === 401 && opts.requiresToken) {
    opts.renew();
    throw new Error(`HTTP 401 for ${name}`);
  }
  if (res.status === 416 && offset > 0) return { size: offset, complete: true };
  if (res.status !== 200 && res.status !== 206) throw Object.assign(new Error(`HTTP ${res.status} for ${name}`), { fatal: res.status === 404 || res.status === 403 || res.status === 410 });
  // A 200 to a ranged request means the server sent the whole file again: start over.
  const start = res.status === 206 ? offset : 0;
  const total = res.status === 206 ? Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1]) || undefined : Number(res.headers.get('content-length')) || undefined;
  const out = createWriteStream(partial, { flags: start > 0 ? 'r+' : 'w', start });
  let size = start;
  try {
    for await (const chunk of Readable.fromWeb(res.body as WebReadableStream)) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      size += (chunk as Buffer).length;
      opts.onProgress?.(name, size, total);
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  return { size, complete: total === undefined || size >= total };
}

async function downloadOne(item: { url: string; type?: string; count?: number }, dir: string, opts: DownloadOptions): Promise<DownloadedFile> {
  const name = fileNameOf(item.url);
  const final = path.join(dir, name);
  const partial = `${final}.partial`;
  let size = 0;
  let lastError: unknown;
  for (let attempt = 1; attempt <= (opts.attempts ?? 6); attempt++) {
    try {
      const r = await fetchInto(item.url, partial, size, opts, name);
      size = r.size;
      if (r.complete) {
        lastError = undefined;
        break;
      }
      lastError = new Error(`${name} ended early`);
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
      lastError = err;
      size = await fs.stat(partial).then((s) => s.size, () => 0);
    }
    await new Promise((r) => setTimeout(r, Math.min(8, attempt) * 250));
  }
  if (lastError) throw new Error(`download of ${name} failed: ${(lastError as Error).message}`);
  await fs.rename(partial, final);
  const lines = await countLines(final);
  if (item.count !== undefined && item.count !== lines) throw new Error(`${name}: the manifest says ${item.count} resources, the file has ${lines} lines`);
  return { name, url: item.url, type: item.type, bytes: size, lines };
}

export async function downloadAll(items: { url: string; type?: string; count?: number }[], dir: string, opts: DownloadOptions): Promise<DownloadedFile[]> {
  const results: DownloadedFile[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await downloadOne(items[i], dir, opts);
      opts.onDone?.(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, items.length) }, worker));
  return results;
}
