/**
 * A view export unit's encoded rows as files in the export storage: each file is a complete,
 * standalone file of its format (CSV with its header row, Parquet with its footer), rolled
 * over past a size limit between chunks. The bytes come from the unit's encoder
 * (./chunk-encoder.ts), which opens a file with the first chunk that has rows and closes it
 * on `end`. A file becomes visible only once finished (the storage publishes on end), and
 * `abort` discards the one being written, so a unit that fails part-way leaves no file behind.
 */
import type { WrittenFile } from '../bulk/ndjson-writer.js';
import type { ExportStorage, FileSink } from '../bulk/storage.js';
import type { EncodedChunk } from './chunk-encoder.js';

export class ViewFiles {
  private sink: FileSink | undefined;
  private current: WrittenFile | undefined;
  private readonly done: WrittenFile[] = [];

  /**
   * Files are `${prefix}/${stem}.${part}.${extension}`; `end(empty)` gives the open file's
   * closing bytes (or, with `empty` and no file open, a whole file without rows).
   */
  constructor(
    private readonly storage: ExportStorage,
    private readonly prefix: string,
    private readonly stem: string,
    private readonly extension: string,
    private readonly end: (empty: boolean) => Promise<Buffer | undefined>,
    private readonly maxBytes: number,
  ) {}

  private async put(bytes: Buffer | undefined): Promise<void> {
    if (!bytes?.length) return;
    await this.sink!.write(bytes);
    this.current!.bytes += bytes.length;
  }

  private open(): void {
    const name = `${this.stem}.${this.done.length + 1}.${this.extension}`;
    this.sink = this.storage.create(`${this.prefix}/${name}`);
    this.current = { name, count: 0, bytes: 0 };
  }

  private async close(empty = false): Promise<void> {
    await this.put(await this.end(empty));
    await this.sink!.end();
    this.done.push(this.current!);
    this.sink = this.current = undefined;
  }

  /** Appends a chunk's encoded rows; a file is opened by its first rows, so no file is empty unless asked for. */
  async write(chunk: EncodedChunk): Promise<void> {
    if (!chunk.rows) return;
    if (!this.sink) this.open();
    await this.put(chunk.bytes);
    this.current!.count += chunk.rows;
    if (this.current!.bytes >= this.maxBytes) await this.close();
  }

  /** Finishes the last file; with `always`, writes one (header or schema only) even when no row came. */
  async finish(always: boolean): Promise<WrittenFile[]> {
    if (this.sink) await this.close();
    else if (always && !this.done.length) {
      this.open();
      await this.close(true);
    }
    return this.done;
  }

  async abort(): Promise<void> {
    await this.sink?.abort();
    this.sink = this.current = undefined;
  }
}
