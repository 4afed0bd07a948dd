/**
 * Builds the HTTP application: FHIR conventions (media types, errors, _pretty), health
 * endpoints, and the tenant-scoped FHIR routes, each a thin adapter over an interaction.
 */
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type pg from 'pg';
import { BearerAuthenticator } from './auth/bearer.js';
import { FILE_ROUTE, registerBulkRoutes } from './bulk/routes.js';
import { openStorage } from './bulk/storage.js';
import { ExportWorkers } from './bulk/worker.js';
import { smartConfiguration } from './auth/discovery.js';
import { JwksFetcher } from './auth/jwks-fetcher.js';
import { SigningKeys } from './auth/signing-keys.js';
import { registerTokenEndpoint, tokenIssuer } from './auth/token-endpoint.js';
import type { Config } from './config.js';
import { InvalidError, MethodNotAllowedError, NotSupportedError, UnsupportedMediaTypeError, type Issue } from './errors.js';
import { CurrentReads } from './store/current-reads.js';
import { policyReads } from './policy/visibility.js';
import { setStatementShapeLimit } from './store/statement-names.js';
import { CursorCodec } from './http/cursor.js';
import { FHIR_JSON_UTF8, negotiateFhirJson } from './http/media.js';
import { operationOutcome, sendError } from './http/outcome.js';
import { sendFhir } from './http/reply.js';
import { FHIR_BASE_PATH, fhirBase, tokenUrl } from './http/urls.js';
import { processBundle } from './interactions/bundle.js';
import { metadata } from './interactions/capabilities.js';
import type { ServerContext, TenantContext } from './interactions/context.js';
import { create } from './interactions/create.js';
import { remove } from './interactions/delete.js';
import { everything } from './interactions/everything.js';
import { search } from './interactions/search.js';
import { history, type HistoryParams } from './interactions/history.js';
import { assertType, read, vread } from './interactions/read.js';
import { parseEtag } from './interactions/respond.js';
import { warmUpValidation } from './fhir/validation.js';
import { update } from './interactions/update.js';
import { TenantDirectory } from './tenancy/tenants.js';
import { noteTenant, registerAuditHooks } from './audit/hooks.js';
import { AlertMonitor } from './audit/alerts.js';
import { AuditLog } from './audit/log.js';
import { requestInteraction } from './http/interaction.js';
import { RequestLimits } from './limits/enforce.js';
import { PgRateLimiter } from './limits/rate-limiter.js';
import { backfillBasis } from './store/basis-backfill.js';
import { backfillServiceDates } from './store/service-date-backfill.js';
import { readAuditEvent, searchAuditEvents } from './audit/search.js';
import { listenerOptions } from './http/listener.js';
import { registerResponseTimeout } from './http/response-timeout.js';
import { assertParameterCount, registerQueryLimits } from './http/query-limits.js';
import { registerCompression } from './http/compression.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { ServerMetrics } from './metrics/metrics.js';
import { registerViewRoutes, VIEW_EXPORT_ROUTES, VIEW_RUN_ROUTES } from './views/routes.js';
import { registerMetrics } from './metrics/routes.js';
import { MatchWorkers } from './operations/bulk-match-runner.js';
import { registerOperationRoutes } from './operations/routes.js';
import { registerAdminApi } from './admin/plugin.js';
import { registerConsole } from './admin/console.js';
import { registerPortal } from './portal/routes.js';

const JSON_BODY_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];

type Params = { tenant: string; type: string; id: string; vid: string };

declare module 'fastify' {
  interface FastifyInstance {
    /** The audit writer (undefined when AUDIT_ENABLED=false). */
    auditLog: import('./audit/log.js').AuditLog | undefined;
    /** Security alert rules (run periodically; tests call evaluate()). */
    alertMonitor: import('./audit/alerts.js').AlertMonitor;
  }
  interface FastifyRequest {
    /** The authenticated caller's grants, set by the FHIR routes' auth hook. */
    access?: import('./auth/access.js').Access;
  }
}

/** Routes anyone may read, even with a stale token attached (RS-06); CORS-enabled (TOK-12). */
const PUBLIC_ROUTES = new Set(['/metadata', '/.well-known/smart-configuration']);
type Req = FastifyRequest<{ Params: Params; Querystring: Record<string, string> }>;

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `Prefer: return=…` value, if any. */
function preferReturn(req: FastifyRequest): string | undefined {
  return /return=([a-zA-Z]+)/.exec(header(req, 'prefer') ?? '')?.[1];
}

