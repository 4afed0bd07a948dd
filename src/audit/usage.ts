/**
 * Counts kept beside the audit trail, in the same transaction as each append, so the alert
 * rules never have to scan the trail itself (at a few thousand requests per second, five
 * minutes of trail is over a million rows, read again every 30 s):
 * - audit_usage: requests and bytes per client per UTC hour — the volume rule's baseline
 *   (migration 6), trimmed by audit retention;
 * - audit_minute: requests, bytes and successful requests per client and source address per
 *   minute — the volume rule's current window and the new-address rule (migration 8), kept
 *   for a day.
 * Records without a client (refused before authentication) are in neither: every rule that
 * reads these counts is about a client.
 */
import type pg from 'pg';
import type { AuditRecord } from './record.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** How long per-minute counts are kept: far longer than any alert window. */
const MINUTE_COUNTS_KEPT_MS = 86_400_000;

/**
 * Upper bounds (ms) of the latency histogram's buckets kept with each rollup row (migration
 * 15); the last bucket holds everything slower. p95 from it is the bound of the bucket the
 * 95th percentile falls in: an upper estimate, within a factor of about two.
 */
export const LATENCY_BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000];

function bucketOf(durationUs: number): number {
  const ms = durationUs / 1000;
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= LATENCY_BOUNDS_MS[i]) return i;
  return LATENCY_BOUNDS_MS.length;
}

const emptyHistogram = (): number[] => new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
const histogramText = (h: number[]): string => `{${h.join(',')}}`;

interface Sum {
  tenant: string;
  clientId: string;
  at: number;
  requests: number;
  bytes: number;
  failed: number;
  latency: number[];
}

/** Adds a batch (its records with the seq each got) to the hourly and per-minute counts. */
export async function addUsage(client: pg.PoolClient, records: AuditRecord[], seqs: number[]): Promise<void> {
  const hours = new Map<string, Sum>();
  const minutes = new Map<string, Sum & { sourceIp: string; ok: number; firstOkSeq: number | null }>();
  records.forEach((r, i) => {
    if (!r.clientId) return;
    const t = r.recorded.getTime();
    const bytes = r.bytes ?? 0;
    const failed = r.status >= 400 ? 1 : 0;
    const bucket = bucketOf(r.durationUs);
    const hour = Math.floor(t / HOUR_MS) * HOUR_MS;
    const hk = `${r.tenant}\u0000${r.clientId}\u0000${hour}`;
    let h = hours.get(hk);
    if (h) {
      h.requests++;
      h.bytes += bytes;
      h.failed += failed;
    } else hours.set(hk, (h = { tenant: r.tenant, clientId: r.clientId, at: hour, requests: 1, bytes, failed, latency: emptyHistogram() }));
    h.latency[bucket]++;

    const minute = Math.floor(t / MINUTE_MS) * MINUTE_MS;
    const sourceIp = r.sourceIp ?? '';
    const ok = r.status < 400;
    const mk = `${r.tenant}\u0000${r.clientId}\u0000${sourceIp}\u0000${minute}`;
    let m = minutes.get(mk);
    if (m) {
      m.requests++;
      m.bytes += bytes;
      if (ok) {
        m.ok++;
        m.firstOkSeq ??= seqs[i];
      }
    } else {
      m = { tenant: r.tenant, clientId: r.clientId, sourceIp, at: minute, requests: 1, bytes, failed: 0, latency: emptyHistogram(), ok: ok ? 1 : 0, firstOkSeq: ok ? seqs[i] : null };
      minutes.set(mk, m);
    }
    m.latency[bucket]++;
  });
  if (!hours.size) return;
  const hs = [...hours.values()];
  await client.query(
    `INSERT INTO audit_usage (tenant, client_id, hour, requests, bytes, failed, latency)
     SELECT t, c, h, r, b, f, l::bigint[] FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[]) AS u(t, c, h, r, b, f, l)
     ON CONFLICT (tenant, client_id, hour) DO UPDATE SET requests = audit_usage.requests + excluded.requests, bytes = audit_usage.bytes + excluded.bytes,
       failed = audit_usage.failed + excluded.failed, latency = payer_fhir_histogram_add(audit_usage.latency, excluded.latency)`,
    [hs.map((s) => s.tenant), hs.map((s) => s.clientId), hs.map((s) => new Date(s.at)), hs.map((s) => s.requests), hs.map((s) => s.bytes), hs.map((s) => s.failed), hs.map((s) => histogramText(s.latency))],
  );
  const ms = [...minutes.values()];
  await client.query(
    `INSERT INTO audit_minute (tenant, client_id, source_ip, minute, requests, bytes, ok_requests, first_ok_seq, latency)
     SELECT t, c, a, m, r, b, o, f, l::bigint[]
       FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[]) AS u(t, c, a, m, r, b, o, f, l)
     ON CONFLICT (tenant, client_id, source_ip, minute) DO UPDATE SET
       requests = audit_minute.requests + excluded.requests, bytes = audit_minute.bytes + excluded.bytes,
       ok_requests = audit_minute.ok_requests + excluded.ok_requests,
       first_ok_seq = least(audit_minute.first_ok_seq, excluded.first_ok_seq),
       latency = payer_fhir_histogram_add(audit_minute.latency, excluded.latency)`,
    [
      ms.map((s) => s.tenant), ms.map((s) => s.clientId), ms.map((s) => s.sourceIp), ms.map((s) => new Date(s.at)),
      ms.map((s) => s.requests), ms.map((s) => s.bytes), ms.map((s) => s.ok), ms.map((s) => s.firstOkSeq), ms.map((s) => histogramText(s.latency)),
    ],
  );
}

/** Removes hourly counts of hours that began before `cutoff` (audit retention). */
export async function removeUsageBefore(pool: pg.Pool, cutoff: Date): Promise<void> {
  await pool.query('DELETE FROM audit_usage WHERE hour < $1', [new Date(Math.floor(cutoff.getTime() / HOUR_MS) * HOUR_MS)]);
}

/** Removes per-minute counts older than they are kept for. */
export async function trimMinuteCounts(db: pg.Pool | pg.PoolClient): Promise<void> {
  await db.query('DELETE FROM audit_minute WHERE minute < $1', [new Date(Date.now() - MINUTE_COUNTS_KEPT_MS)]);
}
