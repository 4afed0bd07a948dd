/**
 * Security headers on every answer — FHIR, token endpoint, errors, 404s — from one onSend
 * hook. The API serves JSON to backend systems, so a browser that somehow renders an answer
 * may not sniff, frame, run or fetch anything from it, and no answer names where a request
 * came from. Answers that carry member data or tokens are never stored by caches.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { requestInteraction, type Interaction } from './interaction.js';

/** Public, caller-independent documents: caches may keep them as they see fit. */
const CACHEABLE = new Set<Interaction>(['capabilities', 'discovery']);

/**
 * The headers every answer carries. Strict-Transport-Security when this process serves TLS or
 * its public origin is https (TLS terminated in front of it).
 */
export function securityHeaders(config: Pick<Config, 'tls' | 'publicUrl'>): Record<string, string> {
  const headers: Record<string, string> = {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
  };
  if (config.tls || config.publicUrl.startsWith('https:')) headers['Strict-Transport-Security'] = 'max-age=31536000; includeSubDomains';
  return headers;
}

/**
 * Adds the headers to every answer of `app`; `Cache-Control: no-store` on every answer whose
 * route did not set its own, except the public documents (CapabilityStatement, SMART
 * discovery).
 */
export function registerSecurityHeaders(app: FastifyInstance, config: Config): void {
  const headers = securityHeaders(config);
  // Callback style, as every per-request hook here: an async hook costs a promise per request.
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.headers(headers);
    if (!reply.hasHeader('cache-control') && !CACHEABLE.has(requestInteraction(req))) reply.header('Cache-Control', 'no-store');
    done(null, payload);
  });
}
