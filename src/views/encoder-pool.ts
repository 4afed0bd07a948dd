/**
 * Where a view export unit's CPU work runs. Parsing stored JSON, evaluating the view and
 * encoding Parquet cost about eight times what copying the same lines to an NDJSON file
 * costs, and a process's export workers share one JavaScript thread; so each view unit
 * borrows a thread of its own from a pool of up to EXPORT_VIEW_THREADS (default: the
 * machine's cores) while the worker's thread only moves bytes between PostgreSQL, the thread
 * and the export storage. With EXPORT_VIEW_THREADS=0 the work stays in the worker's thread.
 *
 * Threads are started when first needed, reused by later units, and stopped after a minute
 * idle; an idle thread never keeps the process alive. A thread that dies fails its unit,
 * which is retried like any failed unit.
 */
import { Worker } from 'node:worker_threads';
import { ViewChunkEncoder, ViewChunkError, type ChunkSpec, type EncodedChunk } from './chunk-encoder.js';
import { movable, type ThreadCall, type ThreadReply } from './encoder-messages.js';

/** A unit's encoder, wherever it runs. Calls are answered in the order they are made. */
export interface UnitEncoder {
  /** `given`: the caller is done with the chunk, so a view thread may take its memory instead of a copy. */
  lines(chunk: Buffer, given?: boolean): Promise<EncodedChunk>;
  end(empty: boolean): Promise<Buffer | undefined>;
  /** The unit is over (finished or failed): frees the thread. */
  release(): void;
}

const IDLE_MS = 60_000;
const YOUNG_GENERATION_MB = 48;

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

class ViewThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  dead = false;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(onDeath: (t: ViewThread) => void) {
    // A young generation larger than V8's default: a chunk's parsed resources and rows die young,
    // and with room to die there instead of being promoted the old generation (and RSS) stays
    // flat and the collector does less.
    this.worker = new Worker(new URL('./encoder-thread.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    this.worker.unref();
    this.worker.on('message', (reply: ThreadReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else if (reply.view) p.reject(new ViewChunkError(reply.view.status, reply.view.issues, reply.view.at));
      else p.reject(new Error(`view thread: ${reply.message ?? 'failed'}`));
    });
    const die = (err: Error) => {
      if (this.dead) return;
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onDeath(this);
    };
    this.worker.on('error', (err) => die(new Error(`view thread failed: ${err.message}`)));
    this.worker.on('exit', (code) => die(new Error(`view thread exited (${code})`)));
  }

  /** `transfer`: memory the message takes along instead of copying (the sender gives it up). */
  call<T>(msg: ThreadCall, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(new Error('view thread stopped'));
    const id = this.nextId++;
    // A thread with work in hand keeps the process alive until it answers.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Stops the thread; not awaited (the thread is unref'd, so its exit keeps nobody waiting). */
  stop(): void {
    this.dead = true;
    this.worker.terminate().catch(() => undefined);
  }
}

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export class ViewThreads {
  private readonly idle: ViewThread[] = [];
  private running = 0;
  private readonly waiting: ((t: ViewThread) => void)[] = [];

  constructor(readonly size: number) {}

  private take(): Promise<ViewThread> {
    const t = this.idle.pop();
    if (t) {
      clearTimeout(t.idleTimer);
      return Promise.resolve(t);
    }
    if (this.running < this.size) {
      this.running++;
      return Promise.resolve(new ViewThread((dead) => this.forget(dead)));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private forget(t: ViewThread): void {
    const i = this.idle.indexOf(t);
    if (i >= 0) this.idle.splice(i, 1);
    clearTimeout(t.idleTimer);
    this.running--;
    // A unit waiting for a thread gets a new one in its place.
    const w = this.waiting.shift();
    if (w) void this.take().then(w);
  }

  private give(t: ViewThread): void {
    if (t.dead) return;
    const w = this.waiting.shift();
    if (w) return w(t);
    t.idleTimer = setTimeout(() => {
      const i = this.idle.indexOf(t);
      if (i >= 0) this.idle.splice(i, 1);
      this.running--;
      t.stop();
    }, IDLE_MS);
    t.idleTimer.unref();
    this.idle.push(t);
  }

  /** An encoder for one unit, on a thread of the pool (waiting for one when all are busy). */
  async encoder(spec: ChunkSpec): Promise<UnitEncoder> {
    const t = await this.take();
    let released = false;
    try {
      await t.call({ op: 'open', spec });
    } catch (err) {
      this.give(t);
      throw err;
    }
    return {
      lines: async (chunk, given) => {
        const r = await t.call<{ bytes: Uint8Array; rows: number; resources: number }>({ op: 'lines', chunk }, given ? movable(chunk) : []);
        return { ...r, bytes: asBuffer(r.bytes) };
      },
      end: async (empty) => {
        const r = await t.call<Uint8Array | null>({ op: 'end', empty });
        return r ? asBuffer(r) : undefined;
      },
      release: () => {
        if (released) return;
        released = true;
        // Queued behind anything still in hand; its answer is not awaited.
        t.call({ op: 'reset' }).catch(() => undefined);
        this.give(t);
      },
    };
  }

  /** Stops the idle threads (lent ones finish their unit first, then stop when idle). */
  close(): void {
    for (const t of this.idle.splice(0)) {
      clearTimeout(t.idleTimer);
      this.running--;
      t.stop();
    }
  }
}

/** The same encoder in the calling thread (EXPORT_VIEW_THREADS=0). */
export function localEncoder(spec: ChunkSpec): UnitEncoder {
  const e = new ViewChunkEncoder(spec);
  return {
    lines: async (chunk) => e.lines(chunk),
    end: async (empty) => e.end(empty),
    release: () => undefined,
  };
}

let shared: ViewThreads | undefined;

/** The process's pool (one per process: export workers of every server in it share the cores). */
export function viewThreads(size: number): ViewThreads {
  if (!shared || shared.size !== size) shared = new ViewThreads(size);
  return shared;
}

/** An encoder for one unit: on a view thread, or here when `threads` is 0. */
export async function unitEncoder(spec: ChunkSpec, threads: number): Promise<UnitEncoder> {
  return threads > 0 ? viewThreads(threads).encoder(spec) : localEncoder(spec);
}
