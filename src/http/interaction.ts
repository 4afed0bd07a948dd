/**
 * Names the interaction a request performs, from its method and matched route. Audit
 * records, metrics labels and rate-limit exemptions all use this one classification, so a
 * report, a dashboard and a limit always agree on what "a search" or "a download" is.
 */
import type { FastifyRequest } from 'fastify';
import { FHIR_BASE_PATH } from './urls.js';

export type Interaction =
  | 'token'
  | 'discovery'
  | 'capabilities'
  | 'read'
  | 'vread'
  | 'history'
  | 'search'
  | 'create'
  | 'update'
  | 'delete'
  | 'batch'
  | 'export-kickoff'
  | 'export-status'
  | 'export-cancel'
  | 'export-download'
  /** Other FHIR operations (`$everything`, `$member-match`, …). */
  | 'operation'
  /** SQL on FHIR `$run` / `$viewdefinition-run` of a ViewDefinition. */
  | 'view-run'
  /** HRex `Patient/$member-match`. */
  | 'member-match'
  /** PDex `Group/$bulk-member-match` kick-off, its status polls and its cancellation. */
  | 'bulk-member-match'
  | 'bulk-member-match-status'
  | 'bulk-member-match-cancel'
  /** ATR `Group/[id]/$member-add`, `$member-remove`, `$confirm-attribution-list`. */
  | 'attribution-change'
  | 'health'
  | 'metrics'
  /** Not a request: a security alert raised by the monitor, recorded in the audit trail. */
  | 'security-alert'
  /** The operator console's admin API (src/admin/): a signed-in person's request… */
  | 'admin'
  /** …and a sign-in, successful or refused. */
  | 'admin-signin'
  | 'unknown';

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's interaction, once asked for (see requestInteraction). */
    interaction?: Interaction;
  }
}

/**
 * The request's interaction, classified once and kept on the request: audit, metrics, limits,
 * security headers and timeouts all ask for it on every request.
 */
export function requestInteraction(req: FastifyRequest): Interaction {
  return (req.interaction ??= interactionOf(req.method, req.routeOptions.url));
}

const TENANT_PREFIX = `${FHIR_BASE_PATH}/:tenant`;
const ATTRIBUTION_OPERATIONS = new Set(['/Group/:id/$member-add', '/Group/:id/$member-remove', '/Group/:id/$confirm-attribution-list']);

/**
 * @param method the HTTP method
 * @param route  the matched route pattern (`request.routeOptions.url`), undefined when no route matched
 */
export function interactionOf(method: string, route: string | undefined): Interaction {
  if (!route) return 'unknown';
  if (route.startsWith('/auth/') && route.endsWith('/token')) return 'token';
  if (route === '/healthz' || route === '/readyz') return 'health';
  if (route === '/metrics') return 'metrics';
  if (route.startsWith('/admin/api/')) return 'admin';
  if (!route.startsWith(TENANT_PREFIX)) return 'unknown';
  const path = route.slice(TENANT_PREFIX.length) || '/';
  if (path === '/metadata') return 'capabilities';
  if (path === '/.well-known/smart-configuration') return 'discovery';
  if (path.endsWith('/$export') || path.endsWith('/$davinci-data-export') || path.endsWith('/$viewdefinition-export')) return 'export-kickoff';
  if (path.endsWith('/$run') || path.endsWith('/$viewdefinition-run')) return 'view-run';
  if (path === '/$export-status/:job') return method === 'DELETE' ? 'export-cancel' : 'export-status';
  if (path.startsWith('/$export-file/')) return 'export-download';
  if (path === '/Patient/$member-match') return 'member-match';
  if (path === '/Group/$bulk-member-match') return 'bulk-member-match';
  if (path === '/$bulk-member-match-status/:job') return method === 'DELETE' ? 'bulk-member-match-cancel' : 'bulk-member-match-status';
  if (ATTRIBUTION_OPERATIONS.has(path)) return 'attribution-change';
  if (path.includes('/$') && !path.startsWith('/$export-')) return 'operation';
  if (path.endsWith('/_history/:vid')) return 'vread';
  if (path.endsWith('_history')) return 'history';
  if (path === '/:type/_search') return 'search';
  if (path === '/' || path === '/:type' || path === '/:type/:id/:compartmentType') {
    if (method === 'GET') return 'search';
    if (method === 'POST') return path === '/' ? 'batch' : 'create';
    return 'unknown';
  }
  if (path === '/:type/:id') {
    if (method === 'GET') return 'read';
    if (method === 'PUT') return 'update';
    if (method === 'DELETE') return 'delete';
  }
  return 'unknown';
}
