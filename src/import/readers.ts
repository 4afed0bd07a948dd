/**
 * Reading import files. NDJSON is streamed line by line, so a file of any size costs only
 * the lines in flight; a JSON file (one resource or one Bundle) has to be parsed whole, so it
 * is read whole, up to a limit.
 */
import fs from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { ImportFile } from './files.js';

/** Longest NDJSON line accepted: far above any sane resource, low enough to fail before memory does. */
const MAX_LINE_BYTES = 128 * 1024 * 1024;

/** A file that cannot be read on (too large, unreadable, bad gzip); `line` is where reading stopped. */
export class ImportFileError extends Error {
  constructor(
    message: string,
    readonly line = 1,
  ) {
    super(message);
  }
}

function open(file: ImportFile): fs.ReadStream {
  return fs.createReadStream(file.path, { highWaterMark: 256 * 1024 });
}

/**
 * The file's lines, numbered from 1, blank lines included (so numbers match an editor's),
 * without line ends. `bytesRead` reports bytes consumed from disk (compressed bytes for .gz).
 *
 * Lines are cut from the raw bytes (a newline byte never occurs inside a UTF-8 sequence)
 * and decoded one by one: three times cheaper than a string-splitting transform such as
 * split2, which matters at hundreds of thousands of lines.
 */
export async function* ndjsonLines(file: ImportFile, bytesRead: (n: number) => void): AsyncGenerator<{ line: number; text: string }> {
  const source = open(file);
  let stream: Readable = source;
  if (file.gzip) {
    stream = zlib.createGunzip();
    // pipeline destroys both ends when either fails or the consumer stops early.
    pipeline(source, stream as zlib.Gunzip, () => {});
  }
  let line = 0;
  let reported = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytesRead(source.bytesRead - reported);
      reported = source.bytesRead;
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
        let text: string;
        if (pendingBytes) {
          pending.push(chunk.subarray(start, nl));
          text = Buffer.concat(pending).toString('utf8');
          pending = [];
          pendingBytes = 0;
        } else {
          text = chunk.toString('utf8', start, nl);
        }
        start = nl + 1;
        yield { line: ++line, text: clean(text, line) };
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > MAX_LINE_BYTES) throw new ImportFileError(`line ${line + 1} is longer than ${MAX_LINE_BYTES / 1024 / 1024} MB`, line + 1);
      }
    }
  } catch (err) {
    if (err instanceof ImportFileError) throw err;
    throw new ImportFileError(describe(err as Error), line + 1);
  } finally {
    stream.destroy();
    source.destroy();
  }
  if (pendingBytes) yield { line: ++line, text: clean(Buffer.concat(pending).toString('utf8'), line) };
}

/** Drops a CRLF file's CR, and the byte-order mark some editors put first. */
function clean(text: string, line: number): string {
  if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
  return line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function describe(err: Error & { code?: string }): string {
  if (err.code === 'Z_DATA_ERROR' || err.code === 'Z_BUF_ERROR') return `not valid gzip data (${err.message})`;
  return err.message;
}

/** Reads and parses a whole JSON file; throws ImportFileError beyond `maxBytes` (decompressed). */
export async function readJsonFile(file: ImportFile, maxBytes: number): Promise<unknown> {
  const limit = maxBytes >= 1024 * 1024 ? `${Math.round(maxBytes / 1024 / 1024)} MB` : `${maxBytes} bytes`;
  const tooLarge = () => new ImportFileError(`larger than ${limit}; a JSON file is read whole, so split it or convert it to NDJSON`);
  if (!file.gzip && file.size > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  const source = open(file);
  const stream = file.gzip ? source.pipe(zlib.createGunzip()) : source;
  if (file.gzip) source.on('error', (err) => stream.destroy(err));
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    source.destroy();
    if (err instanceof ImportFileError) throw err;
    throw new ImportFileError(describe(err as Error));
  }
  let text = Buffer.concat(chunks, total).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ImportFileError(`invalid JSON: ${(err as Error).message}`);
  }
}
