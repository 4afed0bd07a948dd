/**
 * How the HTTP(S) listener is set up: TLS (1.2 and 1.3 only), the time a client has to send
 * its request, the keep-alive idle time, the header size
 * that fits the longest allowed query string, and precise OperationOutcome answers for
 * requests Node refuses before Fastify sees them (too slow, headers too large, not HTTP).
 */
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';
import { HeadersTooLargeError, InvalidError, RequestTimeoutError, type FhirError } from '../errors.js';
import { rawErrorResponse } from './outcome.js';
import { securityHeaders } from './security-headers.js';

/** Node reads at most this much request line and headers by default. */
const NODE_HEADER_SIZE = 16 * 1024;

/** The TLS part of the listener: certificate, key, and TLS 1.2 as the lowest protocol. */
export function tlsOptions(tls: NonNullable<Config['tls']>): { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' } {
  const read = (what: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`TLS ${what} file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  return { cert: read('certificate', tls.certFile), key: read('key', tls.keyFile), minVersion: 'TLSv1.2' };
}

/** The typed error for a failure Node reports on a connection before a request exists. */
function clientError(err: NodeJS.ErrnoException): FhirError {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new RequestTimeoutError('The request was not received in time; send it again');
  if (err.code === 'HPE_HEADER_OVERFLOW') return new HeadersTooLargeError('The request line and headers are larger than this server accepts');
  return new InvalidError('The request is not valid HTTP', undefined, 'structure');
}

export interface ListenerHooks {
  /** Told of every answer written for a connection-level failure (metrics count them). */
  onClientError?: (status: number) => void;
}

/** Fastify options for the listener, from the configuration. */
export function listenerOptions(config: Config, hooks: ListenerHooks = {}): Partial<FastifyServerOptions> & { https?: object; http?: object } {
  const { requestTimeoutMs, keepAliveTimeoutMs, maxQueryLength } = config.http;
  // Headers must come within the request timeout (Node requires headersTimeout <= requestTimeout).
  const headersTimeout = requestTimeoutMs > 0 ? Math.min(60_000, requestTimeoutMs) : 60_000;
  const node = {
    requestTimeout: requestTimeoutMs,
    headersTimeout,
    // How often Node looks for requests past those timeouts (its default is every 30 s).
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(Math.min(headersTimeout, requestTimeoutMs || headersTimeout) / 4))),
    // The request line carries the query string: make room for the longest one allowed.
    maxHeaderSize: Math.max(NODE_HEADER_SIZE, maxQueryLength + 8 * 1024),
  };
  const headers = securityHeaders(config);
  return {
    ...(config.tls ? { https: { ...tlsOptions(config.tls), ...node } } : { http: node }),
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const error = clientError(err);
      this.log.debug({ err }, 'connection-level request failure');
      hooks.onClientError?.(error.status);
      if (socket.writable) socket.end(rawErrorResponse(error, { ...headers, 'Cache-Control': 'no-store' }));
      else socket.destroy();
    },
  };
}
