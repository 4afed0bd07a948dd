/**
 * Where export files live: a local folder (default) or S3-compatible object storage
 * (`EXPORT_STORAGE=s3://bucket/prefix`, src/bulk/s3-storage.ts). Keys are
 * `tenant/job/file`; a file becomes visible only once completely written, so a reader never
 * sees half a file and a crashed writer leaves nothing a manifest lists.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A file being written: chunks in order, then `end` to publish or `abort` to discard. */
export interface FileSink {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
  abort(): Promise<void>;
}

export interface StoredFile {
  stream: Readable;
  /** Total size of the file (not of the range). */
  size: number;
}

export interface ExportStorage {
  /** `file` or `s3`, for logs and the CapabilityStatement's documentation. */
  readonly kind: string;
  create(key: string): FileSink;
  /** The file, or the inclusive byte range of it; undefined when it does not exist. */
  open(key: string, range?: { start: number; end: number }): Promise<StoredFile | undefined>;
  size(key: string): Promise<number | undefined>;
  /** Deletes every file under `prefix` (a job's folder). */
  removePrefix(prefix: string): Promise<void>;
  /** A short-lived URL the client may be redirected to after the token check, if the store has one. */
  presignedUrl?(key: string, ttlSeconds: number): Promise<string>;
}

/**
 * The media type of an export file, from its name: Bulk files are FHIR NDJSON; view exports
 * (src/views/export-unit.ts, files `view<n>-…`) write CSV, Parquet and NDJSON rows, which are
 * not FHIR resources (their error files, `errors-view…`, hold OperationOutcomes).
 */
export function exportFileMediaType(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  if (name.endsWith('.csv')) return 'text/csv; charset=utf-8';
  if (name.endsWith('.parquet')) return 'application/vnd.apache.parquet';
  if (/^view\d+-/.test(name)) return 'application/x-ndjson';
  return 'application/fhir+ndjson';
}

/** Keys are built from tenant ids, job uuids and generated names only; this keeps them so. */
export function assertSafeKey(key: string): void {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) || key.split('/').some((p) => p === '.' || p === '..')) {
    throw new Error(`unsafe export storage key: ${key}`);
  }
}

export class LocalStorage implements ExportStorage {
  readonly kind = 'file';
  constructor(readonly root: string) {}

  private file(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, key);
  }

  create(key: string): FileSink {
    const final = this.file(key);
    const temp = `${final}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
    fs.mkdirSync(path.dirname(final), { recursive: true });
    const out = fs.createWriteStream(temp);
    let failed: Error | undefined;
    out.on('error', (err) => (failed = err));
    return {
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (failed) return reject(failed);
          if (out.write(chunk)) resolve();
          else {
            const done = () => {
              out.off('error', onError);
              resolve();
            };
            const onError = (err: Error) => {
              out.off('drain', done);
              reject(err);
            };
            out.once('drain', done);
            out.once('error', onError);
          }
        }),
      end: async () => {
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
        if (failed) throw failed;
        await fs.promises.rename(temp, final);
      },
      abort: async () => {
        out.destroy();
        await fs.promises.rm(temp, { force: true });
      },
    };
  }

  async open(key: string, range?: { start: number; end: number }): Promise<StoredFile | undefined> {
    const file = this.file(key);
    try {
      const { size } = await fs.promises.stat(file);
      return { stream: fs.createReadStream(file, range), size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await fs.promises.stat(this.file(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async removePrefix(prefix: string): Promise<void> {
    await fs.promises.rm(this.file(prefix), { recursive: true, force: true });
  }
}

/** The storage EXPORT_STORAGE names. */
export async function openStorage(spec: string): Promise<ExportStorage> {
  if (spec.startsWith('s3://')) {
    const { S3Storage } = await import('./s3-storage.js');
    return S3Storage.fromUrl(spec);
  }
  const dir = spec.startsWith('file:') ? spec.slice('file:'.length) : spec;
  return new LocalStorage(path.resolve(dir));
}

/** Copies a stored file into a writable stream (tests and the export client use it). */
export async function copyTo(file: StoredFile, out: NodeJS.WritableStream): Promise<void> {
  await pipeline(file.stream, out);
}
