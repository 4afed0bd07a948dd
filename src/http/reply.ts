/** Sends an interaction's FhirResponse over HTTP: status, FHIR headers, body. */
import type { FastifyReply } from 'fastify';
import type { FhirResponse } from '../interactions/context.js';
import { noteResources } from '../audit/hooks.js';
import { FHIR_JSON_UTF8 } from './media.js';

export function sendFhir(reply: FastifyReply, res: FhirResponse): FastifyReply {
  reply.code(res.status);
  if (res.resources !== undefined) noteResources(reply.request, res.resources);
  if (res.etag) reply.header('ETag', res.etag);
  if (res.lastModified) reply.header('Last-Modified', res.lastModified.toUTCString());
  if (res.location) reply.header('Location', res.location).header('Content-Location', res.location);
  if (res.headers) reply.headers(res.headers);
  if (res.body === undefined) return reply.send();
  reply.type(res.contentType ?? FHIR_JSON_UTF8);
  return reply.send(res.body);
}
