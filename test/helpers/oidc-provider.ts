/**
 * A real OpenID provider for tests (`oidc-provider`, with its development login and consent
 * pages): any login name signs in, and the name picks the claims — `roles` and `payer_tenant`
 * from the USERS table — returned from userinfo under the `payer` scope.
 */
import Provider from 'oidc-provider';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';

export const OIDC_CLIENT_ID = 'payer-console';
export const OIDC_CLIENT_SECRET = 'a-test-client-secret-of-some-length';

export async function startOidcProvider(redirectUri: string, users: Record<string, { roles: string[]; tenant?: string }>): Promise<{ issuer: string; close(): Promise<void> }> {
  // The issuer must be known before listening: take a port first.
  const net = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: OIDC_CLIENT_ID, client_secret: OIDC_CLIENT_SECRET, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub'], email: ['email'], payer: ['roles', 'payer_tenant'] },
    scopes: ['openid', 'email', 'payer'],
    findAccount: async (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@idp.example`, roles: users[id]?.roles ?? [], ...(users[id]?.tenant ? { payer_tenant: users[id].tenant } : {}) }),
    }),
    cookies: { keys: ['test-cookie-key-of-some-length'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
  } as never);
  const server: http.Server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
  return { issuer, close: () => new Promise<void>((r) => server.close(() => r())) };
}
