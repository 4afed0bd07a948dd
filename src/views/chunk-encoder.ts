/**
 * The CPU work of a view export unit, on one chunk of stored JSON lines at a time: each line
 * parsed as the job's reader receives it (only the members the view may read, ./members.ts), turned into rows by the compiled view, and encoded
 * into the current file's format. It holds the open file's encoder (a Parquet file's row
 * groups and footer belong to one encoder), so a file's bytes are: the first chunk with rows
 * (opening bytes included), further chunks, then `end`.
 *
 * Pure and synchronous: a unit runs it either in the export worker's own thread or in a view
 * thread (./encoder-thread.ts), which lets a process spread units over its cores.
 */
import { FhirError } from '../errors.js';
import { partnerJson } from '../policy/basis.js';
import type { OutputFormat } from './formats.js';
import { rowEncoder, type RowEncoder } from './formats.js';
import { memberFilter, parseForView } from './members.js';
import { compileViewCached, type CompiledView, type ViewRow } from './runner.js';

/** What a unit's encoder needs to know; plain data, so it can be posted to a thread. */
export interface ChunkSpec {
  definition: Record<string, unknown>;
  format: OutputFormat;
  header: boolean;
  /**
   * The unit's statement selected the partner's rendition of each row (src/policy/basis.ts
   * partnerContentSql): a row not yet rendered is rendered here, so a view sees money-free data.
   */
  policied: boolean;
}

/** The encoded bytes of one chunk's rows. */
export interface EncodedChunk {
  bytes: Buffer;
  rows: number;
  resources: number;
}

/** A view error (a FhirError) raised at a resource: which resource, for the unit's error file. */
export class ViewChunkError extends FhirError {
  constructor(
    status: number,
    issues: FhirError['issues'],
    readonly at: string | undefined,
  ) {
    super(status, issues);
  }
}

const EMPTY = Buffer.alloc(0);
const NEWLINE = 0x0a;

export class ViewChunkEncoder {
  private readonly view: CompiledView;
  /** The top-level members the view may read; the rest are never parsed. */
  private readonly keep: ((key: string) => boolean) | undefined;
  private encoder: RowEncoder | undefined;

  constructor(private readonly spec: ChunkSpec) {
    this.view = compileViewCached(spec.definition);
    this.keep = memberFilter(this.view.definition);
  }

  private open(): Buffer {
    this.encoder = rowEncoder(this.spec.format, this.view.columns, { header: this.spec.header });
    return this.encoder.start();
  }

  /** The rows of every resource in `chunk` ('\n'-terminated JSON lines), encoded; opens a file when rows come and none is open. */
  lines(chunk: Buffer | Uint8Array): EncodedChunk {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const rows: ViewRow[] = [];
    let resources = 0;
    let at: string | undefined;
    try {
      // Decoded a line at a time: the chunk as one string (hundreds of kB) would be allocated
      // among V8's large objects, which only a full collection frees, and pile up between them.
      for (let start = 0; start < bytes.length; ) {
        let end = bytes.indexOf(NEWLINE, start);
        if (end < 0) end = bytes.length;
        const line = bytes.toString('utf8', start, end);
        start = end + 1;
        if (!line) continue;
        const resource = parseForView(this.spec.policied ? partnerJson(this.view.definition.resource, line) : line, this.keep);
        at = `${this.view.definition.resource}/${String(resource.id)}`;
        for (const row of this.view.rows(resource)) rows.push(row);
        resources++;
      }
      if (!rows.length) return { bytes: EMPTY, rows: 0, resources };
      const head = this.encoder ? EMPTY : this.open();
      const body = this.encoder!.rows(rows);
      return { bytes: head.length ? Buffer.concat([head, body]) : body, rows: rows.length, resources };
    } catch (err) {
      throw err instanceof FhirError && !(err instanceof ViewChunkError) ? new ViewChunkError(err.status, err.issues, at) : err;
    }
  }

  /**
   * Closes the open file: its last bytes. With no file open, `empty` asks for a whole file
   * with no rows (a CSV header, a Parquet schema); otherwise there is nothing to write.
   */
  end(empty: boolean): Buffer | undefined {
    if (!this.encoder) {
      if (!empty) return undefined;
      const head = this.open();
      return Buffer.concat([head, this.close()]);
    }
    return this.close();
  }

  private close(): Buffer {
    const tail = this.encoder!.end();
    this.encoder = undefined;
    return tail;
  }
}