/** The body when it was not sent as JSON (raw bytes, or the text of a form), else undefined. */
function nonJsonBody(req: FastifyRequest): Buffer | undefined {
  if (Buffer.isBuffer(req.body)) return req.body;
  const type = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  return typeof req.body === 'string' && !JSON_BODY_TYPES.includes(type) ? Buffer.from(req.body) : undefined;
}

/** A raw (non-JSON) body is only meaningful for Binary, which it becomes (with the URL's id on update). */
function resourceBody(req: FastifyRequest, type: string, id?: string): unknown {
  const raw = nonJsonBody(req);
  if (raw) {
    if (type !== 'Binary') throw new UnsupportedMediaTypeError('Send resources as application/fhir+json');
    return { resourceType: 'Binary', ...(id ? { id } : {}), contentType: header(req, 'content-type') ?? 'application/octet-stream', data: raw.toString('base64') };
  }
  if (req.body === undefined) throw new InvalidError('The request has no body; send a FHIR resource as application/fhir+json', undefined, 'required');
  return req.body;
}

/** The query string's parameters in order, repeated names kept (as FHIR search needs them). */
function searchPairs(req: FastifyRequest): [string, string][] {
  const q = req.url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(req.url.slice(q + 1))];
}

/** `Prefer: handling=strict`: unknown search parameters are an error rather than ignored. */
function strictHandling(req: FastifyRequest): boolean {
  return /handling\s*=\s*strict/i.test(header(req, 'prefer') ?? '');
}

export async function loadCursorKey(pool: pg.Pool): Promise<Buffer> {
  const { rows } = await pool.query<{ value: string }>("SELECT value FROM server_setting WHERE name = 'cursor_key'");
  return Buffer.from(rows[0].value, 'hex');
}

export interface BuildOptions {
  logger?: boolean;
  /** In-process export workers (default EXPORT_WORKERS); 0 serves the API only. */
  workers?: number;
  /** Run the security alert rules periodically (default true). */
  alerts?: boolean;
}

