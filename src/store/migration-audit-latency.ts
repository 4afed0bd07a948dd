/**
 * Migration 15: the usage rollups also count failures and keep a latency histogram, so the
 * console's overview (error rate, p95 latency per minute and per hour) reads a few rollup rows
 * rather than the trail. `latency` holds counts per duration bucket (audit/usage.ts names the
 * bounds); rows written before this migration have none and count as no sample.
 */
import type { Migration } from './migration.js';

export const auditLatency: Migration = {
  version: 15,
  name: 'failures and latency histograms in the usage rollups (console overview)',
  sql: `
    ALTER TABLE audit_usage ADD COLUMN failed bigint NOT NULL DEFAULT 0, ADD COLUMN latency bigint[];
    ALTER TABLE audit_minute ADD COLUMN latency bigint[];
    -- Element-wise sum of two histograms (either may be NULL).
    CREATE FUNCTION payer_fhir_histogram_add(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a ELSE
        ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0) FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i) ORDER BY i) END
    $$;
    CREATE AGGREGATE payer_fhir_histogram_sum(bigint[]) (SFUNC = payer_fhir_histogram_add, STYPE = bigint[]);
    -- A tenant's hours across its clients (overview, sparklines), without walking every client's year.
    CREATE INDEX audit_usage_tenant_hour ON audit_usage (tenant, hour);
  `,
};
