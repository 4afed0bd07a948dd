/**
 * Request metrics for every answer, and `/metrics` on the main port, for scrapers that present `Authorization: Bearer $METRICS_TOKEN`
 * (401 otherwise). Without METRICS_TOKEN the route does not exist (404): metrics are then
 * served only by the METRICS_PORT listener, if any.
 */
import crypto from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import { requestInteraction } from '../http/interaction.js';
import type { ServerMetrics } from './metrics.js';

/** Constant-time comparison of the presented token with the configured one. */
function sameToken(presented: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(presented).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

export function registerMetrics(app: FastifyInstance, metrics: ServerMetrics, token: string | undefined): void {
  app.addHook('onResponse', (req, reply, done) => {
    metrics.observeRequest(requestInteraction(req), reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  if (!token) return;
  app.get('/metrics', async (req, reply) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m || !sameToken(m[1], token)) {
      throw new UnauthorizedError('Metrics need the metrics token (Authorization: Bearer …)', m ? 'Bearer realm="metrics", error="invalid_token"' : 'Bearer realm="metrics"');
    }
    const { contentType, body } = await metrics.scrape();
    return reply.type(contentType).send(body);
  });
}
