/**
 * The operator console in a real browser (issue 14, Verification): headless Chromium against a
 * real server. Sign in with a local account; register a client in the UI and use it over the
 * FHIR API; see its requests in usage and in the audit trail; verify the chain; cancel an export;
 * acknowledge an alert; an auditor has no register control and gets 403 from the API; CSRF-less
 * and cross-origin requests are refused; an expired session must sign in again; a client named
 * like markup is shown as text; axe finds no serious or critical violation on any page.
 */
import assert from 'node:assert/strict';
import http_ from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { api, makeAccount, TEST_PASSWORD } from './helpers/admin.js';
import { requestToken, tokenFor, tokenUrlFor } from './helpers/auth.js';
import { axeViolations, browserMissing, launch, screenshot, type Browser } from './helpers/browser.js';
import { KICKOFF_HEADERS } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const XSS = '<img src=x onerror=alert(1)>';

/** Waits until `check` holds (the page updates asynchronously), failing after 15 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the page never reached the expected state');
    await new Promise((r) => setTimeout(r, 100));
  }
}
const skip = browserMissing();

describe('operator console in Chromium', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let tenant: string;
  let base: string;
  let adminEmail: string;
  let auditorEmail: string;
  let clientId: string;
  const alerts: string[] = [];

  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('e2e'));
    await http(`${base}/Patient/e2e-member`, { method: 'PUT', body: { resourceType: 'Patient', id: 'e2e-member', name: [{ family: 'Example' }] } });
    adminEmail = await makeAccount(server.db.pool, 'admin', null);
    auditorEmail = await makeAccount(server.db.pool, 'auditor', tenant);
    browser = await launch();
    browser.page.on('dialog', (d) => {
      if (d.type() === 'confirm') return void d.accept();
      alerts.push(d.message());
      void d.dismiss();
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const go = async (hash: string, heading: string | RegExp) => {
    await browser.page.goto(`${server.origin}/console/#/${hash}`);
    await browser.page.getByRole('heading', { name: heading }).first().waitFor();
  };
  const expectNoAxeViolations = async (what: string) => {
    const v = await axeViolations(browser.page);
    assert.deepEqual(v, [], `${what}: ${JSON.stringify(v, null, 1)}`);
  };
  const signInAs = async (email: string) => {
    const { page } = browser;
    await page.goto(`${server.origin}/console/`);
    await page.getByLabel('Email').fill(email);
    await page.locator('input[type="password"]').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Overview of ${tenant}` }).or(page.getByRole('heading', { name: /^Overview of / })).first().waitFor();
  };

  it('signs in with a local account (the sign-in page passes axe), and the console is served under its CSP', async () => {
    const { page } = browser;
    const res = await page.goto(`${server.origin}/console/`);
    const csp = res!.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    await page.getByLabel('Email').waitFor();
    await expectNoAxeViolations('sign-in page');
    await screenshot(page, 'console-sign-in');
    await page.getByLabel('Email').fill(adminEmail);
    await page.locator('input[type="password"]').fill('wrong wrong wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).waitFor();
    await signInAs(adminEmail);
    // An administrator of every tenant picks the tenant.
    await page.getByRole('combobox', { name: 'Tenant' }).click();
    await page.getByRole('option', { name: tenant, exact: true }).click();
    await page.getByRole('heading', { name: `Overview of ${tenant}` }).waitFor();
  });

  it('registers a client in the UI (name shown as text, never markup) and the client works over the FHIR API', async () => {
    const { page } = browser;
    await go('clients', 'Partner applications');
    await page.getByRole('button', { name: 'Register application' }).click();
    const dialog = page.getByRole('dialog', { name: 'Register a partner application' });
    await dialog.getByLabel('Name').fill(XSS);
    await dialog.getByLabel('Client secret (generated, shown once)').check();
    await dialog.getByLabel('More scopes').fill('system/Patient.rs');
    await dialog.getByLabel('Requests per second').fill('25');
    await expectNoAxeViolations('register form');
    await screenshot(page, 'console-register');
    await dialog.getByRole('button', { name: 'Register', exact: true }).click();
    clientId = (await dialog.getByTestId('new-client-id').textContent())!.trim();
    const secret = (await dialog.getByTestId('new-client-secret').textContent())!.trim();
    assert.match(clientId, /^[0-9a-f-]{36}$/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    // Used over FHIR: a token with the secret, then member reads.
    const tok = await requestToken(tokenUrlFor(server.origin, tenant), { grant_type: 'client_credentials', scope: 'system/Patient.rs', client_id: clientId, client_secret: secret });
    assert.equal(tok.status, 200);
    for (let i = 0; i < 3; i++) {
      const read = await http(`${base}/Patient/e2e-member`, { headers: { authorization: `Bearer ${tok.json.access_token}` } });
      assert.equal(read.status, 200);
    }
    const { rows } = await server.db.pool.query('SELECT rate_per_second FROM client WHERE client_id = $1', [clientId]);
    assert.equal(rows[0].rate_per_second, 25);
    await server.app.auditLog!.flush();
    await page.reload();
    await page.getByRole('table', { name: 'Partner applications' }).getByText(XSS, { exact: true }).waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0, 'the name was not parsed as markup');
    assert.deepEqual(alerts, [], 'no script ran');
    await expectNoAxeViolations('partner applications');
    await screenshot(page, 'console-clients');
    await page.getByRole('button', { name: `Details of ${XSS}` }).click();
    await page.getByRole('dialog').getByRole('heading', { name: XSS }).waitFor();
    await page.getByRole('dialog').getByText('Requests per hour, last 7 days').waitFor();
    await expectNoAxeViolations('client detail');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
  });

  it('shows the client\'s requests in the usage report and the audit trail, and verifies the chain', async () => {
    const { page } = browser;
    await go('reports', 'Usage and compliance report');
    const row = page.getByRole('table', { name: 'Usage per client' }).getByRole('row').filter({ hasText: clientId });
    await row.first().waitFor();
    assert.match((await row.first().textContent())!, /4/, 'token + 3 reads');
    await expectNoAxeViolations('reports');
    await screenshot(page, 'console-reports');
    await go('audit', 'Audit trail');
    await page.getByLabel('Client id').fill(clientId);
    await page.getByRole('button', { name: 'Apply' }).click();
    const records = page.getByRole('table', { name: 'Audit records' }).getByRole('row');
    // The filtered page replaces the unfiltered one: only the client's 3 reads of the member remain.
    await eventually(async () => (await records.filter({ hasText: '/Patient/e2e-member' }).count()) === 3 && (await records.filter({ hasText: 'PUT ' }).count()) === 0);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByTestId('verify-result').filter({ hasText: 'Chain intact' }).waitFor();
    await expectNoAxeViolations('audit trail');
    await screenshot(page, 'console-audit');
    // A record's detail opens from the keyboard.
    await records.filter({ hasText: '/Patient/e2e-member' }).first().focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').getByText('prevHash').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
  });

  it('the overview charts the last hour from the rollups', async () => {
    const { page } = browser;
    await go('overview', `Overview of ${tenant}`);
    await page.getByRole('region', { name: 'Requests' }).getByText(/^[1-9]/).first().waitFor();
    assert.ok(await page.locator('.recharts-surface').count() >= 2, 'charts drawn by the chart library');
    await expectNoAxeViolations('overview');
    await screenshot(page, 'console-overview');
  });

  it('cancels an export from the exports page', async () => {
    const { page } = browser;
    const { token } = await tokenFor(server.db.pool, server.origin, tenant, 'system/*.rs');
    const k = await http(`${base}/Patient/$export`, { headers: { ...KICKOFF_HEADERS, authorization: `Bearer ${token}` } });
    assert.equal(k.status, 202);
    const jobId = k.headers.get('content-location')!.split('/').pop()!;
    await go('exports', 'Bulk exports');
    await page.getByRole('button', { name: `Cancel export ${jobId}` }).click();
    await page.getByRole('status').filter({ hasText: `Export ${jobId} cancelled.` }).waitFor();
    const { rows } = await server.db.pool.query('SELECT state FROM export_job WHERE id = $1', [jobId]);
    assert.equal(rows[0].state, 'cancelled');
    await expectNoAxeViolations('exports');
    await screenshot(page, 'console-exports');
  });

  it('acknowledges an alert', async () => {
    const { page } = browser;
    const { rows } = await server.db.pool.query(
      `INSERT INTO security_alert (tenant, rule, client_id, summary, details) VALUES ($1, 'scope-denials', $2, $3, '{"denials": 12}') RETURNING id`,
      [tenant, clientId, `12 requests of client ${clientId} refused for lack of scope`],
    );
    await go('alerts', 'Security alerts');
    await page.getByRole('button', { name: `Details of alert ${rows[0].id}` }).click();
    await expectNoAxeViolations('alert detail');
    await page.getByLabel('Note (optional)').fill('asked the partner');
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByTestId('alert-status').filter({ hasText: `acknowledged by ${adminEmail}` }).waitFor();
    const stored = await server.db.pool.query('SELECT status, acknowledged_by, note FROM security_alert WHERE id = $1', [rows[0].id]);
    assert.deepEqual(stored.rows[0], { status: 'acknowledged', acknowledged_by: adminEmail, note: 'asked the partner' });
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    await screenshot(page, 'console-alerts');
    await expectNoAxeViolations('alerts');
  });

  it('refuses a state change without the CSRF token and a cross-origin request from another page', async () => {
    const { page, context } = browser;
    const cookie = (await context.cookies(`${server.origin}/admin/api/session`)).find((c) => c.name === 'payer_fhir_console')!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is out of reach of scripts');
    // Same origin, with the cookie but without the token.
    const noToken = await page.evaluate(async ([t]) => {
      const r = await fetch(`/admin/api/tenants/${t}/clients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'csrf', secret: true, scope: 'system/Patient.rs' }) });
      return r.status;
    }, [tenant]);
    assert.equal(noToken, 403);
    // A page of another origin posting to the API with the browser's credentials.
    const evil = http_.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>other site</title>'));
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const other = await context.newPage();
      await other.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
      const outcome = await other.evaluate(async ([origin, t]) => {
        const results: string[] = [];
        for (const init of [
          { method: 'POST', mode: 'no-cors', credentials: 'include', body: JSON.stringify({ name: 'cross', secret: true, scope: 'system/Patient.rs' }) },
          { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cross', secret: true, scope: 'system/Patient.rs' }) },
        ] as RequestInit[]) {
          try {
            const r = await fetch(`${origin}/admin/api/tenants/${t}/clients`, init);
            results.push(`status ${r.status}`);
          } catch (e) {
            results.push('blocked');
          }
        }
        return results;
      }, [server.origin, tenant]);
      await other.close();
      assert.equal(outcome[1], 'blocked', 'a JSON post from another origin never passes CORS');
    } finally {
      evil.close();
    }
    const { rows } = await server.db.pool.query(`SELECT count(*)::int AS n FROM client WHERE tenant = $1 AND name IN ('csrf', 'cross')`, [tenant]);
    assert.equal(rows[0].n, 0, 'nothing was registered');
  });

  it('an auditor sees no register control and the admin API refuses the registration (403)', async () => {
    const { page, context } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Email').waitFor();
    await signInAs(auditorEmail);
    await go('clients', 'Partner applications');
    await page.getByText(XSS, { exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Register application' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Bulk exports' }).count(), 1);
    const cookie = (await context.cookies(`${server.origin}/admin/api/session`)).find((c) => c.name === 'payer_fhir_console')!;
    const session = { cookie: `${cookie.name}=${cookie.value}`, csrf: '', body: {} };
    session.csrf = (await api(server.origin, '/session', { session })).json.csrfToken;
    const r = await api(server.origin, `/tenants/${tenant}/clients`, { method: 'POST', session, body: { name: 'by auditor', secret: true, scope: 'system/Patient.rs' } });
    assert.equal(r.status, 403);
  });

  it('an expired session must sign in again', async () => {
    const { page } = browser;
    await server.db.pool.query(`UPDATE admin_session SET expires_at = now() - interval '1 second' WHERE email = $1`, [auditorEmail]);
    await page.reload();
    await page.getByLabel('Email').waitFor();
    await signInAs(auditorEmail);
  });

  it('the developer portal passes axe too', async () => {
    const { page } = browser;
    await page.goto(`${server.origin}/developers/${tenant}`);
    await page.getByRole('heading', { name: 'Connect to the Payer System Access API' }).waitFor();
    await expectNoAxeViolations('developer portal');
    await screenshot(page, 'developer-portal');
  });
});
