/**
 * The single typed configuration, read once from the environment.
 * Every variable here is documented in the README's Configuration section.
 */
import os from 'node:os';
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
  /** HTTPS: certificate and key files (PEM); undefined serves plain HTTP. */
  tls: TlsConfig | undefined;
  /** Request shape and timing limits (README: "Operations and security"). */
  http: HttpLimitsConfig;
  /** Prometheus metrics (README: "Operations and security"). */
  metrics: MetricsConfig;
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
    /** Levels of `_include`/`_revinclude` followed from the matches (1: no `:iterate` rounds). */
    maxIncludeDepth: number;
    /** `_total=estimate` counts exactly up to this many matches, then asks the planner. */
    exactTotalUpTo: number;
    /** Search statement shapes this process prepares (named), see store/statement-names.ts; 0: none. */
    preparedShapes: number;
  };
  export: ExportConfig;
  audit: AuditConfig;
  limits: LimitsConfig;
  alerts: AlertsConfig;
  memberMatch: MemberMatchConfig;
  /** The operator console and its admin API (README: "Operator console"). */
  admin: AdminConfig;
}

/** The operator console's sign-in and sessions (README: "Operator console"). */
export interface AdminConfig {
  /** A session ends after this many minutes without a request… */
  sessionIdleMinutes: number;
  /** …and this many hours after sign-in, whatever its use. */
  sessionMaxHours: number;
  /** Failed sign-ins in a row that lock an account, and for how long. */
  lockoutFailures: number;
  lockoutMinutes: number;
  /** Sign-in attempts per minute per account and per source address (429 beyond). */
  signinPerMinuteAccount: number;
  signinPerMinuteIp: number;
  /** OpenID Connect single sign-on; undefined when OIDC_ISSUER is unset. */
  oidc: OidcConfig | undefined;
}

export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  scopes: string;
  /** The ID token / userinfo claim holding the user's role(s) (a string or an array)… */
  roleClaim: string;
  /** …mapped to console roles: claim value → admin|operator|auditor (identity when empty). */
  roleMap: Record<string, string>;
  /** The claim naming the tenant a user is limited to ('*': every tenant; absent claim: refused). Unset: every tenant. */
  tenantClaim: string | undefined;
  /** Plain-http issuers, for a provider on loopback in tests and demos. */
  allowHttp: boolean;
}