export async function buildServer(config: Config, pool: pg.Pool, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const metrics = new ServerMetrics(pool);
  setStatementShapeLimit(config.search.preparedShapes);
  const app = Fastify({
    // Behind a load balancer the client address comes from X-Forwarded-For, from trusted proxies only.
    trustProxy: config.limits.trustProxy as boolean,
    logger: opts.logger === false ? false : { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    // A caller's X-Request-Id is kept for correlation only when it is a plain token; otherwise
    // (or when absent) the server makes its own, so logs never carry arbitrary client text.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(given) ? given : crypto.randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
    // Malformed URLs and over-long path parameters are answered like every other error.
    frameworkErrors: (err, req, reply) => sendError(req, reply, err),
    // TLS, timeouts, header size; connection-level failures answered as OperationOutcomes.
    ...listenerOptions(config, { onClientError: (status) => metrics.observeRequest('unknown', status, 0) }),
  });
  app.decorate('metrics', metrics);
  registerSecurityHeaders(app, config);
  registerQueryLimits(app, config.http);
  registerResponseTimeout(app, config.http.responseTimeoutMs);
  registerMetrics(app, metrics, config.metrics.token);
  const ctx: ServerContext = { config, pool, cursors: new CursorCodec(await loadCursorKey(pool)), reads: new CurrentReads(pool, policyReads) };
  const tenants = new TenantDirectory(pool);
  warmUpValidation();
  const keys = new SigningKeys(pool);
  await keys.load();
  const bearer = new BearerAuthenticator(pool, keys);
  await bearer.start();
  app.addHook('onClose', async () => bearer.stop());
  const storage = await openStorage(config.export.storage);
  const workerCount = opts.workers ?? config.export.workers;
  const workers = workerCount > 0
    ? new ExportWorkers({
        pool,
        storage,
        config: config.export,
        base: (t) => fhirBase(config.publicUrl, t),
        concurrency: workerCount,
        log: app.log,
        onUnitCompleted: (out) => metrics.unitCompleted(out),
      })
    : undefined;
  workers?.start();
  app.addHook('onClose', async () => workers?.stop());
  // `$bulk-member-match` jobs run wherever export workers do (serve with workers, and `worker`).
  // Basis renditions and dates of service missing since migrations 17 and 18 are filled in the
  // background (basis-backfill.ts, service-date-backfill.ts).
  const backfillStop = new AbortController();
  const info = (m: string) => app.log.info(m);
  const backfill = backfillBasis(pool, info, backfillStop.signal)
    .then(() => backfillServiceDates(pool, info, backfillStop.signal))
    .catch((err) => app.log.warn({ err }, 'a backfill of stored columns stopped; the next start resumes it'));
  app.addHook('onClose', async () => {
    backfillStop.abort();
    await backfill;
  });
  const matchWorkers = workerCount > 0 ? new MatchWorkers({ pool, config, log: app.log }) : undefined;
  matchWorkers?.start();
  app.addHook('onClose', async () => matchWorkers?.stop());

  const audit = config.audit.enabled
    ? new AuditLog(pool, { flushMs: config.audit.flushMs, maxBuffered: config.audit.maxBuffered, retentionDays: config.audit.retentionDays, log: app.log })
    : undefined;
  if (audit) {
    audit.start();
    registerAuditHooks(app, audit);
    // Flushes what is still buffered once the server has stopped taking requests.
    app.addHook('onClose', async () => audit.stop());
  }
  app.decorate('auditLog', audit);
  if (audit) metrics.auditPending = () => audit.pending;
  const alerts = new AlertMonitor(pool, config.alerts, app.log, audit, (a) => metrics.alertRaised(a.rule));
  if (opts.alerts !== false) alerts.start();
  app.addHook('onClose', async () => alerts.stop());
  app.decorate('alertMonitor', alerts);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_BODY_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(new InvalidError(`The body is not valid JSON: ${(err as Error).message}`, undefined, 'structure'), undefined);
    }
  });
  // Form bodies stay strings: the token endpoint and _search each read them their own way.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, req, reply) => sendError(req, reply, err));
  app.setNotFoundHandler((req, reply) => sendError(req, reply, new NotSupportedError(`No FHIR interaction at ${req.method} ${req.url.split('?')[0]}`, 404)));

  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('X-Request-Id', req.id);
    const q = req.query as Record<string, string> | undefined;
    if (q?._pretty === 'true' && typeof payload === 'string' && String(reply.getHeader('content-type') ?? '').includes('json')) {
      let pretty: string;
      try {
        pretty = JSON.stringify(JSON.parse(payload), null, 2);
      } catch {
        pretty = payload; // not JSON after all: sent as it is
      }
      done(null, pretty);
      return;
    }
    done(null, payload);
  });
  // After every hook that shapes the body (the one above): the coding applies to the final bytes.
  registerCompression(app);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await pool.query('SELECT 1');
      return { status: 'ok' };
    } catch {
      return reply.code(503).header('Retry-After', '5').send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });

  const limiter = new PgRateLimiter(pool);
  // Unspent leased tokens go back to the shared buckets when this process stops.
  app.addHook('onClose', async () => limiter.close().catch(() => undefined));
  const limits = new RequestLimits(limiter, config.limits);
  registerTokenEndpoint(app, { config, pool, keys, jwks: new JwksFetcher(), limits, clients: (t, c) => bearer.enabledClient(t, c) });
  // The operator console's admin API (src/admin/).
  await registerAdminApi(app, { config, pool, audit, limiter });
  await registerConsole(app);
  // The partner developer portal (src/portal/).
  await registerPortal(app, config, pool);

  await app.register(
    async (fhir) => {
      // Spelled out rather than spread: this runs on every request, and a literal of fixed shape is cheapest.
      const tctx = (req: Req): TenantContext => ({
        config: ctx.config,
        pool: ctx.pool,
        cursors: ctx.cursors,
        reads: ctx.reads,
        tenant: req.params.tenant,
        base: fhirBase(config.publicUrl, req.params.tenant),
        access: req.access,
      });

      fhir.addHook('onRequest', async (req: Req, reply) => {
        await tenants.require(req.params.tenant);
        noteTenant(req, req.params.tenant);
        const path = req.routeOptions.url?.slice(`${FHIR_BASE_PATH}/:tenant`.length) ?? '';
        if (PUBLIC_ROUTES.has(path)) {
          reply.header('Access-Control-Allow-Origin', '*');
        } else {
          const base = fhirBase(config.publicUrl, req.params.tenant);
          req.access = await bearer.authenticate(req.headers.authorization, { tenant: req.params.tenant, base, issuer: tokenIssuer(config.publicUrl, req.params.tenant) });
          await limits.enforce(req, reply, req.params.tenant, req.access, requestInteraction(req) !== 'export-status');
        }
        // A Binary read or vread may be answered in its own content type, so it negotiates Accept
        // itself (see interactions/read.ts); `_format` only ever names FHIR JSON.
        const binaryRead = req.method === 'GET' && req.params.type === 'Binary' && (path === '/:type/:id' || path === '/:type/:id/_history/:vid');
        // SMART discovery is application/json whatever the Accept header says (TOK-02);
        // export files are NDJSON (DL-02).
        // View runs answer CSV, NDJSON or Parquet as asked (src/views/routes.ts).
        if (path !== '/.well-known/smart-configuration' && path !== FILE_ROUTE && !VIEW_RUN_ROUTES.has(path)) {
          // A view export's _format names its files' format; only Accept governs the (FHIR JSON) answer.
          negotiateFhirJson(VIEW_EXPORT_ROUTES.has(path) ? undefined : req.query._format, binaryRead ? undefined : header(req, 'accept'));
        }
      });

      fhir.get('/metadata', async (req: Req, reply) => sendFhir(reply, metadata(tctx(req))));
      fhir.get('/.well-known/smart-configuration', async (req: Req, reply) =>
        reply.type('application/json').send(smartConfiguration(tokenUrl(config.publicUrl, req.params.tenant))),
      );
      for (const path of PUBLIC_ROUTES) {
        fhir.options(path, async (_req, reply) =>
          reply.code(204).headers({ 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'GET, OPTIONS', 'Access-Control-Allow-Headers': 'Authorization, Accept, Content-Type' }).send(),
        );
      }
      // The audit trail, read-only (AuditEvent is written by the server, never by clients; see the 405 table below).
      fhir.get('/AuditEvent', async (req: Req, reply) => sendFhir(reply, await searchAuditEvents(tctx(req), searchPairs(req), strictHandling(req))));
      fhir.get('/AuditEvent/:id', async (req: Req, reply) => sendFhir(reply, await readAuditEvent(tctx(req), req.params.id)));
      registerBulkRoutes(fhir, { tctx: tctx as never, storage, onQueued: () => workers?.poke() });
      registerViewRoutes(fhir, { tctx: tctx as never, onQueued: () => workers?.poke() });
      registerOperationRoutes(fhir, { tctx: tctx as never, onQueued: () => matchWorkers?.poke() });
      fhir.get('/_history', async (req: Req, reply) => sendFhir(reply, await history(tctx(req), {}, req.query as HistoryParams)));
      fhir.post('/', async (req: Req, reply) => {
        if (nonJsonBody(req)) throw new UnsupportedMediaTypeError('Send the Bundle as application/fhir+json');
        return sendFhir(reply, await processBundle(tctx(req), req.body, preferReturn(req)));
      });

      fhir.get('/', async (req: Req, reply) => sendFhir(reply, await search(tctx(req), { pairs: searchPairs(req), strict: strictHandling(req) })));
      fhir.get('/:type', async (req: Req, reply) => sendFhir(reply, await search(tctx(req), { type: req.params.type, pairs: searchPairs(req), strict: strictHandling(req) })));
      fhir.post('/:type/_search', async (req: Req, reply) => {
        const body = nonJsonBody(req);
        const type = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
        if (req.body !== undefined && (!body || type !== 'application/x-www-form-urlencoded')) {
          throw new UnsupportedMediaTypeError('Send search parameters as application/x-www-form-urlencoded');
        }
        const pairs = [...searchPairs(req), ...new URLSearchParams(body?.toString('utf8') ?? '')];
        assertParameterCount(pairs.length, config.http);
        return sendFhir(reply, await search(tctx(req), { type: req.params.type, pairs, strict: strictHandling(req) }));
      });
      fhir.get('/Patient/:id/$everything', async (req: Req, reply) =>
        sendFhir(reply, await everything(tctx(req), req.params.id, searchPairs(req), strictHandling(req))),
      );
      // Patient-compartment search; `_history` (a static segment) keeps its own route.
      fhir.get('/:type/:id/:compartmentType', async (req: FastifyRequest<{ Params: Params & { compartmentType: string }; Querystring: Record<string, string> }>, reply) => {
        if (req.params.type !== 'Patient') throw new NotSupportedError(`No FHIR interaction at GET ${req.url.split('?')[0]}`, 404);
        const res = await search(tctx(req as unknown as Req), {
          type: req.params.compartmentType,
          pairs: searchPairs(req),
          strict: strictHandling(req),
          compartment: { type: 'Patient', id: req.params.id },
        });
        return sendFhir(reply, res);
      });
      fhir.post('/:type', async (req: Req, reply) => {
        const res = await create(tctx(req), req.params.type, resourceBody(req, req.params.type), { ifNoneExist: header(req, 'if-none-exist') });
        return sendFhir(reply, minimal(res, preferReturn(req)));
      });
      fhir.get('/:type/_history', async (req: Req, reply) => sendFhir(reply, await history(tctx(req), { type: req.params.type }, req.query as HistoryParams)));
      fhir.get('/:type/:id', async (req: Req, reply) =>
        sendFhir(reply, await read(tctx(req), req.params.type, req.params.id, { accept: req.query._format ? undefined : header(req, 'accept'), ifNoneMatch: header(req, 'if-none-match') })),
      );
      fhir.put('/:type/:id', async (req: Req, reply) => {
        const res = await update(tctx(req), req.params.type, req.params.id, resourceBody(req, req.params.type, req.params.id), { ifMatch: parseEtag(header(req, 'if-match')) });
        return sendFhir(reply, minimal(res, preferReturn(req)));
      });
      fhir.delete('/:type/:id', async (req: Req, reply) => sendFhir(reply, await remove(tctx(req), req.params.type, req.params.id, { ifMatch: parseEtag(header(req, 'if-match')) })));
      fhir.get('/:type/:id/_history', async (req: Req, reply) =>
        sendFhir(reply, await history(tctx(req), { type: req.params.type, id: req.params.id }, req.query as HistoryParams)),
      );
      fhir.get('/:type/:id/_history/:vid', async (req: Req, reply) =>
        sendFhir(reply, await vread(tctx(req), req.params.type, req.params.id, req.params.vid, { accept: req.query._format ? undefined : header(req, 'accept') })),
      );

      // Known paths answer unsupported methods with 405 and the methods they do support (REST-10).
      const readOnlyAudit = 'the audit trail is written by the server only';
      const allowed: [string, string[], string?][] = [
        ['/', ['GET', 'POST']],
        ['/:type', ['GET', 'POST']],
        ['/:type/_search', ['POST']],
        ['/:type/:id', ['GET', 'PUT', 'DELETE']],
        ['/AuditEvent', ['GET'], readOnlyAudit],
        ['/AuditEvent/:id', ['GET'], readOnlyAudit],
      ];
      for (const [path, allow, why] of allowed) {
        const others = (['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const).filter((m) => !allow.includes(m));
        fhir.route({
          method: others,
          url: path,
          handler: async (req) => {
            const reason = why ?? (req.method === 'PATCH' ? 'no PATCH support' : undefined);
            throw new MethodNotAllowedError(`${req.method} is not supported here${reason ? ` (${reason})` : ''}`, allow);
          },
        });
      }
    },
    { prefix: `${FHIR_BASE_PATH}/:tenant` },
  );
  return app;
}

/**
 * `Prefer: return=minimal` drops the body; `return=OperationOutcome` replaces it with one,
 * which also carries the warnings about the written resource (failed best-practice invariants).
 */
function minimal<T extends { body?: string | Buffer; contentType?: string; issues?: Issue[] }>(res: T, prefer: string | undefined): T {
  if (prefer === 'minimal') return { ...res, body: undefined };
  if (prefer === 'OperationOutcome') {
    const issues: Issue[] = [{ severity: 'information', code: 'informational', diagnostics: 'Write succeeded' }, ...(res.issues ?? [])];
    return { ...res, contentType: FHIR_JSON_UTF8, body: JSON.stringify(operationOutcome(issues)) };
  }
  return res;
}
