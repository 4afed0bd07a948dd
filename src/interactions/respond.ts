/** Small builders for interaction answers, shared by read, vread and the write interactions. */
import type { StoredVersion } from '../store/resources.js';
import type { FhirResponse, TenantContext } from './context.js';

export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/** Parses `W/"3"` or `"3"` (If-Match); undefined when absent, NaN when malformed. */
export function parseEtag(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header);
  return m ? Number(m[1]) : NaN;
}

export function versionUrl(ctx: TenantContext, v: Pick<StoredVersion, 'type' | 'id' | 'version'>): string {
  return `${ctx.base}/${v.type}/${v.id}/_history/${v.version}`;
}

/** 200/201 with the stored JSON, ETag and Last-Modified. */
export function resourceResponse(status: number, v: StoredVersion, location?: string): FhirResponse {
  return { status, body: v.content ?? undefined, etag: etagOf(v.version), lastModified: v.lastUpdated, location };
}
