/**
 * Limits on the size of a request's query: its length (414 beyond MAX_QUERY_LENGTH) and its
 * number of parameters (400 beyond MAX_QUERY_PARAMS). Checked before authentication or any
 * database work, on every route; `_search` form bodies count their parameters too.
 */
import type { FastifyInstance } from 'fastify';
import type { HttpLimitsConfig } from '../config.js';
import { QueryTooLongError, TooManyParametersError } from '../errors.js';

/** Throws when a request carries more parameters than allowed. */
export function assertParameterCount(count: number, limits: Pick<HttpLimitsConfig, 'maxQueryParams'>): void {
  if (count > limits.maxQueryParams) {
    throw new TooManyParametersError(`The request has ${count} parameters; this server accepts at most ${limits.maxQueryParams}`);
  }
}

/** Throws when the raw URL's query string is too long or has too many parameters. */
export function assertQueryWithinLimits(url: string, limits: Pick<HttpLimitsConfig, 'maxQueryLength' | 'maxQueryParams'>): void {
  const q = url.indexOf('?');
  if (q < 0) return;
  const query = url.slice(q + 1);
  if (query.length > limits.maxQueryLength) {
    throw new QueryTooLongError(`The query string is ${query.length} characters long; this server accepts at most ${limits.maxQueryLength}`);
  }
  let count = 0;
  for (const part of query.split('&')) if (part) count++;
  assertParameterCount(count, limits);
}

/** Checks every request's query string before anything else runs. */
export function registerQueryLimits(app: FastifyInstance, limits: HttpLimitsConfig): void {
  app.addHook('onRequest', (req, _reply, done) => {
    try {
      assertQueryWithinLimits(req.url, limits);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}
