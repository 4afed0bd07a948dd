/**
 * What an import tells its caller: per-type counts of what was written, and every rejected
 * line or resource as `file:line: reason`, the reason being the same diagnostics the API
 * puts in its OperationOutcome.
 */
import pg from 'pg';
import { FhirError } from '../errors.js';
import type { WriteOutcome } from '../interactions/writes.js';

/** One rejected line, resource or file. `line` is 1 for a Bundle or single-resource file. */
export interface ImportIssue {
  file: string;
  line: number;
  /** Resource type when it was known, for the per-type summary. */
  type?: string;
  message: string;
  /** A warning (the resource was written anyway), not a rejection. */
  warning?: boolean;
}

export interface TypeCounts {
  created: number;
  updated: number;
  deleted: number;
  /** Conditional creates that matched an existing resource, deletes of nothing. */
  unchanged: number;
  rejected: number;
}

export interface ImportResult {
  files: number;
  /** Resources written (created, updated, deleted or matched), all types. */
  written: number;
  /** Lines, resources and files rejected, all types. */
  rejected: number;
  /** Resources written with a warning (e.g. an unresolved reference kept as written). */
  warnings: number;
  /** Per resource type; rejections whose type is unknown count under `(unknown)`. */
  counts: Record<string, TypeCounts>;
  /** The first issues (all of them go to `onIssue` as they happen). */
  issues: ImportIssue[];
  /** False when the import stopped early: `--on-error abort`, or the database failed. */
  complete: boolean;
  /** When stopped: the file being imported (under `--on-error abort` nothing from it was written). */
  stoppedAt?: string;
  /** Complete and nothing rejected. */
  ok: boolean;
  elapsedMs: number;
}

export const UNKNOWN_TYPE = '(unknown)';
const KEPT_ISSUES = 1000;

export function formatIssue(issue: ImportIssue): string {
  return `${issue.file}:${issue.line}: ${issue.warning ? 'warning: ' : ''}${issue.message}`;
}

/** The reason shown for a thrown error: FHIR issues' diagnostics, else the error's own message. */
export function reasonOf(err: unknown): string {
  if (err instanceof FhirError) return err.issues.map((i) => i.diagnostics).join('; ');
  if (err instanceof pg.DatabaseError) return `the database refused it: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Accumulates counts and issues; memory stays bounded however many lines are rejected. */
export class ImportTally {
  readonly counts: Record<string, TypeCounts> = {};
  readonly issues: ImportIssue[] = [];
  written = 0;
  rejected = 0;
  warnings = 0;

  constructor(private readonly onIssue: (issue: ImportIssue) => void = () => {}) {}

  private of(type: string): TypeCounts {
    return (this.counts[type] ??= { created: 0, updated: 0, deleted: 0, unchanged: 0, rejected: 0 });
  }

  wrote(out: WriteOutcome): void {
    const c = this.of(out.type);
    if (out.outcome === 'exists') c.unchanged++;
    else c[out.outcome]++;
    this.written++;
  }

  /** Adds the write counts of `other` (a file's, once its transaction committed). */
  absorbWrites(other: ImportTally): void {
    for (const [type, c] of Object.entries(other.counts)) {
      const mine = this.of(type);
      mine.created += c.created;
      mine.updated += c.updated;
      mine.deleted += c.deleted;
      mine.unchanged += c.unchanged;
    }
    this.written += other.written;
  }

  reject(issue: ImportIssue): void {
    this.of(issue.type ?? UNKNOWN_TYPE).rejected++;
    this.rejected++;
    if (this.issues.length < KEPT_ISSUES) this.issues.push(issue);
    this.onIssue(issue);
  }

  /** A warning goes to `onIssue` as it happens and is counted; it is not kept. */
  warn(issue: ImportIssue): void {
    this.warnings++;
    this.onIssue({ ...issue, warning: true });
  }

  result(files: number, complete: boolean, elapsedMs: number): ImportResult {
    return {
      files,
      written: this.written,
      rejected: this.rejected,
      warnings: this.warnings,
      counts: this.counts,
      issues: this.issues,
      complete,
      ok: complete && this.rejected === 0,
      elapsedMs,
    };
  }
}
