/**
 * Migrations 13 and 14: Payer-to-Payer member matching (HRex `$member-match`, PDex
 * `$bulk-member-match`).
 *
 * 13 — failed matches per client per UTC hour: the brute-force throttle reads one row per
 * request (the audit trail is appended in batches, so it cannot be the live count), and the
 * `member-match-failures` alert rule reads the same rows.
 *
 * 14 — `$bulk-member-match` jobs: the validated input is kept with the job, so any `serve` or
 * `worker` process can run it; a lease (owner + expiry, renewed as batches commit) lets another
 * process take it over after a crash. Each member's outcome is a row of its own, written in the
 * same transaction as the Consent and `member_match` row of its batch, so a resumed job carries
 * on after the last committed batch and never matches a member twice.
 */
import type { Migration } from './migration.js';

export const memberMatchFailures: Migration = {
  version: 13,
  name: 'member-match failures per client per hour (brute-force throttle and alert)',
  sql: `
    CREATE TABLE member_match_failure (
      tenant text NOT NULL,
      client_id text NOT NULL,
      hour timestamptz NOT NULL,
      failures integer NOT NULL,
      PRIMARY KEY (tenant, client_id, hour)
    );
    CREATE INDEX member_match_failure_hour ON member_match_failure (hour);
  `,
};

export const bulkMemberMatchJobs: Migration = {
  version: 14,
  name: 'bulk member-match jobs, their members and leases',
  sql: `
    CREATE TABLE member_match_job (
      id uuid PRIMARY KEY,
      tenant text NOT NULL,
      client_id text NOT NULL,
      -- whom the client acts for when the job was started (the matched Group's owner)
      organization_system text,
      organization_value text,
      policy text NOT NULL,
      status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
      request_url text NOT NULL,
      input jsonb NOT NULL,
      total integer NOT NULL,
      done integer NOT NULL DEFAULT 0,
      result text,
      error text,
      lease_owner text,
      lease_until timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      expires_at timestamptz
    );
    CREATE INDEX member_match_job_runnable ON member_match_job (created_at) WHERE status IN ('queued', 'running');
    CREATE INDEX member_match_job_client ON member_match_job (tenant, client_id);

    CREATE TABLE member_match_job_item (
      job_id uuid NOT NULL REFERENCES member_match_job (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      -- 'matched', 'no-match' or 'consent'
      outcome text NOT NULL,
      patient_id text,
      consent_id text,
      PRIMARY KEY (job_id, seq)
    );
  `,
};
