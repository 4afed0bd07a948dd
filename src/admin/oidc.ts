/**
 * Single sign-on with the payer's identity provider: OpenID Connect authorization code flow
 * with PKCE (S256), state and nonce, by `openid-client`. The role comes from a configurable
 * claim (OIDC_ROLE_CLAIM, in the ID token or else from userinfo), mapped through OIDC_ROLE_MAP;
 * a person whose claims name no console role is refused. OIDC_TENANT_CLAIM, when set, limits
 * the person to the tenant it names. State, nonce and verifier wait in PostgreSQL for ten
 * minutes, so any server process can take the callback.
 */
import * as client from 'openid-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config, OidcConfig } from '../config.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import { isRole, ROLES, type Role } from './roles.js';
import type { AdminRoute } from './router.js';
import { principalOf } from './router.js';
import { startSession } from './routes/session.js';

const CALLBACK_PATH = '/admin/api/oidc/callback';

/** The most privileged console role among a claim's values (a string, or an array of them). */
export function roleFromClaim(value: unknown, map: Record<string, string>): Role | undefined {
  const values = (Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,]+/) : []).filter((v): v is string => typeof v === 'string');
  const roles = values.map((v) => (Object.keys(map).length ? map[v] : v)).filter(isRole);
  return ROLES.find((r) => roles.includes(r));
}

export function oidcRoutes(deps: { config: Config; pool: pg.Pool; limiter: RateLimiter }): AdminRoute[] {
  const oidc = deps.config.admin.oidc;
  if (!oidc) return [];
  const { config, pool } = deps;
  let discovered: Promise<client.Configuration> | undefined;
  const configuration = (o: OidcConfig) => {
    discovered ??= client
      .discovery(new URL(o.issuer), o.clientId, o.clientSecret, o.clientSecret ? client.ClientSecretPost(o.clientSecret) : client.None(), o.allowHttp ? { execute: [client.allowInsecureRequests] } : undefined)
      .catch((err) => {
        discovered = undefined; // try again on the next sign-in
        throw err;
      });
    return discovered;
  };
  const redirectUri = `${config.publicUrl}${CALLBACK_PATH}`;
  const fail = (req: FastifyRequest, reply: FastifyReply, why: string) => {
    req.adminNote = { ...req.adminNote, signin: true, failure: why };
    return reply.redirect(`/console/?signin_error=${encodeURIComponent(why)}`, 302);
  };

  return [
    {
      method: 'GET', url: '/oidc/login', summary: 'Start single sign-on: redirects to the identity provider (authorization code with PKCE)', tag: 'session', access: 'public', crossSite: true,
      handler: async (req, reply) => {
        req.adminNote = { signin: true, action: 'sign-in started (OpenID Connect)' };
        let cfg: client.Configuration;
        try {
          cfg = await configuration(oidc);
        } catch (err) {
          req.log.warn({ err }, 'OpenID provider discovery failed');
          return fail(req, reply, 'The identity provider cannot be reached');
        }
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        await pool.query('INSERT INTO admin_oidc_state (state, nonce, code_verifier) VALUES ($1, $2, $3)', [state, nonce, verifier]);
        const url = client.buildAuthorizationUrl(cfg, {
          redirect_uri: redirectUri, scope: oidc.scopes, state, nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        });
        return reply.redirect(url.href, 302);
      },
    },
    {
      method: 'GET', url: '/oidc/callback', summary: 'The identity provider\'s redirect back: checks state, nonce and PKCE, then signs the person in', tag: 'session', access: 'public', crossSite: true,
      query: { code: { type: 'string', maxLength: 4096 }, state: { type: 'string', maxLength: 512 }, error: { type: 'string', maxLength: 200 }, error_description: { type: 'string', maxLength: 2000 }, iss: { type: 'string', maxLength: 2000 }, session_state: { type: 'string', maxLength: 2000 } },
      handler: async (req, reply) => {
        req.adminNote = { signin: true, action: 'sign-in (OpenID Connect)' };
        const q = req.query as Record<string, string | undefined>;
        if (q.error) return fail(req, reply, `The identity provider refused: ${q.error}`);
        const { rows } = await pool.query<{ nonce: string; code_verifier: string }>(
          `DELETE FROM admin_oidc_state WHERE state = $1 AND created_at > now() - interval '10 minutes' RETURNING nonce, code_verifier`,
          [q.state ?? ''],
        );
        if (!rows[0]) return fail(req, reply, 'The sign-in expired or was not started here; try again');
        let claims: Record<string, unknown>;
        try {
          const cfg = await configuration(oidc);
          const tokens = await client.authorizationCodeGrant(cfg, new URL(`${config.publicUrl}${req.url}`), {
            pkceCodeVerifier: rows[0].code_verifier, expectedState: q.state, expectedNonce: rows[0].nonce, idTokenExpected: true,
          });
          claims = { ...(tokens.claims() as Record<string, unknown>) };
          if (claims[oidc.roleClaim] === undefined || (oidc.tenantClaim && claims[oidc.tenantClaim] === undefined) || claims.email === undefined) {
            claims = { ...(await client.fetchUserInfo(cfg, tokens.access_token, String(claims.sub))), ...claims };
          }
        } catch (err) {
          req.log.warn({ err }, 'OpenID Connect sign-in failed');
          return fail(req, reply, 'The identity provider\'s answer could not be verified');
        }
        const email = String(claims.email ?? claims.preferred_username ?? claims.sub).slice(0, 320);
        req.adminNote.email = email;
        const role = roleFromClaim(claims[oidc.roleClaim], oidc.roleMap);
        if (!role) return fail(req, reply, `${email} has no console role (claim ${oidc.roleClaim})`);
        // With a tenant claim configured, a person without it is refused; '*' names every tenant.
        const claimed = oidc.tenantClaim ? claims[oidc.tenantClaim] : '*';
        const tenant = claimed === '*' ? null : typeof claimed === 'string' && claimed ? claimed : undefined;
        if (tenant === undefined) return fail(req, reply, `${email} has no tenant (claim ${oidc.tenantClaim})`);
        const session = await startSession(deps, reply, { accountId: null, email, role, tenant, source: 'oidc', mustChangePassword: false });
        req.principal = principalOf(session);
        if (tenant) req.adminNote.tenant = tenant;
        return reply.redirect('/console/', 302);
      },
    },
  ];
}
