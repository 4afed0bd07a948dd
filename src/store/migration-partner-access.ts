/**
 * Migration 9: partner access policies (CMS-0057-F Provider Access and Payer-to-Payer).
 *
 * - A client acts for an organisation under a policy (`internal`, `provider-access`,
 *   `payer-to-payer`); exports remember the policy they were started under.
 * - Three tables derived from stored resources at write time (src/fhir/partner-index.ts),
 *   so the policy is one indexed SQL condition instead of a walk over JSON:
 *   `partner_group` (who a Group belongs to: an attribution list's provider NPI/TIN, a
 *   member-match Group's requesting payer), `partner_group_member` (its members and their
 *   attribution periods) and `consent_rule` (active Consents: opt-outs and opt-ins).
 * - `member_match`: which client matched which member ($member-match, $bulk-member-match).
 * - The audit record names the policy a request was served under.
 */
import type { Migration } from './migration.js';

export const partnerAccess: Migration = {
  version: 9,
  name: 'partner access policies: client policy, attribution and consent index, member matches',
  sql: `
    ALTER TABLE client
      ADD COLUMN policy text NOT NULL DEFAULT 'internal' CHECK (policy IN ('internal', 'provider-access', 'payer-to-payer')),
      ADD COLUMN organization_system text,
      ADD COLUMN organization_value text;
    ALTER TABLE export_job ADD COLUMN policy jsonb;
    -- $davinci-data-export provider-delta: per member, only what changed after this instant
    ALTER TABLE export_member ADD COLUMN since timestamptz;
    ALTER TABLE audit_event ADD COLUMN policy text;

    CREATE TABLE partner_group (
      tenant text NOT NULL,
      group_id text NOT NULL,
      -- 'attribution' (ATR / PDex provider group) or 'match' (PDex member-match group)
      kind text NOT NULL,
      org_system text NOT NULL,
      org_value text NOT NULL,
      -- the list may be used: not a draft, the contract period in force (checked against now)
      usable boolean NOT NULL,
      valid_low timestamptz,
      valid_high timestamptz,
      PRIMARY KEY (tenant, group_id, org_system, org_value)
    );
    CREATE INDEX partner_group_org ON partner_group (tenant, org_system, org_value);

    CREATE TABLE partner_group_member (
      tenant text NOT NULL,
      group_id text NOT NULL,
      patient_id text NOT NULL,
      low timestamptz,
      high timestamptz
    );
    CREATE INDEX partner_group_member_patient ON partner_group_member (tenant, patient_id, group_id);
    CREATE INDEX partner_group_member_group ON partner_group_member (tenant, group_id);

    CREATE TABLE consent_rule (
      tenant text NOT NULL,
      consent_id text NOT NULL,
      patient_id text NOT NULL,
      -- 'provider-access', 'payer-to-payer' (PDex consent API purpose)
      purpose text NOT NULL,
      decision text NOT NULL CHECK (decision IN ('permit', 'deny')),
      -- the receiving organisation (payer-to-payer); null for an opt-out
      recipient_system text,
      recipient_value text,
      -- HRex policy: 'regular' (no sensitive data) or 'sensitive'
      level text,
      low timestamptz,
      high timestamptz
    );
    CREATE INDEX consent_rule_patient ON consent_rule (tenant, patient_id, purpose);
    CREATE INDEX consent_rule_consent ON consent_rule (tenant, consent_id);

    CREATE TABLE member_match (
      tenant text NOT NULL,
      client_id text NOT NULL,
      patient_id text NOT NULL,
      consent_id text,
      coverage_to_link text,
      matched_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, client_id, patient_id)
    );
  `,
};
