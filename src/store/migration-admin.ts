/**
 * Migration 11: the operator console's state. Local administrator accounts (passwords under
 * scrypt, lockout counters), signed-in sessions (only a hash of the cookie's token is stored,
 * so a copy of the table signs nobody in), and the handling of security alerts
 * (acknowledged, resolved: who and when).
 */
import type { Migration } from './migration.js';

export const adminConsole: Migration = {
  version: 11,
  name: 'console accounts, sessions, alert handling',
  sql: `
    CREATE TABLE admin_account (
      id bigserial PRIMARY KEY,
      email text NOT NULL,
      role text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
      -- NULL: every tenant
      tenant text REFERENCES tenant(id) ON DELETE CASCADE,
      password_hash text NOT NULL,
      -- a generated one-time password must be changed at first sign-in
      must_change_password boolean NOT NULL DEFAULT false,
      failed_signins integer NOT NULL DEFAULT 0,
      locked_until timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_signin timestamptz
    );
    CREATE UNIQUE INDEX admin_account_email ON admin_account (lower(email));

    CREATE TABLE admin_session (
      -- sha256 of the cookie's random token
      token_hash bytea PRIMARY KEY,
      account_id bigint REFERENCES admin_account(id) ON DELETE CASCADE,
      email text NOT NULL,
      role text NOT NULL,
      tenant text,
      -- 'local' or 'oidc'
      source text NOT NULL,
      csrf_token text NOT NULL,
      must_change_password boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_seen timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX admin_session_expires ON admin_session (expires_at);
    CREATE INDEX admin_session_account ON admin_session (account_id);

    -- OpenID Connect sign-ins in flight: state, nonce and PKCE verifier, for a few minutes.
    CREATE TABLE admin_oidc_state (
      state text PRIMARY KEY,
      nonce text NOT NULL,
      code_verifier text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    ALTER TABLE security_alert
      ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
      ADD COLUMN acknowledged_at timestamptz,
      ADD COLUMN acknowledged_by text,
      ADD COLUMN resolved_at timestamptz,
      ADD COLUMN resolved_by text,
      ADD COLUMN note text;
    CREATE INDEX security_alert_open ON security_alert (tenant, id) WHERE status <> 'resolved';
  `,
};
