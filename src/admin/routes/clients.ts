/**
 * Partner applications (the client registry, auth/clients.ts) through the admin API: the same
 * functions the `payer-fhir clients` commands call, so a client registered here is the one the
 * CLI lists and the token endpoint knows. A secret is in the answer to registration or rotation
 * only, never again.
 */
import type pg from 'pg';
import { dailyRequestsByClient, hourSeries, lastUseByClient } from '../../audit/rollups.js';
import { JwksFetcher } from '../../auth/jwks-fetcher.js';
import {
  addClient, disableClient, enableClient, getClient, listClients, rotateSecret, updateClientLimits, updateClientPolicy,
  type ClientLimits, type ClientRecord, type NewClient,
} from '../../auth/clients.js';
import { InvalidError, NotFoundError } from '../../errors.js';
import { parseOrganization, parsePolicyKind, type Organization, type PolicyKind } from '../../policy/partner-policy.js';
import { CLIENT_FIELDS, fieldSchema } from '../client-fields.js';
import type { AdminRoute } from '../router.js';

const DAY_MS = 86_400_000;

/** What the API shows of a client: never its secret hash. */
function view(c: ClientRecord, lastUsed?: Date, daily?: { day: string; requests: number }[]): Record<string, unknown> {
  return {
    clientId: c.clientId,
    name: c.name,
    status: c.disabledAt ? 'disabled' : 'active',
    disabledAt: c.disabledAt?.toISOString() ?? null,
    createdAt: c.createdAt.toISOString(),
    lastUsed: lastUsed?.toISOString() ?? null,
    auth: c.secretHash ? 'client_secret' : c.jwksUrl ? 'jwks_url' : 'jwks',
    jwksUrl: c.jwksUrl,
    scope: c.scope,
    tokenTtl: c.tokenTtl,
    ratePerSecond: c.ratePerSecond,
    rateBurst: c.rateBurst,
    maxExports: c.maxExports,
    allowedIps: c.allowedIps?.join(', ') ?? null,
    tokenPerMinute: c.tokenPerMinute,
    policy: c.policy,
    organization: c.organization ? `${c.organization.system}|${c.organization.value}` : null,
    ...(daily ? { dailyRequests: daily } : {}),
  };
}

/** The days of a sparkline, oldest first, zero where a client made no request. */
function fillDays(days: number, list: { day: string; requests: number }[] | undefined): { day: string; requests: number }[] {
  const by = new Map((list ?? []).map((d) => [d.day, d.requests]));
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  return Array.from({ length: days }, (_, i) => {
    const day = new Date(today - (days - 1 - i) * DAY_MS).toISOString().slice(0, 10);
    return { day, requests: by.get(day) ?? 0 };
  });
}

/** The body's CLIENT_FIELDS values, split into NewClient properties and limits. */
function fieldValues(body: Record<string, unknown>): { client: Record<string, unknown>; limits: ClientLimits } {
  const client: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  for (const f of CLIENT_FIELDS) {
    if (!(f.name in body)) continue;
    const v = body[f.name] === '' ? null : body[f.name];
    if (f.target === 'limits') limits[f.name] = v;
    else if (v !== null) client[f.name] = v;
  }
  // The partner policy's text forms, checked and parsed as the CLI does (a bad one is a 400 problem).
  if (typeof client.policy === 'string') client.policy = parsePolicyKind(client.policy);
  if (typeof client.organization === 'string') client.organization = parseOrganization(client.organization);
  return { client, limits: limits as ClientLimits };
}

const FIELD_PROPS = Object.fromEntries(CLIENT_FIELDS.map((f) => [f.name, fieldSchema(f)]));
const LIMIT_PROPS = Object.fromEntries(CLIENT_FIELDS.filter((f) => f.target === 'limits').map((f) => [f.name, fieldSchema(f)]));

