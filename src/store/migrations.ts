/**
 * Versioned schema migrations, applied in order on start under a PostgreSQL advisory lock,
 * so two processes starting at once never apply the same migration twice.
 *
 * Storage shape (see ARCHITECTURE §4): `resource` holds the current version of every
 * resource (a tombstone row once deleted), `resource_history` the superseded versions.
 * A create therefore writes one row; an update moves the old row to history first.
 * The tenant leads every key and index.
 */
import type pg from 'pg';
import { patientCompartmentParams, patientCompartmentTypes } from '../fhir/compartment.js';
import { auditAndLimits } from './migration-audit-limits.js';
import { adminConsole } from './migration-admin.js';
import { auditLatency } from './migration-audit-latency.js';
import { basisRenditions } from './migration-basis.js';
import { auditMinute } from './migration-audit-minute.js';
import { auditUsage } from './migration-audit-usage.js';
import { bulkMemberMatchJobs, memberMatchFailures } from './migration-member-match.js';
import { partnerAccess } from './migration-partner-access.js';
import { serviceDates } from './migration-service-date.js';

import type { Migration } from './migration.js';

export type { Migration };

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'tenants, resources, history, identifier index',
    sql: `
      CREATE TABLE tenant (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      -- Process-independent secrets and settings (e.g. the key that signs paging cursors).
      CREATE TABLE server_setting (
        name text PRIMARY KEY,
        value text NOT NULL
      );
      INSERT INTO server_setting (name, value)
        VALUES ('cursor_key', encode(sha256(random()::text::bytea || clock_timestamp()::text::bytea || pg_backend_pid()::text::bytea), 'hex'));

      CREATE TABLE resource (
        tenant text NOT NULL,
        type text NOT NULL,
        id text NOT NULL,
        version integer NOT NULL,
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content text,
        PRIMARY KEY (tenant, type, id)
      );
      CREATE INDEX resource_type_updated ON resource (tenant, type, last_updated, id);
      CREATE INDEX resource_updated ON resource (tenant, last_updated);

      CREATE TABLE resource_history (
        tenant text NOT NULL,
        type text NOT NULL,
        id text NOT NULL,
        version integer NOT NULL,
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content text,
        PRIMARY KEY (tenant, type, id, version)
      );
      CREATE INDEX resource_history_type_updated ON resource_history (tenant, type, last_updated, id);
      CREATE INDEX resource_history_updated ON resource_history (tenant, last_updated);

      CREATE TABLE search_token (
        tenant text NOT NULL,
        type text NOT NULL,
        id text NOT NULL,
        param text NOT NULL,
        system text,
        code text NOT NULL
      );
      CREATE INDEX search_token_value ON search_token (tenant, type, param, code, system);
      CREATE INDEX search_token_resource ON search_token (tenant, type, id);
    `,
  },
  {
    version: 2,
    name: 'backend-service clients, assertion replay store, server signing keys',
    sql: `
      CREATE TABLE client (
        tenant text NOT NULL REFERENCES tenant(id),
        client_id text NOT NULL,
        name text NOT NULL,
        jwks_url text,
        jwks jsonb,
        secret_hash text,
        scope text NOT NULL,
        token_ttl integer,
        disabled_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, client_id)
      );
      -- (iss, jti) of every accepted client assertion, kept until the assertion expires, so a
      -- replay is refused by every server process (TOK-47).
      CREATE TABLE assertion_jti (
        tenant text NOT NULL,
        client_id text NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, client_id, jti)
      );
      CREATE INDEX assertion_jti_expiry ON assertion_jti (expires_at);
      -- Keys that sign access tokens. The newest unretired key signs; retired keys still
      -- verify until every token they signed has expired.
      CREATE TABLE signing_key (
        kid text PRIMARY KEY,
        alg text NOT NULL,
        private_jwk jsonb NOT NULL,
        public_jwk jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        retired_at timestamptz
      );
    `,
  },
  {
    version: 3,
    name: 'typed search indexes (token, string, date, reference, quantity, uri)',
    // Index rows exist only for current, non-deleted versions: a write replaces a resource's
    // rows, a deletion removes them. The existing identifier tokens stay valid (same meaning);
    // `payer-fhir reindex` fills the other parameters for resources written before.
    sql: `
      ALTER TABLE search_token ALTER COLUMN code DROP NOT NULL;
      ALTER TABLE search_token ADD COLUMN text text;
      CREATE TABLE search_string (
        tenant text NOT NULL, type text NOT NULL, id text NOT NULL, param text NOT NULL,
        value text NOT NULL,
        norm text NOT NULL
      );
      CREATE INDEX search_string_value ON search_string (tenant, type, param, norm text_pattern_ops);
      CREATE INDEX search_string_resource ON search_string (tenant, type, id);
      CREATE TABLE search_date (
        tenant text NOT NULL, type text NOT NULL, id text NOT NULL, param text NOT NULL,
        low timestamptz NOT NULL,
        high timestamptz NOT NULL
      );
      CREATE INDEX search_date_value ON search_date (tenant, type, param, low, high);
      CREATE INDEX search_date_resource ON search_date (tenant, type, id);
      CREATE TABLE search_reference (
        tenant text NOT NULL, type text NOT NULL, id text NOT NULL, param text NOT NULL,
        target_type text,
        target_id text,
        url text
      );
      CREATE INDEX search_reference_value ON search_reference (tenant, type, param, target_id, target_type);
      CREATE INDEX search_reference_target ON search_reference (tenant, target_type, target_id);
      CREATE INDEX search_reference_resource ON search_reference (tenant, type, id);
      CREATE TABLE search_quantity (
        tenant text NOT NULL, type text NOT NULL, id text NOT NULL, param text NOT NULL,
        value numeric NOT NULL,
        system text,
        code text
      );
      CREATE INDEX search_quantity_value ON search_quantity (tenant, type, param, value);
      CREATE INDEX search_quantity_resource ON search_quantity (tenant, type, id);
      CREATE TABLE search_uri (
        tenant text NOT NULL, type text NOT NULL, id text NOT NULL, param text NOT NULL,
        value text NOT NULL
      );
      CREATE INDEX search_uri_value ON search_uri (tenant, type, param, value text_pattern_ops);
      CREATE INDEX search_uri_resource ON search_uri (tenant, type, id);
    `,
  },
  {
    version: 4,
    name: 'Patient compartment membership; bulk export jobs, members, work units and files',
    sql: `
      -- One row per (patient, resource) compartment membership of the current version. Kept
      -- for tombstones, so an export's deleted list can still tell whose resource it was.
      CREATE TABLE resource_compartment (
        tenant text NOT NULL, patient_id text NOT NULL, type text NOT NULL, id text NOT NULL,
        -- type before patient: export units read one type for a set of patients
        PRIMARY KEY (tenant, type, patient_id, id)
      );
      CREATE INDEX resource_compartment_resource ON resource_compartment (tenant, type, id);
      INSERT INTO resource_compartment (tenant, patient_id, type, id)
        SELECT DISTINCT x.tenant, x.target_id, x.type, x.id FROM search_reference x
         WHERE x.target_type = 'Patient' AND x.target_id IS NOT NULL
           AND (x.type, x.param) IN (${compartmentPairs()})
        UNION
        SELECT tenant, id, type, id FROM resource WHERE type = 'Patient' AND NOT deleted;

      CREATE TABLE export_job (
        id uuid PRIMARY KEY,
        tenant text NOT NULL REFERENCES tenant(id),
        client_id text NOT NULL,
        -- system | patient | group
        level text NOT NULL,
        request_url text NOT NULL,
        -- the validated, normalised kick-off parameters (src/bulk/parameters.ts)
        params jsonb NOT NULL,
        -- the token's scopes at kick-off: what the job may export
        scope text NOT NULL,
        transaction_time timestamptz NOT NULL,
        -- EXPORT_STORAGE of the kick-off: workers writing elsewhere leave the job alone
        storage text NOT NULL,
        -- write transactions of this database in flight at kick-off: they must end before
        -- the job reads, so every write stamped before transactionTime is seen (KO-44)
        waits_for xid8[] NOT NULL DEFAULT '{}',
        -- active | completed | failed | cancelled
        state text NOT NULL DEFAULT 'active',
        error text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        completed_at timestamptz,
        expires_at timestamptz,
        poll_window_start timestamptz,
        poll_count integer NOT NULL DEFAULT 0,
        units_total integer,
        units_done integer NOT NULL DEFAULT 0,
        resources_done bigint NOT NULL DEFAULT 0
      );
      CREATE INDEX export_job_running ON export_job (tenant, client_id) WHERE state = 'active';
      CREATE INDEX export_job_expiry ON export_job (expires_at);
      -- Patients of a Group export or a patient= list, resolved at kick-off.
      CREATE TABLE export_member (
        job_id uuid NOT NULL REFERENCES export_job(id) ON DELETE CASCADE,
        patient_id text NOT NULL,
        PRIMARY KEY (job_id, patient_id)
      );
      CREATE TABLE export_unit (
        job_id uuid NOT NULL REFERENCES export_job(id) ON DELETE CASCADE,
        seq integer NOT NULL,
        -- plan | resources | members | referenced | provenance | organized
        kind text NOT NULL,
        type text,
        -- key range [lo, hi): resource ids, or patient ids for member units; null = open
        lo text,
        hi text,
        -- pending | running | done
        state text NOT NULL DEFAULT 'pending',
        lease_owner text,
        lease_expires timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        resources bigint,
        PRIMARY KEY (job_id, seq)
      );
      CREATE INDEX export_unit_open ON export_unit (job_id, seq) WHERE state <> 'done';
      CREATE TABLE export_file (
        job_id uuid NOT NULL REFERENCES export_job(id) ON DELETE CASCADE,
        name text NOT NULL,
        unit_seq integer NOT NULL,
        -- output | error | deleted
        kind text NOT NULL,
        type text,
        count bigint NOT NULL,
        bytes bigint NOT NULL,
        PRIMARY KEY (job_id, name)
      );
    `,
  },
  auditAndLimits,
  auditUsage,
  {
    version: 7,
    name: 'resource JSON compressed with lz4 where the server supports it',
    // Resource JSON past ~2 kB (claims, explanations of benefit) is compressed out of line;
    // lz4 decompresses several times faster than the default pglz, and every search, read and
    // export of such a resource pays that. New values only: stored ones stay pglz, and both
    // read alike. A server built without lz4 (the embedded one) keeps pglz.
    sql: `
      DO $$
      BEGIN
        ALTER TABLE resource ALTER COLUMN content SET COMPRESSION lz4;
        ALTER TABLE resource_history ALTER COLUMN content SET COMPRESSION lz4;
      EXCEPTION WHEN feature_not_supported THEN
        RAISE NOTICE 'lz4 is not available in this PostgreSQL build; resource JSON stays pglz-compressed';
      END $$;
    `,
  },
  auditMinute,
  {
    version: 10,
    name: 'per-client token request limit',
    // Requests per minute at the token endpoint for one client; NULL = TOKEN_RATE_LIMIT_CLIENT.
    // Conformance kits ask for a token per test (BDT: 160-odd a minute), ordinary partners a few.
    sql: `ALTER TABLE client ADD COLUMN token_rate_per_minute integer`,
  },
  partnerAccess,
  memberMatchFailures,
  bulkMemberMatchJobs,
  adminConsole,
  auditLatency,
  basisRenditions,
  serviceDates,
];

/** `(type, param)` SQL pairs of the Patient compartment definition, for the backfill. */
function compartmentPairs(): string {
  const pairs = patientCompartmentTypes().flatMap((t) => patientCompartmentParams(t).map((p) => `('${t}', '${p}')`));
  return `VALUES ${pairs.join(', ')}`;
}

const LOCK_KEY = 7_384_201_551; // arbitrary, fixed: "payer-fhir migrations"

/** Applies every migration not yet recorded; returns the versions applied. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migration (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migration')).rows.map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migration (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
        applied.push(m.version);
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
