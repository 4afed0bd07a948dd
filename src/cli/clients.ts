/**
 * `payer-fhir clients add|list|disable|rotate-secret`: the backend-client registry.
 * `add` prints `{"client_id": …, "client_secret"?: …}` — the secret is shown this once only.
 */
import type { Command } from 'commander';
import fs from 'node:fs/promises';
import { addClient, disableClient, listClients, rotateSecret, updateClientLimits, updateClientPolicy, type ClientLimits } from '../auth/clients.js';
import { parseOrganization, parsePolicyKind, POLICY_KINDS } from '../policy/partner-policy.js';
import { withDatabase } from './database.js';

interface LimitFlags {
  rate?: string;
  burst?: string;
  tokenRate?: string;
  maxExports?: string;
  allowIp?: string;
}

/** Flag text → limits; "default" resets a number to the server default, "any" drops the allowlist. */
interface PolicyFlags {
  policy?: string;
  organization?: string;
}

const POLICY_HELP = `partner access policy: ${POLICY_KINDS.join(' | ')} (default internal; see README "CMS interoperability")`;
const ORGANIZATION_HELP = 'organisation the client acts for, SYSTEM|VALUE: an NPI or TIN (provider-access), the payer\'s identifier (payer-to-payer)';

function policyFrom(o: PolicyFlags) {
  return { policy: o.policy === undefined ? undefined : parsePolicyKind(o.policy), organization: o.organization === undefined ? undefined : parseOrganization(o.organization) };
}

function limitsFrom(o: LimitFlags): ClientLimits {
  const n = (v: string | undefined) => (v === undefined ? undefined : v === 'default' ? null : Number(v));
  return {
    ratePerSecond: n(o.rate),
    rateBurst: n(o.burst),
    tokenPerMinute: n(o.tokenRate),
    maxExports: n(o.maxExports),
    allowedIps: o.allowIp === undefined ? undefined : o.allowIp === 'any' ? null : o.allowIp,
  };
}

export function registerClients(program: Command): void {
  const clients = program.command('clients').description('manage backend-service clients');
  clients
    .command('add')
    .description('register a client; prints {"client_id", "client_secret"?} as JSON')
    .requiredOption('--tenant <id>', 'tenant the client belongs to')
    .requiredOption('--name <name>', 'human-readable name')
    .option('--jwks-url <url>', 'URL of the client\'s public JWKS (https, or http on loopback)')
    .option('--jwks-file <file>', 'file holding the client\'s public JWKS')
    .option('--secret', 'authenticate with a generated client secret instead of keys')
    .requiredOption('--scope <scopes>', 'pre-authorized scopes, e.g. "system/*.rs" or "system/Patient.read system/Observation.rs"')
    .option('--token-ttl <seconds>', 'access-token lifetime for this client (30–3600; default ACCESS_TOKEN_TTL)')
    .option('--rate <perSecond>', 'requests per second for this client (default RATE_LIMIT_CLIENT)')
    .option('--burst <requests>', 'burst above the rate (default RATE_LIMIT_CLIENT_BURST)')
    .option('--token-rate <perMinute>', 'token requests per minute for this client (default TOKEN_RATE_LIMIT_CLIENT)')
    .option('--max-exports <n>', 'concurrently running exports (default EXPORT_MAX_JOBS_PER_CLIENT)')
    .option('--allow-ip <cidrs>', 'comma-separated addresses/CIDR ranges the client may connect from (default anywhere)')
    .option('--policy <policy>', POLICY_HELP)
    .option('--organization <system|value>', ORGANIZATION_HELP)
    .action(async (o: { tenant: string; name: string; jwksUrl?: string; jwksFile?: string; secret?: boolean; scope: string; tokenTtl?: string } & LimitFlags & PolicyFlags) => {
      const jwks = o.jwksFile ? JSON.parse(await fs.readFile(o.jwksFile, 'utf8')) : undefined;
      const policy = policyFrom(o);
      await withDatabase(async (db) => {
        const created = await addClient(db.pool, {
          tenant: o.tenant,
          name: o.name,
          jwksUrl: o.jwksUrl,
          jwks,
          secret: o.secret,
          scope: o.scope,
          tokenTtl: o.tokenTtl !== undefined ? Number(o.tokenTtl) : undefined,
          limits: limitsFrom(o),
          ...policy,
        });
        process.stdout.write(`${JSON.stringify(created)}\n`);
      });
    });
  clients
    .command('update <clientId>')
    .description('change a client\'s rate, burst, token rate, export limit, IP allowlist or partner policy (takes effect at once in every process)')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--rate <perSecond>', 'requests per second ("default" for the server default)')
    .option('--burst <requests>', 'burst above the rate ("default" for the server default)')
    .option('--token-rate <perMinute>', 'token requests per minute ("default" for the server default)')
    .option('--max-exports <n>', 'concurrently running exports ("default" for the server default)')
    .option('--allow-ip <cidrs>', 'comma-separated addresses/CIDR ranges ("any" removes the allowlist)')
    .option('--policy <policy>', POLICY_HELP)
    .option('--organization <system|value>', ORGANIZATION_HELP)
    .action(async (clientId: string, o: { tenant: string } & LimitFlags & PolicyFlags) => {
      const policy = policyFrom(o);
      const limits = limitsFrom(o);
      const anyLimit = Object.values(limits).some((v) => v !== undefined);
      await withDatabase(async (db) => {
        if (policy.policy !== undefined || policy.organization !== undefined) await updateClientPolicy(db.pool, o.tenant, clientId, policy);
        if (anyLimit || (policy.policy === undefined && policy.organization === undefined)) await updateClientLimits(db.pool, o.tenant, clientId, limits);
        process.stdout.write(`client ${clientId} updated\n`);
      });
    });
  clients
    .command('list')
    .description('list a tenant\'s clients (JSON lines; never secrets)')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) => {
      await withDatabase(async (db) => {
        for (const c of await listClients(db.pool, o.tenant)) {
          const auth = c.secretHash ? 'client_secret' : c.jwksUrl ? `jwks_url ${c.jwksUrl}` : 'inline jwks';
          process.stdout.write(
            `${JSON.stringify({
              client_id: c.clientId, name: c.name, auth, scope: c.scope, token_ttl: c.tokenTtl, rate: c.ratePerSecond, burst: c.rateBurst, token_rate: c.tokenPerMinute,
              max_exports: c.maxExports, allow_ip: c.allowedIps,
              policy: c.policy, organization: c.organization ? `${c.organization.system}|${c.organization.value}` : null, disabled: !!c.disabledAt, created: c.createdAt.toISOString(),
            })}\n`,
          );
        }
      });
    });
  clients
    .command('disable <clientId>')
    .description('disable a client; its tokens stop working at once')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (clientId: string, o: { tenant: string }) => {
      await withDatabase(async (db) => {
        await disableClient(db.pool, o.tenant, clientId);
        process.stdout.write(`client ${clientId} disabled\n`);
      });
    });
  clients
    .command('rotate-secret <clientId>')
    .description('issue a new secret for a secret client (printed once; the old one stops working)')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (clientId: string, o: { tenant: string }) => {
      await withDatabase(async (db) => {
        process.stdout.write(`${JSON.stringify({ client_id: clientId, client_secret: await rotateSecret(db.pool, o.tenant, clientId) })}\n`);
      });
    });
}
