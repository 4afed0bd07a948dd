/**
 * An audit record — one request — and the hash that chains it to its tenant's previous
 * record. The hash covers every field in a fixed order, so changing any stored value, or
 * removing or reordering records, breaks the chain (`payer-fhir audit verify`).
 */
import crypto from 'node:crypto';
import type { Interaction } from '../http/interaction.js';

export interface AuditRecord {
  tenant: string;
  /** When the request arrived. */
  recorded: Date;
  durationUs: number;
  clientId: string | null;
  sourceIp: string | null;
  interaction: Interaction;
  method: string;
  /** URL path without the query string. */
  path: string;
  /** The query string (search parameters), without the leading '?'. */
  query: string | null;
  resourceType: string | null;
  resourceId: string | null;
  jobId: string | null;
  status: number;
  /** Resources returned (read, search matches, a downloaded file's lines). */
  resources: number | null;
  /** Response body bytes sent. */
  bytes: number | null;
  /** Why a request failed (never a secret or an assertion). */
  detail: string | null;
  requestId: string | null;
  /**
   * The partner access policy the request was served under (`provider-access <org>`,
   * `payer-to-payer <org>`); null or absent for `internal` clients and requests without one.
   */
  policy?: string | null;
}

export interface ChainedRecord extends AuditRecord {
  seq: number;
  prevHash: Buffer;
  hash: Buffer;
}

/** Tenant under which requests to no known tenant (e.g. a token request for a made-up one) are chained. */
export const SYSTEM_TENANT = '';

/**
 * SQL condition over audit_event: a failed authentication — a refused bearer token (401) or
 * refused client credentials at the token endpoint. The alert rules and the usage report count the same thing.
 */
export const AUTH_FAILURE_SQL = `(status = 401 OR (interaction = 'token' AND status IN (400, 401) AND detail LIKE 'invalid_client%'))`;

function canonical(seq: number, r: AuditRecord): string {
  return JSON.stringify([
    r.tenant,
    seq,
    r.recorded.toISOString(),
    r.durationUs,
    r.clientId,
    r.sourceIp,
    r.interaction,
    r.method,
    r.path,
    r.query,
    r.resourceType,
    r.resourceId,
    r.jobId,
    r.status,
    r.resources,
    r.bytes,
    r.detail,
    r.requestId,
    // Appended only when set, so records written before policies existed keep their hashes.
    ...(r.policy ? [r.policy] : []),
  ]);
}

export function chainHash(prevHash: Buffer, seq: number, r: AuditRecord): Buffer {
  return crypto.createHash('sha256').update(prevHash).update(canonical(seq, r)).digest();
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A stored row back as a record (the same values the hash was computed over). */
export function fromRow(r: Record<string, any>): ChainedRecord {
  return {
    tenant: r.tenant,
    seq: Number(r.seq),
    recorded: r.recorded,
    durationUs: Number(r.duration_us),
    clientId: r.client_id,
    sourceIp: r.source_ip,
    interaction: r.interaction,
    method: r.method,
    path: r.path,
    query: r.query,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    jobId: r.job_id,
    status: r.status,
    resources: num(r.resources),
    bytes: num(r.bytes),
    detail: r.detail,
    requestId: r.request_id,
    policy: r.policy ?? null,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
