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
