/**
 * Which files an import reads: the named files, and inside named folders (recursively, in
 * name order, so a re-run loads in the same order) every `.ndjson` and `.json` file, either
 * optionally gzip-compressed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export type FileFormat = 'ndjson' | 'json';

export interface ImportFile {
  path: string;
  format: FileFormat;
  gzip: boolean;
  /** Bytes on disk (compressed size for .gz), for progress. */
  size: number;
}

/** A named path that cannot be imported: missing, unreadable, or of an unknown kind. */
export class ImportPathError extends Error {}

const FORMATS: [suffix: string, format: FileFormat, gzip: boolean][] = [
  ['.ndjson', 'ndjson', false],
  ['.ndjson.gz', 'ndjson', true],
  ['.json', 'json', false],
  ['.json.gz', 'json', true],
];

function formatOf(file: string): { format: FileFormat; gzip: boolean } | undefined {
  const lower = file.toLowerCase();
  const hit = FORMATS.find(([suffix]) => lower.endsWith(suffix));
  return hit && { format: hit[1], gzip: hit[2] };
}

async function walk(dir: string, out: ImportFile[]): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (e.isFile() && !e.name.startsWith('.')) {
      const kind = formatOf(e.name);
      if (kind) out.push({ path: full, ...kind, size: (await fs.stat(full)).size });
    }
  }
}

/** Expands files and folders; throws ImportPathError before anything is read when a path is unusable. */
export async function collectFiles(paths: string[]): Promise<ImportFile[]> {
  const out: ImportFile[] = [];
  for (const p of paths) {
    let stat;
    try {
      stat = await fs.stat(p);
    } catch (err) {
      throw new ImportPathError(`${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    if (stat.isDirectory()) {
      await walk(p, out);
      continue;
    }
    const kind = formatOf(p);
    if (!kind) throw new ImportPathError(`${p}: not an .ndjson or .json file (optionally .gz)`);
    out.push({ path: p, ...kind, size: stat.size });
  }
  return out;
}
