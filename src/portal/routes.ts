/**
 * `ORIGIN/developers/T`: the public developer portal of a tenant, and its Postman collection and
 * environment. No sign-in; nothing here is secret. A tenant that does not exist is a 404 page.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Config } from '../config.js';
import { tenantExists } from '../store/tenants.js';
import { escapeHtml, PORTAL_CSS, portalPage } from './page.js';
import { postmanCollection, postmanEnvironment } from './postman.js';

/** Its own stylesheet and links, nothing else: no script, no inline style. */
export const PORTAL_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function registerPortal(app: FastifyInstance, config: Config, pool: pg.Pool): Promise<void> {
  await app.register(
    async (portal) => {
      portal.addHook('onRequest', (req, _reply, done) => {
        req.audit = undefined; // public documentation, as the CapabilityStatement: not a partner's access
        done();
      });
      // After the server-wide security headers (registered first), so this CSP wins.
      portal.addHook('onSend', (_req, reply, payload, done) => {
        reply.header('Content-Security-Policy', PORTAL_CSP).header('Cache-Control', 'public, max-age=300');
        done(null, payload);
      });
      const known = async (tenant: string, reply: import('fastify').FastifyReply): Promise<boolean> => {
        if (/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(tenant) && (await tenantExists(pool, tenant))) return true;
        reply.code(404).type('text/html; charset=utf-8').send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found</title><link rel="stylesheet" href="/developers/portal.css"></head><body><main><h1>No tenant ${escapeHtml(tenant)}</h1></main></body></html>`);
        return false;
      };
      portal.get('/portal.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(PORTAL_CSS));
      portal.get('/:tenant', async (req, reply) => {
        const { tenant } = req.params as { tenant: string };
        if (await known(tenant, reply)) return reply.type('text/html; charset=utf-8').send(portalPage(config.publicUrl, tenant));
      });
      portal.get('/:tenant/postman-collection.json', async (req, reply) => {
        const { tenant } = req.params as { tenant: string };
        if (await known(tenant, reply)) {
          return reply.type('application/json').header('Content-Disposition', `attachment; filename="payer-fhir-${tenant}.postman_collection.json"`).send(JSON.stringify(postmanCollection(config.publicUrl, tenant), null, 2));
        }
      });
      portal.get('/:tenant/postman-environment.json', async (req, reply) => {
        const { tenant } = req.params as { tenant: string };
        if (await known(tenant, reply)) {
          return reply.type('application/json').header('Content-Disposition', `attachment; filename="payer-fhir-${tenant}.postman_environment.json"`).send(JSON.stringify(postmanEnvironment(config.publicUrl, tenant), null, 2));
        }
      });
    },
    { prefix: '/developers' },
  );
}
