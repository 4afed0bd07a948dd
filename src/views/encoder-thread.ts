/**
 * A view thread (worker_threads entry): runs the ViewChunkEncoder of one export unit at a time
 * for the process's view thread pool (./encoder-pool.ts). Messages are answered in order, each
 * with the id it came with; a view error goes back as its status, issues and resource, so the
 * unit can write the same error file it would write without threads.
 */
import { parentPort } from 'node:worker_threads';
import { FhirError } from '../errors.js';
import { ViewChunkEncoder, ViewChunkError } from './chunk-encoder.js';
import { movable, type ThreadReply, type ThreadRequest } from './encoder-messages.js';

let encoder: ViewChunkEncoder | undefined;

function handle(msg: ThreadRequest): unknown {
  switch (msg.op) {
    case 'open':
      encoder = new ViewChunkEncoder(msg.spec);
      return null;
    case 'lines':
      if (!encoder) throw new Error('no view is open in this thread');
      return encoder.lines(msg.chunk);
    case 'end':
      if (!encoder) throw new Error('no view is open in this thread');
      return encoder.end(msg.empty) ?? null;
    case 'reset':
      encoder = undefined;
      return null;
  }
}

parentPort!.on('message', (msg: ThreadRequest) => {
  let reply: ThreadReply;
  try {
    reply = { id: msg.id, ok: true, value: handle(msg) };
  } catch (err) {
    if (err instanceof FhirError) {
      reply = { id: msg.id, ok: false, view: { status: err.status, issues: err.issues, at: err instanceof ViewChunkError ? err.at : undefined } };
    } else {
      reply = { id: msg.id, ok: false, message: err instanceof Error ? err.message : String(err) };
    }
    // Whatever failed, the unit is over: the next unit opens its own encoder.
    encoder = undefined;
  }
  const value = reply.ok ? reply.value : undefined;
  const bytes = value instanceof Uint8Array ? value : (value as { bytes?: Uint8Array } | null)?.bytes;
  parentPort!.postMessage(reply, movable(bytes));
});
