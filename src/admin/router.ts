/**
 * The admin API's routes are declared once, as data: method, path, who may call it, its query
 * and body schemas. From that one declaration come the Fastify route (with schema validation),
 * the guard that runs before it, and its entry in the OpenAPI document — so the document
 * cannot drift from what the server does.
 *
 * The guard, in order: refuse cross-origin requests (an Origin other than PUBLIC_URL's, or a
 * browser's Sec-Fetch-Site naming another site); find the session of the cookie (401); demand
 * the session's CSRF token in X-CSRF-Token on every state change (403); hold a person who must
 * change their one-time password to that (403); check the role (403); and for tenant routes,
 * tenant isolation — a tenant the person may not see does not exist for them (404).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../config.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import { tenantExists } from '../store/tenants.js';
import { SignInRequiredError } from './problem.js';
import { can, seesTenant, type Permission, type Principal } from './roles.js';
import { csrfMatches, touchSession, type Session } from './sessions.js';

export const API_PREFIX = '/admin/api';
export const COOKIE = 'payer_fhir_console';
export const CSRF_HEADER = 'x-csrf-token';

type Schema = Record<string, unknown>;

export interface AdminRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Under /admin/api, Fastify syntax (`:tenant`, `:id`). */
  url: string;
  summary: string;
  tag: string;
  /** 'public': no session; 'session': any signed-in person; else the permission needed. */
  access: 'public' | 'session' | Permission;
  /**
   * A top-level navigation that may come from another site (the identity provider's redirect
   * back): not refused for its origin. State, nonce and PKCE protect it instead.
   */
  crossSite?: boolean;
  /** Allowed while a one-time password still waits to be changed. */
  beforePasswordChange?: boolean;
  query?: Record<string, Schema>;
  body?: Schema;
  /** The 2xx answer's schema (documentation); CSV routes say so in `produces`. */
  response?: Schema;
  produces?: string[];
  handler: (req: FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, any>; Body: any }>, reply: FastifyReply) => Promise<unknown>;
}

declare module 'fastify' {
  interface FastifyRequest {
    session?: Session;
  }
}

export function cookieValue(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A request from a page of another origin (or site) is refused whatever it carries. */
export function assertSameOrigin(req: FastifyRequest, publicUrl: string): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== new URL(publicUrl).origin) throw new ForbiddenError('Cross-origin requests are refused');
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new ForbiddenError('Cross-site requests are refused');
}

export function principalOf(s: Session): Principal {
  return { email: s.email, role: s.role, tenant: s.tenant, source: s.source };
}

async function guard(route: AdminRoute, req: FastifyRequest, config: Config, pool: pg.Pool): Promise<void> {
  if (!route.crossSite) assertSameOrigin(req, config.publicUrl);
  const token = cookieValue(req, COOKIE);
  const session = token ? await touchSession(pool, token, config.admin) : undefined;
  if (session) {
    req.session = session;
    req.principal = principalOf(session);
  }
  if (route.access === 'public') return;
  if (!session) throw new SignInRequiredError();
  if (!SAFE_METHODS.has(req.method) && !csrfMatches(session, req.headers[CSRF_HEADER] as string | undefined)) {
    throw new ForbiddenError('The CSRF token is missing or wrong (send the session\'s csrfToken in X-CSRF-Token)');
  }
  if (session.mustChangePassword && !route.beforePasswordChange) throw new ForbiddenError('Change the one-time password first');
  // Isolation before permission: another tenant's paths do not exist for this person at all.
  const tenant = (req.params as Record<string, string>).tenant;
  if (tenant !== undefined) {
    if (!seesTenant(req.principal!, tenant) || !(await tenantExists(pool, tenant))) throw new NotFoundError(`No tenant ${tenant}`);
    req.adminNote = { ...(req.adminNote ?? {}), tenant };
  }
  if (route.access !== 'session' && !can(session.role, route.access)) throw new ForbiddenError(`The ${session.role} role may not do this`);
}

export function registerRoutes(app: FastifyInstance, routes: AdminRoute[], config: Config, pool: pg.Pool): void {
  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.url,
      schema: {
        ...(r.query ? { querystring: { type: 'object', properties: r.query, additionalProperties: false } } : {}),
        ...(r.body ? { body: r.body } : {}),
      },
      preHandler: async (req) => guard(r, req, config, pool),
      handler: r.handler as never,
    });
  }
}

const pathOf = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');

/** The OpenAPI 3.1 document of the admin API, from the route declarations. */
export function openApiDocument(routes: AdminRoute[], publicUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const problem = { description: 'An RFC 9457 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
  for (const r of routes) {
    const params = [...r.url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = Object.entries(r.query ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema, ...(schema.description ? { description: schema.description } : {}) }));
    const ok: Record<string, unknown> = { description: 'Success' };
    const content: Record<string, unknown> = {};
    for (const type of r.produces ?? ['application/json']) content[type] = type === 'application/json' ? { schema: r.response ?? { type: 'object' } } : { schema: { type: 'string' } };
    ok.content = content;
    (paths[`${API_PREFIX}${pathOf(r.url)}`] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${pathOf(r.url).replace(/[{}]/g, '').replace(/[/-]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      ...(r.access === 'public' ? { security: [] } : {}),
      ...(r.access !== 'public' && r.access !== 'session' ? { 'x-permission': r.access } : {}),
      parameters: [...params, ...query, ...(r.access !== 'public' && !SAFE_METHODS.has(r.method) ? [{ name: 'X-CSRF-Token', in: 'header', required: true, schema: { type: 'string' } }] : [])],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } } : {}),
      responses: { [r.method === 'POST' && r.url.endsWith('/clients') ? '201' : '200']: ok, '400': problem, '401': problem, '403': problem, '404': problem },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'payer-fhir admin API',
      version: '1',
      description:
        'The API behind the operator console. Sign in (POST /admin/api/session, or OpenID Connect at /admin/api/oidc/login); the session cookie is HttpOnly and SameSite=Strict. Every state change needs the csrfToken of GET /admin/api/session in X-CSRF-Token; cross-origin requests are refused. Errors are RFC 9457 problems.',
    },
    servers: [{ url: publicUrl }],
    components: {
      securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: COOKIE } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail'],
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, instance: { type: 'string' } },
        },
      },
    },
    security: [{ session: [] }],
    paths,
  };
}
