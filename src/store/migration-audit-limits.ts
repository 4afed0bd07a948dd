/**
 * Migration 5: the audit trail, rate-limit buckets, security alerts and the per-client limits
 * and network allowlists they enforce.
 */
import type { Migration } from './migration.js';

export const auditAndLimits: Migration = {
  version: 5,
  name: 'audit trail, rate limits, client allowlists, security alerts',
  sql: `
    -- One row per request, in a hash chain per tenant: hash = sha256(prev_hash || record).
    -- Append-only: the trigger below refuses UPDATE, and DELETE except by the retention sweep.
    CREATE TABLE audit_event (
      tenant text NOT NULL,
      seq bigint NOT NULL,
      recorded timestamptz NOT NULL,
      duration_us bigint NOT NULL,
      client_id text,
      source_ip text,
      interaction text NOT NULL,
      method text NOT NULL,
      path text NOT NULL,
      query text,
      resource_type text,
      resource_id text,
      job_id text,
      status integer NOT NULL,
      resources bigint,
      bytes bigint,
      detail text,
      request_id text,
      prev_hash bytea NOT NULL,
      hash bytea NOT NULL,
      PRIMARY KEY (tenant, seq)
    );
    -- Records arrive in time order, so a BRIN index serves date ranges (search, report, alert
    -- windows) at a fraction of a btree's cost per insert.
    CREATE INDEX audit_event_recorded ON audit_event USING brin (recorded) WITH (pages_per_range = 32);
    CREATE INDEX audit_event_client ON audit_event (tenant, client_id, recorded);
    CREATE INDEX audit_event_entity ON audit_event (tenant, resource_type, resource_id) WHERE resource_id IS NOT NULL;
    -- The head of each tenant's chain (its row lock orders appends from every process), and
    -- the anchor left by retention: the last removed record's seq and hash.
    CREATE TABLE audit_chain (
      tenant text PRIMARY KEY,
      seq bigint NOT NULL DEFAULT 0,
      hash bytea NOT NULL DEFAULT '\\x'::bytea,
      anchor_seq bigint NOT NULL DEFAULT 0,
      anchor_hash bytea NOT NULL DEFAULT '\\x'::bytea
    );
    CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('payer_fhir.audit_retention', true) = 'on' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'audit_event is append-only' USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
      FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

    -- Token buckets shared by every process: 'tokens' left at time 'at'; 'taken' is how many
    -- the last claim got (a process takes a few at a time, see limits/rate-limiter.ts).
    -- Unlogged: after a crash the buckets simply start full again.
    CREATE UNLOGGED TABLE rate_bucket (
      key text PRIMARY KEY,
      rate double precision NOT NULL,
      burst double precision NOT NULL,
      tokens double precision NOT NULL,
      at timestamptz NOT NULL,
      taken double precision NOT NULL
    );

    ALTER TABLE client
      ADD COLUMN rate_per_second double precision,
      ADD COLUMN rate_burst integer,
      ADD COLUMN max_exports integer,
      ADD COLUMN allowed_ips text[];

    -- Addresses each client has been seen from (the "new address" alert rule).
    CREATE TABLE client_address (
      tenant text NOT NULL,
      client_id text NOT NULL,
      address text NOT NULL,
      first_seen timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, client_id, address)
    );

    CREATE TABLE security_alert (
      id bigserial PRIMARY KEY,
      tenant text NOT NULL,
      rule text NOT NULL,
      client_id text,
      source_ip text,
      raised_at timestamptz NOT NULL DEFAULT now(),
      summary text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX security_alert_tenant ON security_alert (tenant, raised_at);
  `,
};
