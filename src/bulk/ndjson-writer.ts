/**
 * Writes NDJSON lines into numbered part files that roll over past a size limit, only ever
 * at a line boundary. A part is opened on its first line, so no file is ever empty (DL-04),
 * and counts are exact because they are the newlines actually written.
 */
import type { ExportStorage, FileSink } from './storage.js';

export interface WrittenFile {
  name: string;
  count: number;
  bytes: number;
}

const NL = 0x0a;

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(NL); i >= 0; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

export class NdjsonParts {
  private sink: FileSink | undefined;
  private current: WrittenFile | undefined;
  private readonly done: WrittenFile[] = [];

  /** Files are `${prefix}/${stem}.${part}.ndjson`. */
  constructor(
    private readonly storage: ExportStorage,
    private readonly prefix: string,
    private readonly stem: string,
    private readonly maxBytes: number,
  ) {}

  get lines(): number {
    return this.done.reduce((n, f) => n + f.count, 0) + (this.current?.count ?? 0);
  }

  /** Writes complete lines (every one ending in '\n'), splitting them across parts as needed. */
  async write(buf: Buffer): Promise<void> {
    let rest = buf;
    while (rest.length) {
      if (!this.current) this.open();
      const cur = this.current!;
      const room = this.maxBytes - cur.bytes;
      let take: number;
      if (rest.length <= room) take = rest.length;
      else {
        const cut = room > 0 ? rest.lastIndexOf(NL, room - 1) : -1;
        // A line longer than the whole limit still goes out, alone in its part.
        take = cut >= 0 ? cut + 1 : cur.bytes === 0 ? rest.indexOf(NL) + 1 : 0;
      }
      if (take > 0) {
        const chunk = rest.subarray(0, take);
        await this.sink!.write(chunk);
        cur.bytes += chunk.length;
        cur.count += countLines(chunk);
        rest = rest.subarray(take);
      }
      if (rest.length) await this.close();
    }
  }

  /** Starts a new part before the next line, e.g. so a Patient block never spans two files. */
  async breakIfOver(limit = this.maxBytes): Promise<void> {
    if (this.current && this.current.bytes >= limit) await this.close();
  }

  get currentBytes(): number {
    return this.current?.bytes ?? 0;
  }

  async finish(): Promise<WrittenFile[]> {
    await this.close();
    return this.done;
  }

  /**
   * Runs `produce` (which writes to these parts) and returns the finished files; if it fails,
   * the part being written is aborted so no half file is left, and the error goes on.
   */
  async fill(produce: () => Promise<unknown>): Promise<WrittenFile[]> {
    try {
      await produce();
      return await this.finish();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    await this.sink?.abort();
    this.sink = undefined;
    this.current = undefined;
  }

  private open(): void {
    const name = `${this.stem}.${this.done.length + 1}.ndjson`;
    this.sink = this.storage.create(`${this.prefix}/${name}`);
    this.current = { name, count: 0, bytes: 0 };
  }

  private async close(): Promise<void> {
    if (!this.sink || !this.current) return;
    await this.sink.end();
    this.done.push(this.current);
    this.sink = undefined;
    this.current = undefined;
  }
}

/**
 * Splits a byte stream into whole lines: `push` returns the complete lines received so far
 * (ending in '\n') and keeps the unfinished tail for the next chunk.
 */
export class LineBuffer {
  private tail: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer | undefined {
    const last = chunk.lastIndexOf(NL);
    if (last < 0) {
      this.tail = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
      return undefined;
    }
    const lines = this.tail.length ? Buffer.concat([this.tail, chunk.subarray(0, last + 1)]) : chunk.subarray(0, last + 1);
    this.tail = chunk.subarray(last + 1);
    return lines;
  }
  /** Bytes after the last newline; non-empty only if the stream ended mid-line. */
  get rest(): Buffer {
    return this.tail;
  }
}
