/**
 * The single typed configuration, read once from the environment.
 * Every variable here is documented in the README's Configuration section.
 */
import path from 'node:path';

export interface Config {
  /** External PostgreSQL; when absent an embedded PostgreSQL is started under `dataDir`. */
  databaseUrl: string | undefined;
  /** Public origin every returned URL is built from (never the Host header). */
  publicUrl: string;
  port: number;
  host: string;
  /** Embedded database and local export files live here. */
  dataDir: string;
  logLevel: string;
  /** Members `serve --demo` (npm start) seeds into the demo tenant on first start. */
  demoMembers: number;
  /** Default access-token lifetime, seconds (a client may have its own, up to an hour). */
  accessTokenTtl: number;
  /** Largest accepted request body, bytes (413 beyond). */
  bodyLimit: number;
  db: {
    poolMax: number;
    /** Per-statement timeout, milliseconds (0 = none). */
    statementTimeoutMs: number;
    connectTimeoutMs: number;
  };
  history: {
    defaultCount: number;
    maxCount: number;
  };
  /** Search page sizes (`_count` default and cap). */
  search: {
    defaultCount: number;
    maxCount: number;
  };
}

function int(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`Environment variable ${name} must be a non-negative integer, got "${raw}"`);
  }
  return n;
}

/** Reads the configuration; `overrides` lets the CLI flags and tests win over the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const port = int('PORT', 8080, env);
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new Error(`PUBLIC_URL must be an absolute URL, got "${publicUrl}"`);
  }
  const base: Config = {
    databaseUrl: env.DATABASE_URL || undefined,
    publicUrl,
    port,
    host: env.HOST ?? '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR ?? 'data'),
    logLevel: env.LOG_LEVEL ?? 'info',
    accessTokenTtl: int('ACCESS_TOKEN_TTL', 300, env),
    demoMembers: int('DEMO_MEMBERS', 1000, env),
    bodyLimit: int('BODY_LIMIT', 16 * 1024 * 1024, env),
    db: {
      poolMax: int('DB_POOL_MAX', 10, env),
      statementTimeoutMs: int('DB_STATEMENT_TIMEOUT_MS', 30_000, env),
      connectTimeoutMs: int('DB_CONNECT_TIMEOUT_MS', 10_000, env),
    },
    history: {
      defaultCount: int('HISTORY_DEFAULT_COUNT', 50, env),
      maxCount: int('HISTORY_MAX_COUNT', 1000, env),
    },
    search: {
      defaultCount: int('SEARCH_DEFAULT_COUNT', 50, env),
      maxCount: Math.max(1000, int('SEARCH_MAX_COUNT', 1000, env)),
    },
  };
  return { ...base, ...overrides };
}
