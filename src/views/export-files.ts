/**
 * A view export unit's rows as files in the export storage: each file is a complete,
 * standalone file of its format (CSV with its header row, Parquet with its footer), rolled
 * over past a size limit between batches. A file becomes visible only once finished (the
 * storage publishes on end), and `abort` discards the one being written, so a unit that fails
 * part-way leaves no file behind.
 */
import type { WrittenFile } from '../bulk/ndjson-writer.js';
import type { ExportStorage, FileSink } from '../bulk/storage.js';
import type { RowEncoder } from './formats.js';
import type { ViewRow } from './runner.js';

export class ViewFiles {
  private sink: FileSink | undefined;
  private encoder: RowEncoder | undefined;
  private current: WrittenFile | undefined;
  private readonly done: WrittenFile[] = [];

  /** Files are `${prefix}/${stem}.${part}.${extension}`. */
  constructor(
    private readonly storage: ExportStorage,
    private readonly prefix: string,
    private readonly stem: string,
    private readonly extension: string,
    private readonly newEncoder: () => RowEncoder,
    private readonly maxBytes: number,
  ) {}

  private async put(bytes: Buffer): Promise<void> {
    if (!bytes.length) return;
    await this.sink!.write(bytes);
    this.current!.bytes += bytes.length;
  }

  private async open(): Promise<void> {
    const name = `${this.stem}.${this.done.length + 1}.${this.extension}`;
    this.sink = this.storage.create(`${this.prefix}/${name}`);
    this.current = { name, count: 0, bytes: 0 };
    this.encoder = this.newEncoder();
    await this.put(this.encoder.start());
  }

  private async close(): Promise<void> {
    if (!this.sink) return;
    await this.put(this.encoder!.end());
    await this.sink.end();
    this.done.push(this.current!);
    this.sink = this.encoder = this.current = undefined;
  }

  /** Appends a batch of rows; a file is opened by its first rows, so no file is empty unless asked for. */
  async write(rows: ViewRow[]): Promise<void> {
    if (!rows.length) return;
    if (!this.sink) await this.open();
    await this.put(this.encoder!.rows(rows));
    this.current!.count += rows.length;
    if (this.current!.bytes >= this.maxBytes) await this.close();
  }

  /** Finishes the last file; with `always`, writes one (header or schema only) even when no row came. */
  async finish(always: boolean): Promise<WrittenFile[]> {
    if (always && !this.done.length && !this.sink) await this.open();
    await this.close();
    return this.done;
  }

  async abort(): Promise<void> {
    await this.sink?.abort();
    this.sink = this.encoder = this.current = undefined;
  }
}
