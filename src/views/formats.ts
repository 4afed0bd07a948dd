/**
 * View rows as bytes, batch by batch, so a run or an export streams whatever its size:
 * `json` (one array of row objects), `ndjson` (one object a line), `csv` (RFC 4180, optional
 * header row) and `parquet` (typed columns written with hyparquet-writer, one row group per
 * ROW_GROUP_ROWS rows, flushed as each group is complete).
 *
 * Parquet types come from each column's FHIR type: boolean → BOOLEAN; integer, positiveInt,
 * unsignedInt → INT32; integer64 → INT64; decimal → DOUBLE; instant → TIMESTAMP (UTC
 * milliseconds); date, dateTime and time stay UTF8 text, since FHIR allows partial values
 * (`1970`, `1970-06`) and local times no Parquet logical type can hold without inventing
 * precision; every string-like type → UTF8; collection and complex-typed columns → JSON.
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { InvalidError } from '../errors.js';
import type { ColumnDef } from './definition.js';
import type { ViewRow } from './runner.js';

export type OutputFormat = 'json' | 'ndjson' | 'csv' | 'parquet';

export const OUTPUT_FORMATS: Record<OutputFormat, { contentType: string; extension: string }> = {
  json: { contentType: 'application/json', extension: 'json' },
  ndjson: { contentType: 'application/x-ndjson', extension: 'ndjson' },
  csv: { contentType: 'text/csv; charset=utf-8', extension: 'csv' },
  parquet: { contentType: 'application/vnd.apache.parquet', extension: 'parquet' },
};

/** `_format` values (and the media types clients put there) → an output format. */
const FORMAT_NAMES: Record<string, OutputFormat> = {
  json: 'json',
  'application/json': 'json',
  ndjson: 'ndjson',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/fhir+ndjson': 'ndjson',
  csv: 'csv',
  'text/csv': 'csv',
  parquet: 'parquet',
  'application/vnd.apache.parquet': 'parquet',
  'application/parquet': 'parquet',
};

export function parseFormat(value: string, allowed: OutputFormat[] = ['json', 'ndjson', 'csv', 'parquet']): OutputFormat {
  const f = FORMAT_NAMES[value.trim().toLowerCase()];
  if (!f || !allowed.includes(f)) throw new InvalidError(`_format: '${value}' is not supported; use one of ${allowed.join(', ')}`, ['_format'], 'not-supported');
  return f;
}

/** Encodes batches of rows; every method returns the bytes to send next (possibly none). */
export interface RowEncoder {
  readonly contentType: string;
  start(): Buffer;
  rows(batch: ViewRow[]): Buffer;
  end(): Buffer;
}

const EMPTY = Buffer.alloc(0);

function objectOf(columns: ColumnDef[], row: ViewRow): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  columns.forEach((c, i) => (o[c.name] = row[i]));
  return o;
}

class JsonEncoder implements RowEncoder {
  readonly contentType = OUTPUT_FORMATS.json.contentType;
  private first = true;
  constructor(private readonly columns: ColumnDef[]) {}
  start(): Buffer {
    return Buffer.from('[');
  }
  rows(batch: ViewRow[]): Buffer {
    if (!batch.length) return EMPTY;
    const text = batch.map((r) => JSON.stringify(objectOf(this.columns, r))).join(',\n');
    const out = this.first ? text : `,\n${text}`;
    this.first = false;
    return Buffer.from(out);
  }
  end(): Buffer {
    return Buffer.from(']\n');
  }
}

class NdjsonEncoder implements RowEncoder {
  readonly contentType = OUTPUT_FORMATS.ndjson.contentType;
  constructor(private readonly columns: ColumnDef[]) {}
  start(): Buffer {
    return EMPTY;
  }
  rows(batch: ViewRow[]): Buffer {
    return batch.length ? Buffer.from(batch.map((r) => `${JSON.stringify(objectOf(this.columns, r))}\n`).join('')) : EMPTY;
  }
  end(): Buffer {
    return EMPTY;
  }
}

