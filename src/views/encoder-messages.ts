/** The messages between an export worker and a view thread (./encoder-thread.ts, ./encoder-pool.ts). */
import type { Issue } from '../errors.js';
import type { ChunkSpec } from './chunk-encoder.js';

export type ThreadRequest =
  | { id: number; op: 'open'; spec: ChunkSpec }
  | { id: number; op: 'lines'; chunk: Uint8Array }
  | { id: number; op: 'end'; empty: boolean }
  | { id: number; op: 'reset' };

export type ThreadReply =
  | { id: number; ok: true; value: unknown }
  /** A view error (answered as the unit's error file) or anything else (the unit fails and is retried). */
  | { id: number; ok: false; view?: { status: number; issues: Issue[]; at?: string }; message?: string };

/** Each request kind without its id (the pool numbers them). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
export type ThreadCall = WithoutId<ThreadRequest>;

/**
 * What a message may move instead of copying: the bytes' memory when they are all of it (a
 * buffer of its own, as Buffer.concat makes for large sizes), so that it is freed with the
 * receiving thread's garbage rather than waiting for the sender's. Bytes that share memory
 * (a socket read's slice, Node's small-buffer pool) are copied.
 */
export function movable(bytes: Uint8Array | null | undefined): ArrayBuffer[] {
  if (!bytes || !(bytes.buffer instanceof ArrayBuffer)) return [];
  return bytes.byteLength > 0 && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer] : [];
}