const CLIENT_SCHEMA = {
  type: 'object',
  properties: {
    clientId: { type: 'string' }, name: { type: 'string' }, status: { type: 'string', enum: ['active', 'disabled'] }, lastUsed: { type: ['string', 'null'] },
    auth: { type: 'string', enum: ['client_secret', 'jwks_url', 'jwks'] }, scope: { type: 'string' },
    dailyRequests: { type: 'array', items: { type: 'object', properties: { day: { type: 'string' }, requests: { type: 'integer' } } } },
  },
};

export function clientRoutes(pool: pg.Pool): AdminRoute[] {
  const jwks = new JwksFetcher({ timeoutMs: 3_000 });
  const find = async (tenant: string, id: string) => {
    const c = await getClient(pool, tenant, id);
    if (!c) throw new NotFoundError(`No client ${id} in tenant ${tenant}`);
    return c;
  };
  return [
    {
      method: 'GET', url: '/tenants/:tenant/clients', summary: 'Partner applications with status, last use and requests per day (14 days)', tag: 'clients', access: 'clients:read',
      response: { type: 'object', properties: { clients: { type: 'array', items: CLIENT_SCHEMA } } },
      handler: async (req) => {
        const { tenant } = req.params;
        const [clients, last, daily] = await Promise.all([
          listClients(pool, tenant), lastUseByClient(pool, tenant), dailyRequestsByClient(pool, tenant, new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - 13 * DAY_MS)),
        ]);
        return { clients: clients.map((c) => view(c, last.get(c.clientId), fillDays(14, daily.get(c.clientId)))) };
      },
    },
    {
      method: 'POST', url: '/tenants/:tenant/clients', summary: 'Register a partner application (a secret is shown in this answer only)', tag: 'clients', access: 'clients:write',
      body: {
        type: 'object',
        required: ['name', 'scope'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 200 },
          scope: { type: 'string', minLength: 1, maxLength: 4000, description: 'Space-separated SMART system/ scopes (v1 or v2, granular allowed)' },
          jwksUrl: { type: 'string', maxLength: 2000, description: 'The partner\'s JWKS URL (https; http on loopback only)' },
          jwks: { type: 'object', description: 'An uploaded public JWKS' },
          secret: { type: 'boolean', description: 'Authenticate with a generated client secret' },
          ...FIELD_PROPS,
        },
      },
      response: { type: 'object', properties: { clientId: { type: 'string' }, clientSecret: { type: 'string' } } },
      handler: async (req, reply) => {
        const { tenant } = req.params;
        const b = req.body as Record<string, unknown>;
        const { client, limits } = fieldValues(b);
        const created = await addClient(pool, {
          tenant, name: b.name as string, scope: b.scope as string, jwksUrl: (b.jwksUrl as string) || undefined, jwks: b.jwks, secret: b.secret === true, ...client, limits,
        } as NewClient);
        req.adminNote = { ...req.adminNote, action: `registered client ${created.client_id} (${JSON.stringify(b.name)})` };
        return reply.code(201).send({ clientId: created.client_id, ...(created.client_secret ? { clientSecret: created.client_secret } : {}) });
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/clients/:id', summary: 'One partner application', tag: 'clients', access: 'clients:read', response: CLIENT_SCHEMA,
      handler: async (req) => {
        const { tenant, id } = req.params;
        const c = await find(tenant, id);
        return view(c, (await lastUseByClient(pool, tenant)).get(c.clientId));
      },
    },
    {
      method: 'PUT', url: '/tenants/:tenant/clients/:id/policy', summary: 'Change the partner access policy and the organisation the partner acts for', tag: 'clients', access: 'clients:write',
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { policy: fieldSchema(CLIENT_FIELDS.find((f) => f.name === 'policy')!), organization: fieldSchema(CLIENT_FIELDS.find((f) => f.name === 'organization')!) } },
      handler: async (req) => {
        const { tenant, id } = req.params;
        const { client } = fieldValues(req.body as Record<string, unknown>);
        await updateClientPolicy(pool, tenant, id, client as { policy?: PolicyKind; organization?: Organization });
        req.adminNote = { ...req.adminNote, action: `changed the partner policy of client ${id}: ${JSON.stringify(req.body)}` };
        return view(await find(tenant, id));
      },
    },
    {
      method: 'PUT', url: '/tenants/:tenant/clients/:id/limits', summary: 'Change limits and IP allowlist (null: the server default / anywhere)', tag: 'clients', access: 'clients:write',
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: LIMIT_PROPS },
      handler: async (req) => {
        const { tenant, id } = req.params;
        const { limits } = fieldValues(req.body as Record<string, unknown>);
        await updateClientLimits(pool, tenant, id, limits);
        req.adminNote = { ...req.adminNote, action: `changed limits of client ${id}: ${JSON.stringify(req.body)}` };
        return view(await find(tenant, id));
      },
    },
    {
      method: 'POST', url: '/tenants/:tenant/clients/:id/disable', summary: 'Disable (its tokens stop working at once)', tag: 'clients', access: 'clients:write',
      handler: async (req) => {
        const { tenant, id } = req.params;
        await disableClient(pool, tenant, id);
        req.adminNote = { ...req.adminNote, action: `disabled client ${id}` };
        return view(await find(tenant, id));
      },
    },
    {
      method: 'POST', url: '/tenants/:tenant/clients/:id/enable', summary: 'Enable again', tag: 'clients', access: 'clients:write',
      handler: async (req) => {
        const { tenant, id } = req.params;
        await enableClient(pool, tenant, id);
        req.adminNote = { ...req.adminNote, action: `enabled client ${id}` };
        return view(await find(tenant, id));
      },
    },
    {
      method: 'POST', url: '/tenants/:tenant/clients/:id/rotate-secret', summary: 'Issue a new secret (shown once; the old one stops working)', tag: 'clients', access: 'clients:write',
      response: { type: 'object', properties: { clientId: { type: 'string' }, clientSecret: { type: 'string' } } },
      handler: async (req) => {
        const { tenant, id } = req.params;
        const secret = await rotateSecret(pool, tenant, id);
        req.adminNote = { ...req.adminNote, action: `rotated the secret of client ${id}` };
        return { clientId: id, clientSecret: secret };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/clients/:id/keys', summary: 'The registered public keys (kid, alg, kty); fetched for a JWKS URL', tag: 'clients', access: 'clients:read',
      handler: async (req) => {
        const c = await find(req.params.tenant, req.params.id);
        const shape = (k: Record<string, unknown>) => ({ kid: k.kid ?? null, alg: k.alg ?? null, kty: k.kty ?? null, use: k.use ?? null, crv: k.crv ?? null });
        if (c.jwks) return { source: 'jwks', keys: c.jwks.keys.map(shape) };
        if (c.jwksUrl) {
          try {
            return { source: 'jwks_url', jwksUrl: c.jwksUrl, keys: (await jwks.keys(c.jwksUrl)).map(shape) };
          } catch (err) {
            return { source: 'jwks_url', jwksUrl: c.jwksUrl, keys: [], error: (err as Error).message };
          }
        }
        return { source: 'client_secret', keys: [] };
      },
    },
    {
      method: 'GET', url: '/tenants/:tenant/clients/:id/usage', summary: 'A client\'s requests, failures, bytes and p95 per hour (from the hourly rollup)', tag: 'clients', access: 'clients:read',
      query: { days: { type: 'integer', minimum: 1, maximum: 90, default: 7, description: 'How many days back' } },
      handler: async (req) => {
        const { tenant, id } = req.params;
        await find(tenant, id);
        const days = Number(req.query.days ?? 7);
        if (!Number.isInteger(days)) throw new InvalidError('days must be a whole number');
        return { clientId: id, grain: 'hour', ...(await hourSeries(pool, tenant, new Date(Date.now() - days * DAY_MS), id)) };
      },
    },
  ];
}
