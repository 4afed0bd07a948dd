/**
 * The unit an import writes: one validated write request and where it came from. A resource
 * with an id is a create-or-update keeping that id (PUT Type/id), one without an id a create
 * with a server-assigned id (POST), exactly as the API treats them.
 */
import { InvalidError } from '../errors.js';
import { validateResource, type Resource } from '../fhir/validation.js';
import type { WriteOutcome, WriteRequest } from '../interactions/writes.js';

export interface ImportItem {
  file: string;
  /** Line in the file; 1 for the entries of a Bundle file. */
  line: number;
  request: WriteRequest;
  /** Called once the request is written, with its outcome (import resolves references with it). */
  written?: (out: WriteOutcome) => void;
}

/** PUT when the resource carries an id, else POST. */
export function resourceRequest(resource: Resource, label?: string): WriteRequest {
  const type = resource.resourceType;
  return resource.id !== undefined
    ? { method: 'PUT', type, id: resource.id, resource, label: label ?? `${type}/${resource.id}` }
    : { method: 'POST', type, resource, label: label ?? type };
}

/** Parses and validates one NDJSON line; throws the API's validation errors. */
export function lineItem(file: string, line: number, text: string): ImportItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidError(`invalid JSON: ${(err as Error).message}`, undefined, 'structure');
  }
  return { file, line, request: resourceRequest(validateResource(value)) };
}

/** The resource type a rejected value claimed, for the per-type summary (undefined when it has none). */
export function claimedType(value: unknown): string | undefined {
  const t = (value as { resourceType?: unknown } | null)?.resourceType;
  return typeof t === 'string' ? t : undefined;
}

/** Same, from raw NDJSON text, without parsing a line that may be broken. */
export function claimedTypeOfText(text: string): string | undefined {
  return /"resourceType"\s*:\s*"([A-Za-z]{1,64})"/.exec(text)?.[1];
}

/** `Type/id` for requests that name their target, so a batch never writes one resource twice. */
export function targetKey(request: WriteRequest): string | undefined {
  return request.id !== undefined ? `${request.type}/${request.id}` : undefined;
}
