/**
 * Content coding of answers (RFC 9110 §12.5.3): a JSON or text body of at least MIN_BYTES goes
 * out gzip-compressed when the request's Accept-Encoding allows gzip. FHIR JSON shrinks more
 * than tenfold (a page of explanations of benefit: 118 kB → 8 kB), which is most of the time a
 * remote client waits for a search. zlib runs on libuv's thread pool, off the event loop; the
 * level is a fast one, because the body is compressed anew on every request. Streamed bodies
 * (export downloads) negotiate their own coding (bulk/routes.ts); binary content (a Binary in
 * its own type) is sent as it is.
 *
 * The audit trail counts the body before coding: the amount of data disclosed.
 */
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';

const MIN_BYTES = 1024;
const LEVEL = 3;
const COMPRESSIBLE = /json|^text\/|xml/i;

/** True when `header` (Accept-Encoding) accepts gzip: listed, or covered by `*`, with a q-value above 0. */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (!header) return false;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const item of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name, ...params] = item.toLowerCase().split(';');
    const coding = name.trim();
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)).find(Boolean);
    const weight = q ? Number(q[1]) : 1;
    if (coding === 'gzip' || coding === 'x-gzip') gzip = weight;
    else if (coding === '*') any = weight;
  }
  return (gzip ?? any ?? 0) > 0;
}

function withVary(current: unknown): string {
  const list = String(current ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  return list.some((v) => v.toLowerCase() === 'accept-encoding' || v === '*') ? list.join(', ') : [...list, 'Accept-Encoding'].join(', ');
}

export function registerCompression(app: FastifyInstance): void {
  // Callback style, as every per-request hook here. Registered last, so it codes the final body.
  app.addHook('onSend', (req, reply, payload, done) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return done(null, payload);
    if (reply.statusCode === 204 || reply.statusCode === 304 || reply.hasHeader('content-encoding')) return done(null, payload);
    if (!COMPRESSIBLE.test(String(reply.getHeader('content-type') ?? ''))) return done(null, payload);
    // A string's length is a lower bound of its UTF-8 size: close enough for a threshold.
    if (payload.length < MIN_BYTES) return done(null, payload);
    // The coding now depends on the request's Accept-Encoding: caches must key on it.
    reply.header('Vary', withVary(reply.getHeader('vary')));
    if (!acceptsGzip(req.headers['accept-encoding'])) return done(null, payload);
    zlib.gzip(payload, { level: LEVEL }, (err, zipped) => {
      if (err) return done(null, payload); // sent uncoded rather than not at all
      reply.header('Content-Encoding', 'gzip');
      reply.removeHeader('content-length');
      done(null, zipped);
    });
  });
}