/** OIDC_* variables; OIDC_ISSUER turns single sign-on on. */
function oidc(env: NodeJS.ProcessEnv): OidcConfig | undefined {
  if (!env.OIDC_ISSUER) return undefined;
  if (!env.OIDC_CLIENT_ID) throw new Error('OIDC_ISSUER needs OIDC_CLIENT_ID (and usually OIDC_CLIENT_SECRET)');
  const roleMap: Record<string, string> = {};
  for (const pair of (env.OIDC_ROLE_MAP ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [from, to] = pair.split('=').map((s) => s.trim());
    if (!from || !['admin', 'operator', 'auditor'].includes(to)) throw new Error(`OIDC_ROLE_MAP: '${pair}' is not CLAIM_VALUE=admin|operator|auditor`);
    roleMap[from] = to;
  }
  return {
    issuer: env.OIDC_ISSUER,
    clientId: env.OIDC_CLIENT_ID,
    clientSecret: env.OIDC_CLIENT_SECRET || undefined,
    scopes: env.OIDC_SCOPES || 'openid email profile',
    roleClaim: env.OIDC_ROLE_CLAIM || 'roles',
    roleMap,
    tenantClaim: env.OIDC_TENANT_CLAIM || undefined,
    allowHttp: env.OIDC_ALLOW_HTTP === 'true',
  };
}


/** Payer-to-Payer member matching (README: "CMS interoperability — operations"). */
export interface MemberMatchConfig {
  /** Failed `$member-match` requests a client may make per UTC hour; beyond, 429 until the hour ends. */
  failuresPerHour: number;
  /** Most MemberBundle parameters one `$bulk-member-match` request may carry. */
  bulkMaxMembers: number;
}

/** Security monitoring rules (README: "Security alerts"). */
export interface AlertsConfig {
  /** How often the rules run (seconds; one process at a time runs them). 0 = never. */
  intervalSeconds: number;
  /** The sliding window the counting rules look at (seconds). */
  windowSeconds: number;
  /** Failed authentications per client or per source address within the window. */
  authFailures: number;
  /** Scope denials (403 insufficient_scope) per client within the window. */
  scopeDenials: number;
  /** A client's requests or bytes in the window above this multiple of its own average window… */
  volumeFactor: number;
  /** …and at least this many requests (so quiet clients do not alert on small bursts). */
  volumeMinRequests: number;
  /** Days of history that make a client's baseline. */
  baselineDays: number;
  /** Alerts are POSTed here as JSON when set. */
  webhookUrl: string | undefined;
  /** Failed member matches of one client within the current hour that raise an alert (MEMBER_MATCH_FAILURES_PER_HOUR). */
  memberMatchFailures: number;
}

/** The audit trail (README: "Audit trail"). */
export interface AuditConfig {
  /** Off only for measuring its overhead (bench/load); a payer keeps it on. */
  enabled: boolean;
  /** Records are appended in a batch every this many milliseconds: the loss window on a crash. */
  flushMs: number;
  /** Records waiting for the database beyond which new requests are refused (503). */
  maxBuffered: number;
  /** Records older than this many days are removed (0 = kept forever). */
  retentionDays: number;
}

/** Rate limits and network controls (README: "Rate limits"). */
export interface LimitsConfig {
  /** Requests per second per client, and its burst, unless the client has its own. */
  clientRate: number;
  clientBurst: number;
  /** Requests per second and burst for a whole tenant (0 = no tenant limit). */
  tenantRate: number;
  tenantBurst: number;
  /** Token requests per minute per client id and per source address (credential stuffing). */
  tokenPerMinuteClient: number;
  tokenPerMinuteIp: number;
  /** Fastify trustProxy: false, true, a hop count or a list of proxy addresses/CIDRs. */
  trustProxy: boolean | number | string[];
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
}

/** Limits on what one request may ask for and how long it may take. */
export interface HttpLimitsConfig {
  /** Longest query string (the part after `?`), characters; 414 beyond. */
  maxQueryLength: number;
  /** Most query (and `_search` form) parameters; 400 beyond. */
  maxQueryParams: number;
  /** Time for a client to send a whole request (headers and body), ms; 408 beyond. 0 = none. */
  requestTimeoutMs: number;
  /** Time for the server to answer once the request is routed, ms; 503 beyond. 0 = none. Export downloads are exempt. */
  responseTimeoutMs: number;
  /** An idle keep-alive connection is closed after this many ms. */
  keepAliveTimeoutMs: number;
}

export interface MetricsConfig {
  /** A separate, unauthenticated listener serving only /metrics (undefined: none). */
  port: number | undefined;
  host: string;
  /** When set, /metrics on the main port answers requests bearing this token. */
  token: string | undefined;
}

/** Bulk export settings (README: "Bulk export"). */
export interface ExportConfig {
  /** `file:` path (default DATA_DIR/exports) or `s3://bucket/prefix`. */
  storage: string;
  /** Resources per work unit: the grain at which workers share and resume a job. */
  unitSize: number;
  /** Patients per work unit for Group exports, `patient=` lists and organizeOutputBy. */
  unitPatients: number;
  /** A file rolls over to the next part past this many bytes. */
  fileMaxBytes: number;
  /** Jobs and their files are deleted this many seconds after completion (the manifest's Expires). */
  retentionSeconds: number;
  /** Concurrently running jobs per client (KO-42); completed and deleted jobs do not count. */
  maxJobsPerClient: number;
  /** Concurrently running jobs of all clients of a tenant together (0 = no tenant limit). */
  maxJobsPerTenant: number;
  /** The Retry-After given while a job runs (ST-01). */
  retryAfterSeconds: number;
  /** Polls allowed within one Retry-After interval before 429 (ST-02, ST-03). */
  pollBurst: number;
  /** Seconds a worker's claim on a unit lasts without a heartbeat. */
  leaseSeconds: number;
  /** Attempts per unit before the job fails. */
  maxAttempts: number;
  /** In-process workers of `serve` (0: API only). */
  workers: number;
  /** Threads a process lends to view export units' CPU work (0: in the worker's own thread). */
  viewThreads: number;
  /** Output entries per manifest page when the client allows partial manifests. */
  manifestPageSize: number;
  /** Downloads from S3 storage answer 302 to a presigned URL after the token check. */
  s3Redirect: boolean;
}

function num(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`Environment variable ${name} must be a non-negative number, got "${raw}"`);
  return n;
}

