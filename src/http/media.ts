/**
 * FHIR media types (REST-01): JSON only. `_format` overrides `Accept`; XML is refused with
 * 406; request bodies must be FHIR JSON or JSON (415 otherwise, except raw Binary uploads).
 */
import { NotAcceptableError } from '../errors.js';

export const FHIR_JSON = 'application/fhir+json';
export const FHIR_JSON_UTF8 = 'application/fhir+json; charset=utf-8';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'json', 'application/json+fhir', 'text/json']);
const XML_TYPES = new Set(['application/fhir+xml', 'application/xml', 'xml', 'text/xml', 'application/xml+fhir']);

export interface MediaRange {
  type: string;
  q: number;
}

/** Parses an Accept header into media ranges (highest q first), dropping q=0. */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [];
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [type, ...params] = part.trim().split(';');
    if (!type) continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.trim().split('=');
      if (k === 'q') q = Number(v);
    }
    if (q > 0 && !Number.isNaN(q)) ranges.push({ type: type.trim().toLowerCase(), q });
  }
  return ranges.sort((a, b) => b.q - a.q);
}

/**
 * Decides whether a FHIR JSON response is acceptable; throws 406 when the client asked only
 * for formats we do not produce (XML, turtle, …).
 */
export function negotiateFhirJson(format: string | undefined, accept: string | undefined): void {
  if (format !== undefined) {
    const f = format.toLowerCase().split(';')[0].trim().replace(/ /g, '+');
    if (JSON_TYPES.has(f)) return;
    throw new NotAcceptableError(
      XML_TYPES.has(f) ? 'XML is not supported; this server speaks FHIR JSON only' : `Unsupported _format '${format}'; use application/fhir+json`,
    );
  }
  const ranges = parseAccept(accept);
  if (ranges.length === 0) return;
  if (ranges.some((r) => JSON_TYPES.has(r.type) || r.type === '*/*' || r.type === 'application/*')) return;
  throw new NotAcceptableError(
    ranges.some((r) => XML_TYPES.has(r.type)) ? 'XML is not supported; this server speaks FHIR JSON only' : `None of the accepted types (${accept}) can be produced; use application/fhir+json`,
  );
}

/** True when the Accept header names `contentType` (or its `type/*`) before any FHIR JSON type. */
export function prefersRaw(accept: string | undefined, contentType: string): boolean {
  const ct = contentType.toLowerCase().split(';')[0].trim();
  const major = ct.split('/')[0];
  for (const r of parseAccept(accept)) {
    if (JSON_TYPES.has(r.type)) return false;
    if (r.type === ct || r.type === `${major}/*`) return true;
  }
  return false;
}

/**
 * The media type of an OperationOutcome for a client that may not speak FHIR's own type: FHIR
 * allows both `application/fhir+json` and `application/json`, so the first JSON (or wildcard)
 * range the client accepts decides. Without any, FHIR JSON.
 */
export function outcomeMediaType(accept: string | undefined): string {
  for (const r of parseAccept(accept)) {
    if (r.type === 'application/json' || r.type === 'text/json') return 'application/json; charset=utf-8';
    if (JSON_TYPES.has(r.type) || r.type === '*/*' || r.type === 'application/*') return FHIR_JSON_UTF8;
  }
  return FHIR_JSON_UTF8;
}

export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  return JSON_TYPES.has(header.toLowerCase().split(';')[0].trim());
}
