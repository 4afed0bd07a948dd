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