/** TRUST_PROXY: unset/false, true, a hop count, or a comma-separated list of addresses/CIDRs. */
function trustProxy(raw: string | undefined): boolean | number | string[] {
  if (!raw || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/** TLS_CERT_FILE and TLS_KEY_FILE: both or neither. */
function tls(env: NodeJS.ProcessEnv): TlsConfig | undefined {
  const certFile = env.TLS_CERT_FILE || undefined;
  const keyFile = env.TLS_KEY_FILE || undefined;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error('TLS needs both a certificate and a key (TLS_CERT_FILE and TLS_KEY_FILE, or serve --tls-cert and --tls-key)');
  return { certFile: path.resolve(certFile), keyFile: path.resolve(keyFile) };
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
  const tlsFiles = tls(env);
  const matchFailures = Math.max(1, int('MEMBER_MATCH_FAILURES_PER_HOUR', 20, env));
  const publicUrl = (env.PUBLIC_URL ?? `${tlsFiles ? 'https' : 'http'}://localhost:${port}`).replace(/\/+$/, '');
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
    tls: tlsFiles,
    http: {
      maxQueryLength: Math.max(256, int('MAX_QUERY_LENGTH', 8192, env)),
      maxQueryParams: Math.max(1, int('MAX_QUERY_PARAMS', 100, env)),
      requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 120_000, env),
      responseTimeoutMs: int('RESPONSE_TIMEOUT_MS', 120_000, env),
      keepAliveTimeoutMs: Math.max(1, int('KEEP_ALIVE_TIMEOUT_MS', 72_000, env)),
    },
    metrics: {
      port: env.METRICS_PORT ? int('METRICS_PORT', 0, env) : undefined,
      host: env.METRICS_HOST || '127.0.0.1',
      token: env.METRICS_TOKEN || undefined,
    },
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
      maxIncludeDepth: Math.max(1, int('MAX_INCLUDE_DEPTH', 4, env)),
      exactTotalUpTo: Math.max(0, int('SEARCH_ESTIMATE_EXACT_UP_TO', 10_000, env)),
      preparedShapes: Math.max(0, int('SEARCH_PREPARED_SHAPES', 100, env)),
    },
    export: {
      storage: env.EXPORT_STORAGE || `file:${path.join(path.resolve(env.DATA_DIR ?? 'data'), 'exports')}`,
      unitSize: Math.max(1, int('EXPORT_UNIT_SIZE', 50_000, env)),
      unitPatients: Math.max(1, int('EXPORT_UNIT_PATIENTS', 2_000, env)),
      fileMaxBytes: Math.max(1024, int('EXPORT_FILE_MAX_BYTES', 512 * 1024 * 1024, env)),
      retentionSeconds: int('EXPORT_RETENTION_SECONDS', 24 * 3600, env),
      maxJobsPerClient: Math.max(1, int('EXPORT_MAX_JOBS_PER_CLIENT', 3, env)),
      maxJobsPerTenant: int('EXPORT_MAX_JOBS_PER_TENANT', 10, env),
      retryAfterSeconds: Math.min(10, Math.max(1, int('EXPORT_RETRY_AFTER', 2, env))),
      pollBurst: Math.max(2, int('EXPORT_POLL_BURST', 10, env)),
      leaseSeconds: Math.max(2, int('EXPORT_LEASE_SECONDS', 30, env)),
      maxAttempts: Math.max(1, int('EXPORT_MAX_ATTEMPTS', 3, env)),
      workers: int('EXPORT_WORKERS', 2, env),
      viewThreads: int('EXPORT_VIEW_THREADS', os.availableParallelism(), env),
      manifestPageSize: Math.max(1, int('EXPORT_MANIFEST_PAGE_SIZE', 1000, env)),
      s3Redirect: env.EXPORT_S3_REDIRECT === 'true',
    },
    audit: {
      enabled: env.AUDIT_ENABLED !== 'false',
      flushMs: Math.max(5, int('AUDIT_FLUSH_MS', 100, env)),
      maxBuffered: Math.max(100, int('AUDIT_BUFFER_MAX', 50_000, env)),
      retentionDays: int('AUDIT_RETENTION_DAYS', 2190, env),
    },
    limits: {
      clientRate: num('RATE_LIMIT_CLIENT', 50, env),
      clientBurst: Math.max(1, int('RATE_LIMIT_CLIENT_BURST', 100, env)),
      tenantRate: num('RATE_LIMIT_TENANT', 0, env),
      tenantBurst: Math.max(1, int('RATE_LIMIT_TENANT_BURST', 1000, env)),
      tokenPerMinuteClient: Math.max(1, int('TOKEN_RATE_LIMIT_CLIENT', 60, env)),
      tokenPerMinuteIp: Math.max(1, int('TOKEN_RATE_LIMIT_IP', 300, env)),
      trustProxy: trustProxy(env.TRUST_PROXY),
    },
    alerts: {
      intervalSeconds: int('ALERT_INTERVAL_SECONDS', 30, env),
      windowSeconds: Math.max(10, int('ALERT_WINDOW_SECONDS', 300, env)),
      authFailures: Math.max(1, int('ALERT_AUTH_FAILURES', 20, env)),
      scopeDenials: Math.max(1, int('ALERT_SCOPE_DENIALS', 10, env)),
      volumeFactor: Math.max(1, num('ALERT_VOLUME_FACTOR', 10, env)),
      volumeMinRequests: Math.max(1, int('ALERT_VOLUME_MIN_REQUESTS', 1000, env)),
      baselineDays: Math.max(1, int('ALERT_BASELINE_DAYS', 7, env)),
      webhookUrl: env.ALERT_WEBHOOK_URL || undefined,
      memberMatchFailures: matchFailures,
    },
    memberMatch: {
      failuresPerHour: matchFailures,
      bulkMaxMembers: Math.max(1, int('BULK_MEMBER_MATCH_MAX_MEMBERS', 5000, env)),
    },
    admin: {
      sessionIdleMinutes: Math.max(1, int('ADMIN_SESSION_IDLE_MINUTES', 30, env)),
      sessionMaxHours: Math.max(1, int('ADMIN_SESSION_MAX_HOURS', 12, env)),
      lockoutFailures: Math.max(1, int('ADMIN_LOCKOUT_FAILURES', 5, env)),
      lockoutMinutes: Math.max(1, int('ADMIN_LOCKOUT_MINUTES', 15, env)),
      signinPerMinuteAccount: Math.max(1, int('ADMIN_SIGNIN_PER_MINUTE_ACCOUNT', 10, env)),
      signinPerMinuteIp: Math.max(1, int('ADMIN_SIGNIN_PER_MINUTE_IP', 30, env)),
      oidc: oidc(env),
    },
  };
  return { ...base, ...overrides };
}
