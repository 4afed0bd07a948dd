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

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

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
];

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
