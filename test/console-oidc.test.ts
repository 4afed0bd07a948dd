/**
 * OpenID Connect sign-in (issue 14 §1) against a real OpenID provider started here
 * (oidc-provider), in headless Chromium: authorization code with PKCE, the role from a
 * configurable claim mapped to console roles, the tenant from a claim; a person with no console
 * role is refused; a callback that was not started here is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { api } from './helpers/admin.js';
import { browserMissing, launch, type Browser } from './helpers/browser.js';
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider } from './helpers/oidc-provider.js';
import { freePort, startServer, uniqueId, type TestServer } from './helpers/server.js';
import { addTenant } from '../src/store/tenants.js';

const skip = browserMissing();

describe('OpenID Connect sign-in', { skip }, () => {
  let server: TestServer;
  let idp: { issuer: string; close(): Promise<void> };
  let browser: Browser;
  const tenant = uniqueId('oidc');

  before(async () => {
    const port = await freePort();
    idp = await startOidcProvider(`http://127.0.0.1:${port}/admin/api/oidc/callback`, {
      'oidc-admin': { roles: ['staff', 'payer-console-admin'], tenant: '*' },
      'oidc-auditor': { roles: ['payer-console-auditor'], tenant },
      'oidc-staff': { roles: ['staff'], tenant },
    });
    const defaults = loadConfig();
    server = await startServer(
      {
        admin: {
          ...defaults.admin,
          oidc: {
            issuer: idp.issuer, clientId: OIDC_CLIENT_ID, clientSecret: OIDC_CLIENT_SECRET, scopes: 'openid email payer', roleClaim: 'roles',
            roleMap: { 'payer-console-admin': 'admin', 'payer-console-auditor': 'auditor' }, tenantClaim: 'payer_tenant', allowHttp: true,
          },
        },
      },
      { port },
    );
    await addTenant(server.db.pool, tenant);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await idp?.close();
  });

  /** From the console's sign-in page through the provider's login and consent pages, back to the console. */
  const signInAs = async (login: string) => {
    const { page, context } = browser;
    await context.clearCookies();
    await page.goto(`${server.origin}/console/`);
    await page.getByRole('link', { name: 'Sign in with your company account' }).click();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${server.origin}/console/**`);
  };

  it('signs an administrator in through the provider (code + PKCE); role from the mapped claim; recorded', async () => {
    await signInAs('oidc-admin');
    const { page } = browser;
    await page.getByRole('heading', { name: /^Overview of / }).waitFor();
    await page.getByText('oidc-admin@idp.example').waitFor();
    assert.equal(await page.getByText('admin', { exact: true }).count(), 1);
    const { rows } = await server.db.pool.query(`SELECT role, tenant, source, account_id FROM admin_session WHERE email = 'oidc-admin@idp.example'`);
    assert.deepEqual(rows[rows.length - 1], { role: 'admin', tenant: null, source: 'oidc', account_id: null });
    await server.app.auditLog!.flush();
    const rec = await server.db.pool.query(`SELECT status FROM audit_event WHERE interaction = 'admin-signin' AND detail LIKE 'oidc-admin@idp.example (admin, oidc): sign-in (OpenID Connect)%'`);
    assert.ok(rec.rows.some((r) => r.status === 302));
  });

  it('an auditor is limited to the tenant of the tenant claim', async () => {
    await signInAs('oidc-auditor');
    const { page, context } = browser;
    await page.getByRole('heading', { name: `Overview of ${tenant}` }).waitFor();
    const cookie = (await context.cookies(`${server.origin}/admin/api/session`)).find((c) => c.name === 'payer_fhir_console')!;
    const session = { cookie: `${cookie.name}=${cookie.value}`, csrf: '', body: {} };
    const me = await api(server.origin, '/session', { session });
    assert.equal(me.json.role, 'auditor');
    assert.equal(me.json.tenant, tenant);
    assert.deepEqual((await api(server.origin, '/tenants', { session })).json.tenants.map((t: any) => t.id), [tenant]);
  });

  it('a person whose claims name no console role is refused and told why', async () => {
    await signInAs('oidc-staff');
    const { page } = browser;
    await page.getByRole('alert').filter({ hasText: 'has no console role' }).waitFor();
    const { rows } = await server.db.pool.query(`SELECT count(*)::int AS n FROM admin_session WHERE email = 'oidc-staff@idp.example'`);
    assert.equal(rows[0].n, 0);
  });

  it('the login redirect carries PKCE (S256), state and nonce; a callback not started here is refused', async () => {
    const res = await fetch(`${server.origin}/admin/api/oidc/login`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    const url = new URL(res.headers.get('location')!);
    assert.equal(url.origin, idp.issuer);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(url.searchParams.get('state') && url.searchParams.get('nonce'));
    assert.equal(url.searchParams.get('redirect_uri'), `${server.origin}/admin/api/oidc/callback`);
    const forged = await fetch(`${server.origin}/admin/api/oidc/callback?code=abc&state=not-ours`, { redirect: 'manual' });
    assert.equal(forged.status, 302);
    assert.match(forged.headers.get('location') ?? '', /^\/console\/\?signin_error=/);
    assert.equal(forged.headers.get('set-cookie'), null);
  });
});