/** One CSV field: empty for null, JSON for collections and elements, quoted when it must be. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

class CsvEncoder implements RowEncoder {
  readonly contentType = OUTPUT_FORMATS.csv.contentType;
  constructor(
    private readonly columns: ColumnDef[],
    private readonly header: boolean,
  ) {}
  start(): Buffer {
    return this.header ? Buffer.from(`${this.columns.map((c) => csvField(c.name)).join(',')}\r\n`) : EMPTY;
  }
  rows(batch: ViewRow[]): Buffer {
    return batch.length ? Buffer.from(batch.map((r) => `${r.map(csvField).join(',')}\r\n`).join('')) : EMPTY;
  }
  end(): Buffer {
    return EMPTY;
  }
}

type ParquetKind = 'BOOLEAN' | 'INT32' | 'INT64' | 'DOUBLE' | 'TIMESTAMP' | 'STRING' | 'JSON';

const PARQUET_KIND: Record<string, ParquetKind> = {
  boolean: 'BOOLEAN',
  integer: 'INT32',
  positiveInt: 'INT32',
  unsignedInt: 'INT32',
  integer64: 'INT64',
  decimal: 'DOUBLE',
  instant: 'TIMESTAMP',
};
const TEXT_TYPES = new Set(['string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown', 'base64Binary', 'date', 'dateTime', 'time', 'xhtml']);

/** The Parquet kind of a column, from its FHIR type (see the module comment). */
export function parquetKind(c: ColumnDef): ParquetKind {
  if (c.collection) return 'JSON';
  if (!c.type) return 'STRING';
  return PARQUET_KIND[c.type] ?? (TEXT_TYPES.has(c.type) ? 'STRING' : 'JSON');
}

const SCHEMA_ELEMENT: Record<ParquetKind, Record<string, unknown>> = {
  BOOLEAN: { type: 'BOOLEAN' },
  INT32: { type: 'INT32' },
  INT64: { type: 'INT64' },
  DOUBLE: { type: 'DOUBLE' },
  TIMESTAMP: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
  STRING: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  JSON: { type: 'BYTE_ARRAY', converted_type: 'JSON' },
};

function parquetValue(kind: ParquetKind, c: ColumnDef, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const wrong = (): never => {
    throw new InvalidError(`Column '${c.name}' is typed ${c.type} but a row holds ${JSON.stringify(v).slice(0, 80)}`, [`${c.at}.type`], 'processing');
  };
  switch (kind) {
    case 'BOOLEAN':
      return typeof v === 'boolean' ? v : wrong();
    case 'INT32':
      return typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 31 ? v : wrong();
    case 'INT64':
      return typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : wrong();
    case 'DOUBLE':
      return typeof v === 'number' ? v : wrong();
    case 'TIMESTAMP': {
      const t = typeof v === 'string' ? new Date(v) : undefined;
      return t && !Number.isNaN(t.getTime()) ? t : wrong();
    }
    case 'STRING':
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    case 'JSON':
      return v;
  }
}

/** Rows per Parquet row group: large enough for good compression, small enough to keep memory flat. */
export const ROW_GROUP_ROWS = 20_000;

/** A ByteWriter whose bytes are taken out after each row group (offsets stay absolute). */
class DrainingWriter extends ByteWriter {
  private chunks: Buffer[] = [];
  flush(): void {
    if (this.index) this.chunks.push(Buffer.from(new Uint8Array(this.buffer, 0, this.index)));
    this.index = 0;
  }
  override finish(): void {
    this.flush();
  }
  take(): Buffer {
    this.flush();
    const out = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }
}

class ParquetEncoder implements RowEncoder {
  readonly contentType = OUTPUT_FORMATS.parquet.contentType;
  private readonly kinds: ParquetKind[];
  private readonly writer = new DrainingWriter();
  private readonly parquet: ParquetWriter;
  private pending: ViewRow[] = [];

  constructor(private readonly columns: ColumnDef[]) {
    this.kinds = columns.map(parquetKind);
    const schema = [
      { name: 'root', num_children: columns.length },
      ...columns.map((c, i) => ({ name: c.name, repetition_type: 'OPTIONAL', ...SCHEMA_ELEMENT[this.kinds[i]] })),
    ];
    this.parquet = new ParquetWriter({ writer: this.writer, schema: schema as never, createdBy: 'payer-fhir (SQL on FHIR view)' });
  }
  start(): Buffer {
    return this.writer.take();
  }
  private group(rows: ViewRow[]): void {
    const columnData = this.columns.map((c, i) => ({ name: c.name, data: rows.map((r) => parquetValue(this.kinds[i], c, r[i])) }));
    void this.parquet.write({ columnData: columnData as never, rowGroupSize: rows.length });
  }
  rows(batch: ViewRow[]): Buffer {
    for (const r of batch) this.pending.push(r);
    while (this.pending.length >= ROW_GROUP_ROWS) this.group(this.pending.splice(0, ROW_GROUP_ROWS));
    return this.writer.take();
  }
  end(): Buffer {
    if (this.pending.length) this.group(this.pending.splice(0));
    void this.parquet.finish();
    return this.writer.take();
  }
}

export function rowEncoder(format: OutputFormat, columns: ColumnDef[], opts: { header?: boolean } = {}): RowEncoder {
  switch (format) {
    case 'json':
      return new JsonEncoder(columns);
    case 'ndjson':
      return new NdjsonEncoder(columns);
    case 'csv':
      return new CsvEncoder(columns, opts.header ?? true);
    case 'parquet':
      return new ParquetEncoder(columns);
  }
}
