/**
 * Sign-in with a local account, the session, sign-out and the first-sign-in password change.
 * Sign-in attempts are throttled per account and per source address (shared token buckets,
 * limits/rate-limiter.ts) and repeated failures lock the account (admin/accounts.ts); every
 * attempt is in the audit trail, successful or not, with the email tried but never the password.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../../config.js';
import { InvalidError, ThrottledError } from '../../errors.js';
import type { RateLimiter } from '../../limits/rate-limiter.js';
import { checkPassword, MIN_PASSWORD_LENGTH, setPassword } from '../accounts.js';
import { LockedError, SignInRequiredError } from '../problem.js';
import { permissionsOf } from '../roles.js';
import { COOKIE, principalOf, type AdminRoute } from '../router.js';
import { clearMustChange, createSession, endOtherSessions, endSession, type Session } from '../sessions.js';

export interface SessionDeps {
  config: Config;
  pool: pg.Pool;
  limiter: RateLimiter;
}

/** Secure whenever the console is reached over TLS (this process's or a proxy's in front). */
export function sessionCookie(config: Config, token: string, maxAgeSeconds: number): string {
  const secure = config.tls || config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${COOKIE}=${token}; Path=/admin/api; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

export function sessionView(s: Session, config: Config): Record<string, unknown> {
  return {
    ...principalOf(s),
    permissions: permissionsOf(s.role),
    csrfToken: s.csrfToken,
    mustChangePassword: s.mustChangePassword,
    signedInAt: s.createdAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    idleMinutes: config.admin.sessionIdleMinutes,
  };
}

/** Signs a person in: a session row, its cookie, and the session as JSON. */
export async function startSession(deps: SessionDeps, reply: FastifyReply, s: Parameters<typeof createSession>[1]): Promise<Session> {
  const { token, session } = await createSession(deps.pool, s, deps.config.admin);
  reply.header('Set-Cookie', sessionCookie(deps.config, token, deps.config.admin.sessionMaxHours * 3600));
  return session;
}

const SESSION_SCHEMA = {
  type: 'object',
  properties: {
    email: { type: 'string' }, role: { type: 'string', enum: ['admin', 'operator', 'auditor'] }, tenant: { type: ['string', 'null'] }, source: { type: 'string' },
    permissions: { type: 'array', items: { type: 'string' } }, csrfToken: { type: 'string' }, mustChangePassword: { type: 'boolean' },
    signedInAt: { type: 'string' }, expiresAt: { type: 'string' }, idleMinutes: { type: 'integer' },
  },
};

export function sessionRoutes(deps: SessionDeps): AdminRoute[] {
  const { config, pool, limiter } = deps;
  const signIn = async (req: FastifyRequest<{ Body: { email: string; password: string } }>, reply: FastifyReply) => {
    const { email, password } = req.body;
    req.adminNote = { signin: true, email: email.slice(0, 200), action: 'sign-in (local account)' };
    const perMinute = (n: number) => ({ rate: n / 60, burst: n });
    const states = await limiter.take([
      { key: `console-signin:ip:${req.ip}`, ...perMinute(config.admin.signinPerMinuteIp) },
      { key: `console-signin:account:${email.toLowerCase()}`, ...perMinute(config.admin.signinPerMinuteAccount) },
    ]);
    const refused = states.find((s) => !s.allowed);
    if (refused) throw new ThrottledError('Too many sign-in attempts; wait and try again', refused.retryAfterSeconds);
    const result = await checkPassword(pool, email, password, config.admin);
    // A failure of a one-tenant account shows in that tenant's trail too.
    if (result.account?.tenant) req.adminNote.tenant = result.account.tenant;
    if (!result.ok) {
      if (result.reason === 'locked') throw new LockedError('The account is locked after repeated failed sign-ins; try again later', config.admin.lockoutMinutes * 60);
      throw new SignInRequiredError('Wrong email or password');
    }
    const a = result.account;
    const session = await startSession(deps, reply, { accountId: a.id, email: a.email, role: a.role, tenant: a.tenant, source: 'local', mustChangePassword: a.mustChangePassword });
    req.principal = principalOf(session);
    if (a.tenant) req.adminNote.tenant = a.tenant;
    return sessionView(session, config);
  };
  return [
    {
      method: 'GET', url: '/session/methods', summary: 'How one can sign in here (local accounts, OpenID Connect)', tag: 'session', access: 'public',
      response: { type: 'object', properties: { local: { type: 'boolean' }, oidc: { type: 'boolean' } } },
      handler: async () => ({ local: true, oidc: !!config.admin.oidc, minPasswordLength: MIN_PASSWORD_LENGTH }),
    },
    {
      method: 'GET', url: '/session', summary: 'The signed-in person, their permissions and the CSRF token', tag: 'session', access: 'session', beforePasswordChange: true,
      response: SESSION_SCHEMA,
      handler: async (req) => sessionView(req.session!, config),
    },
    {
      method: 'POST', url: '/session', summary: 'Sign in with a local account', tag: 'session', access: 'public',
      body: { type: 'object', required: ['email', 'password'], additionalProperties: false, properties: { email: { type: 'string', minLength: 1, maxLength: 320 }, password: { type: 'string', minLength: 1, maxLength: 1024 } } },
      response: SESSION_SCHEMA,
      handler: signIn as AdminRoute['handler'],
    },
    {
      method: 'DELETE', url: '/session', summary: 'Sign out', tag: 'session', access: 'session', beforePasswordChange: true,
      handler: async (req, reply) => {
        req.adminNote = { ...(req.adminNote ?? {}), signin: true, action: 'sign-out' };
        await endSession(pool, req.session!.tokenHash);
        reply.header('Set-Cookie', sessionCookie(config, '', 0));
        return reply.code(204).send();
      },
    },
    {
      method: 'POST', url: '/session/password', summary: 'Change the password of a local account (required after a one-time password)', tag: 'session', access: 'session', beforePasswordChange: true,
      body: { type: 'object', required: ['currentPassword', 'newPassword'], additionalProperties: false, properties: { currentPassword: { type: 'string', maxLength: 1024 }, newPassword: { type: 'string', maxLength: 1024 } } },
      handler: async (req) => {
        const s = req.session!;
        req.adminNote = { ...(req.adminNote ?? {}), signin: true, action: 'password change' };
        if (s.source !== 'local' || s.accountId === null) throw new InvalidError('Accounts of the identity provider change their password there');
        const { currentPassword, newPassword } = req.body as { currentPassword: string; newPassword: string };
        if (currentPassword === newPassword) throw new InvalidError('The new password must differ from the current one');
        const check = await checkPassword(pool, s.email, currentPassword, config.admin);
        if (!check.ok) throw check.reason === 'locked' ? new LockedError('The account is locked after repeated failed attempts', config.admin.lockoutMinutes * 60) : new InvalidError('The current password is wrong');
        await setPassword(pool, s.accountId, newPassword);
        await clearMustChange(pool, s.tokenHash);
        await endOtherSessions(pool, s.accountId, s.tokenHash);
        return sessionView({ ...s, mustChangePassword: false }, config);
      },
    },
  ];
}
