/**
 * Tenants as the console sees them: the list (only the signed-in person's own tenant unless
 * they may see every tenant), one tenant's scope vocabulary (the resource types it holds and
 * the server's, for the scope picker), and — for administrators — adding a tenant.
 */
import type pg from 'pg';
import { SCOPES_SUPPORTED } from '../../auth/discovery.js';
import { resourceTypes } from '../../fhir/schema.js';
import { addTenant, listTenants } from '../../store/tenants.js';
import { InvalidError } from '../../errors.js';
import type { AdminRoute } from '../router.js';

/** The types a tenant holds, by a skip scan of the (tenant, type, …) index: one probe per type, not a pass over its rows. */
async function storedTypes(pool: pg.Pool, tenant: string): Promise<string[]> {
  const { rows } = await pool.query<{ type: string }>(
    `WITH RECURSIVE t(type) AS (
       (SELECT type FROM resource WHERE tenant = $1 ORDER BY type LIMIT 1)
       UNION ALL
       SELECT (SELECT r.type FROM resource r WHERE r.tenant = $1 AND r.type > t.type ORDER BY r.type LIMIT 1) FROM t WHERE t.type IS NOT NULL)
     SELECT type FROM t WHERE type IS NOT NULL`,
    [tenant],
  );
  return rows.map((r) => r.type);
}

export function tenantRoutes(pool: pg.Pool): AdminRoute[] {
  return [
    {
      method: 'GET', url: '/tenants', summary: 'Tenants the signed-in person may see', tag: 'tenants', access: 'session',
      handler: async (req) => {
        const who = req.principal!;
        const all = await listTenants(pool);
        return { tenants: all.filter((t) => who.tenant === null || t.id === who.tenant).map((t) => ({ id: t.id, createdAt: t.created_at.toISOString() })) };
      },
    },
    {
      method: 'POST', url: '/tenants', summary: 'Add a tenant (administrators)', tag: 'tenants', access: 'tenants:write',
      body: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', maxLength: 63 } } },
      handler: async (req, reply) => {
        const { id } = req.body as { id: string };
        if (req.principal!.tenant !== null) throw new InvalidError('An administrator of one tenant cannot add tenants');
        const created = await addTenant(pool, id);
        req.adminNote = { ...req.adminNote, action: `${created ? 'added' : 'asked to add existing'} tenant ${id}` };
        return reply.code(created ? 201 : 200).send({ id, created });
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/scopes', summary: 'What a client\'s scopes can name: the tenant\'s resource types, every supported type, wildcard scopes', tag: 'tenants', access: 'clients:read',
      handler: async (req) => ({
        storedTypes: await storedTypes(pool, req.params.tenant),
        resourceTypes: [...resourceTypes].sort(),
        wildcardScopes: SCOPES_SUPPORTED,
        permissions: { v1: ['read', 'write', '*'], v2: ['c', 'r', 'u', 'd', 's'] },
      }),
    },
  ];
}
