/**
 * The admin API (`/admin/api/…`), one Fastify plugin: its routes (admin/routes/*), the guard
 * before each (admin/router.ts), RFC 9457 problems for every error and unknown path, an audit
 * record for every request (admin/audit.ts — instead of the FHIR API's record, which would
 * not know the person), the OpenAPI document, and the sweep of ended sessions.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config.js';
import { NotSupportedError } from '../errors.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import { recordAdminRequest } from './audit.js';
import { oidcRoutes } from './oidc.js';
import { sendProblem } from './problem.js';
import { API_PREFIX, openApiDocument, registerRoutes, type AdminRoute } from './router.js';
import { clientRoutes } from './routes/clients.js';
import { complianceRoutes } from './routes/compliance.js';
import { operationRoutes } from './routes/operations.js';
import { sessionRoutes } from './routes/session.js';
import { tenantRoutes } from './routes/tenants.js';
import { sweepSessions } from './sessions.js';

export interface AdminDeps {
  config: Config;
  pool: pg.Pool;
  audit: AuditLog | undefined;
  limiter: RateLimiter;
}

/** Requests that are not anyone's action: reading the API's description and one's own session. */
const NOT_RECORDED = new Set(['GET /openapi.json', 'GET /session/methods', 'GET /session']);

export function adminRoutes(deps: AdminDeps): AdminRoute[] {
  return [
    ...sessionRoutes(deps),
    ...oidcRoutes(deps),
    ...tenantRoutes(deps.pool),
    ...clientRoutes(deps.pool),
    ...operationRoutes(deps.pool, deps.config),
    ...complianceRoutes(deps.pool),
  ];
}

export async function registerAdminApi(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const routes = adminRoutes(deps);
  const openApi = JSON.stringify(openApiDocument(routes, deps.config.publicUrl));
  const sweep = setInterval(() => void sweepSessions(deps.pool, deps.config.admin).catch((err) => app.log.warn({ err }, 'console session sweep failed')), 600_000);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  await app.register(
    async (api) => {
      api.addHook('onRequest', (req, _reply, done) => {
        // This plugin writes its own record (below), naming the person.
        req.audit = undefined;
        req.adminStarted = { at: new Date(), hr: process.hrtime.bigint() };
        done();
      });
      api.addHook('onResponse', (req, reply, done) => {
        done();
        const route = `${req.method} ${req.routeOptions.url?.slice(API_PREFIX.length) ?? ''}`;
        if (deps.audit && req.adminStarted && !(NOT_RECORDED.has(route) && reply.statusCode < 400)) {
          recordAdminRequest(deps.audit, req, reply, req.adminStarted.at, req.adminStarted.hr);
        }
      });
      api.setErrorHandler((err, req, reply) => sendProblem(req, reply, err));
      api.setNotFoundHandler((req, reply) => sendProblem(req, reply, new NotSupportedError(`No admin API at ${req.method} ${req.url.split('?')[0]}`, 404)));
      api.get('/openapi.json', async (_req, reply) => reply.type('application/json').send(openApi));
      registerRoutes(api, routes, deps.config, deps.pool);
    },
    { prefix: API_PREFIX },
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    adminStarted?: { at: Date; hr: bigint };
  }
}
