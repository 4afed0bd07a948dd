/**
 * RESPONSE_TIMEOUT_MS: a request the server has not answered in time is answered 503 with
 * Retry-After (an OperationOutcome `timeout`, or `temporarily_unavailable` at the token
 * endpoint) instead of leaving the client waiting. The work already started is not undone:
 * a write may still complete after the 503, as after any lost answer.
 *
 * Export downloads are exempt: they stream for as long as the file takes to read.
 * (Fastify's own `handlerTimeout` is not used: Fastify 5.12 cancels it as soon as a request's
 * body has been read, so it never fires for a POST or PUT.)
 */
import type { FastifyInstance } from 'fastify';
import { ResponseTimeoutError } from '../errors.js';
import { requestInteraction } from './interaction.js';

export function registerResponseTimeout(app: FastifyInstance, timeoutMs: number): void {
  if (timeoutMs <= 0) return;
  app.addHook('onRequest', (req, reply, done) => {
    if (requestInteraction(req) !== 'export-download') {
      const timer = setTimeout(() => {
        // An answer already on its way is left alone.
        if (reply.sent || reply.raw.headersSent) return;
        req.log.warn({ timeoutMs }, 'request not answered in time');
        reply.send(new ResponseTimeoutError('The server did not answer in time; retry, or narrow the request'));
      }, timeoutMs);
      reply.raw.once('close', () => clearTimeout(timer));
    }
    done();
  });
}
