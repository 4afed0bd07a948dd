/**
 * Groups import items into batches and writes them while the caller parses and validates the
 * next ones: parsing is CPU work in this process, writing is mostly work in PostgreSQL, so
 * overlapping them keeps both busy. Up to `concurrency` batches are written at once, each on
 * its own connection, so PostgreSQL can use more than one core; at most that many batches
 * plus the one being filled exist, so memory stays flat however large the input.
 *
 * A batch never holds the same Type/id twice (performWrites rejects that): the batch is
 * handed over before a second write of a resource joins the next one. And a batch waits for
 * any batch in flight that writes one of the same resources, so versions land in file order.
 */
import pg from 'pg';
import { FhirError } from '../errors.js';
import type { WriteOutcome } from '../interactions/writes.js';
import { targetKey, type ImportItem } from './items.js';
import { reasonOf, type ImportIssue, type ImportTally } from './report.js';
import type { WriteSink } from './sinks.js';

/**
 * The import must stop: the database failed, or `--on-error abort` met its first error.
 * `issue` is set when the cause still has to be reported (a rejection already was).
 */
export class ImportStopped extends Error {
  constructor(
    message: string,
    readonly issue?: ImportIssue,
  ) {
    super(message);
  }
}

/**
 * Rejections of a resource, as opposed to a database or programming failure: the API's 4xx
 * errors, and PostgreSQL data exceptions and constraint violations (classes 22 and 23), which
 * some value in the batch causes (e.g. a NUL character PostgreSQL text cannot hold) and which
 * must cost that resource only, not stop the import.
 */
function isResourceError(err: unknown): boolean {
  if (err instanceof FhirError) return err.status < 500;
  return err instanceof pg.DatabaseError && /^2[23]/.test(err.code ?? '');
}

interface Running {
  keys: Set<string>;
  done: Promise<void>;
}

function overlaps(a: Set<string>, b: Set<string>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const k of small) if (large.has(k)) return true;
  return false;
}

export class Batcher {
  private batch: ImportItem[] = [];
  private keys = new Set<string>();
  private readonly running = new Set<Running>();
  private failure: unknown;

  /**
   * @param concurrency batches written at once (1 when the sink is a single connection)
   * @param reject records a rejected item; in abort mode it throws ImportStopped
   */
  constructor(
    private readonly sink: WriteSink,
    private readonly size: number,
    private readonly concurrency: number,
    private readonly tally: ImportTally,
    private readonly reject: (item: ImportItem, err: unknown) => void,
  ) {}

  /** Queues an item; returns a promise only when the caller has to wait for a write. */
  add(item: ImportItem): Promise<void> | undefined {
    const key = targetKey(item.request);
    if (key !== undefined && this.keys.has(key)) return this.flush().then(() => this.add(item));
    this.batch.push(item);
    if (key !== undefined) this.keys.add(key);
    return this.batch.length >= this.size ? this.flush() : undefined;
  }

  /** Writes `items` all or nothing, alone (a transaction Bundle), after everything queued before. */
  async addAtomic(items: ImportItem[]): Promise<void> {
    await this.flush();
    const keys = new Set<string>();
    for (const i of items) {
      const key = targetKey(i.request);
      if (key !== undefined) keys.add(key);
    }
    await this.hand(items, keys, true);
  }

  /** Hands the current batch to a writer, once one is free. */
  async flush(): Promise<void> {
    if (!this.batch.length) return this.check();
    const batch = this.batch;
    const keys = this.keys;
    this.batch = [];
    this.keys = new Set();
    await this.hand(batch, keys, false);
  }

  /** Writes everything queued and waits for it; throws if the import has to stop. */
  async drain(): Promise<void> {
    await this.flush();
    await this.settle();
    this.check();
  }

  /** Waits for the writes in flight, whatever their outcome: nothing may touch their connections before. */
  async settle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running].map((r) => r.done));
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async hand(items: ImportItem[], keys: Set<string>, atomic: boolean): Promise<void> {
    for (;;) {
      this.check();
      const blocking = [...this.running].filter((r) => overlaps(r.keys, keys));
      if (!blocking.length && this.running.size < this.concurrency) break;
      await Promise.race((blocking.length ? blocking : [...this.running]).map((r) => r.done));
    }
    const run: Running = { keys, done: Promise.resolve() };
    run.done = this.write(items, atomic)
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async write(items: ImportItem[], atomic: boolean): Promise<void> {
    let outs: WriteOutcome[];
    try {
      outs = await this.sink.write(
        items.map((i) => i.request),
        atomic,
      );
    } catch (err) {
      if (!isResourceError(err)) throw stopped(items, err);
      if (items.length === 1 && !atomic) {
        this.reject(items[0], err);
        return;
      }
      if (atomic) {
        // A transaction Bundle is refused as a whole: one rejection, counted as the Bundle.
        this.reject({ ...items[0], request: { method: 'POST', type: 'Bundle' } }, new Error(`${reasonOf(err)} (the transaction Bundle was not loaded)`));
        return;
      }
      // Some resource in the batch is refused at write time (e.g. an unresolvable urn:uuid
      // reference): halve until it is found, so the others are still written and the
      // report names its line.
      const half = items.length >> 1;
      await this.write(items.slice(0, half), false);
      await this.write(items.slice(half), false);
      return;
    }
    outs.forEach((out, i) => {
      this.tally.wrote(out);
      items[i]?.written?.(out);
    });
  }
}

/** A failure that is not the resources' fault stops the import, naming the lines it hit. */
function stopped(items: ImportItem[], err: unknown): unknown {
  if (err instanceof ImportStopped) return err;
  const first = items[0];
  const last = items[items.length - 1];
  const span = last.file === first.file && last.line !== first.line ? ` (the batch of lines ${first.line}-${last.line})` : '';
  const issue: ImportIssue = { file: first.file, line: first.line, message: `writing failed${span}: ${reasonOf(err)}` };
  return new ImportStopped(issue.message, issue);
}
