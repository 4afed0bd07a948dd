/**
 * The admin API's front door (issue 14 §1): local sign-in with scrypt passwords, sessions in
 * PostgreSQL with HttpOnly SameSite=Strict cookies, idle and absolute timeouts, CSRF and
 * cross-origin refusal, throttling and lockout, the one-time password change, every role
 * against every endpoint, tenant isolation, RFC 9457 problems, the OpenAPI document, and the
 * audit records of sign-ins and failures.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { adminRoutes } from '../src/admin/plugin.js';
import { SYSTEM_TENANT } from '../src/audit/record.js';
import { loadConfig } from '../src/config.js';
import { api, isProblem, makeAccount, signIn, TEST_PASSWORD, uniqueEmail, type AdminSession } from './helpers/admin.js';
import { startServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

describe('admin API: sign-in, sessions, roles', () => {
  let server: TestServer;
  let origin: string;
  let tenantA: string;
  let tenantB: string;
  const sessions: Record<string, AdminSession> = {};

  before(async () => {
    const defaults = loadConfig();
    server = await startServer({ admin: { ...defaults.admin, lockoutFailures: 3, signinPerMinuteAccount: 4, signinPerMinuteIp: 100_000 } });
    origin = server.origin;
    tenantA = (await server.newTenant('adm-a')).tenant;
    tenantB = (await server.newTenant('adm-b')).tenant;
    for (const [name, role, tenant] of [['admin', 'admin', null], ['operator', 'operator', tenantA], ['auditor', 'auditor', tenantA], ['operatorB', 'operator', tenantB]] as const) {
      sessions[name] = await signIn(origin, await makeAccount(server.db.pool, role, tenant, name));
    }
  });
  after(async () => server.close());

  const records = async (tenant: string, like: string) => {
    await server.app.auditLog!.flush();
    return (await server.db.pool.query(`SELECT * FROM audit_event WHERE tenant = $1 AND detail LIKE $2 ORDER BY seq`, [tenant, like])).rows;
  };

  it('the session cookie is HttpOnly, SameSite=Strict, scoped to the API, and not Secure over plain http', async () => {
    const email = await makeAccount(server.db.pool, 'auditor', tenantA);
    const r = await api(origin, '/session', { method: 'POST', body: { email, password: TEST_PASSWORD } });
    assert.equal(r.status, 200);
    const cookie = r.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^payer_fhir_console=[A-Za-z0-9_-]{43};/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    assert.match(cookie, /; Path=\/admin\/api/);
    assert.doesNotMatch(cookie, /Secure/);
    assert.equal(r.json.email, email);
    assert.equal(r.json.role, 'auditor');
    assert.equal(r.json.tenant, tenantA);
    assert.ok(r.json.permissions.includes('audit:read') && !r.json.permissions.includes('clients:write'));
    // Only a hash of the cookie's token is stored.
    const token = cookie.split(';')[0].split('=')[1];
    const { rows } = await server.db.pool.query('SELECT count(*)::int AS n FROM admin_session WHERE token_hash = sha256($1::bytea)', [Buffer.from(token)]);
    assert.equal(rows[0].n, 1);
    const raw = await server.db.pool.query(`SELECT count(*)::int AS n FROM admin_session WHERE encode(token_hash, 'escape') LIKE $1`, [`%${token}%`]);
    assert.equal(raw.rows[0].n, 0);
  });

  it('the cookie is Secure when the public origin is https', async () => {
    const { sessionCookie } = await import('../src/admin/routes/session.js');
    assert.match(sessionCookie({ ...server.config, publicUrl: 'https://api.payer.example' }, 'x', 60), /; Secure$/);
  });

  it('passwords are stored under scrypt (N=65536), never in clear', async () => {
    const email = await makeAccount(server.db.pool, 'operator', tenantA);
    const { rows } = await server.db.pool.query('SELECT password_hash FROM admin_account WHERE email = $1', [email]);
    assert.match(rows[0].password_hash, /^scrypt\$65536\$8\$1\$/);
    assert.ok(!rows[0].password_hash.includes(TEST_PASSWORD));
  });

  it('a wrong password or unknown email is 401 (a problem), recorded in the audit trail without the password', async () => {
    const email = await makeAccount(server.db.pool, 'operator', tenantA, 'wrongpw');
    const r = await api(origin, '/session', { method: 'POST', body: { email, password: 'not the password at all' } });
    assert.ok(isProblem(r, 401), r.text);
    assert.equal(r.headers.get('set-cookie'), null);
    const unknown = await api(origin, '/session', { method: 'POST', body: { email: uniqueEmail('nobody'), password: 'whatever whatever' } });
    assert.ok(isProblem(unknown, 401));
    const recs = await records(tenantA, `${email}%`);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].interaction, 'admin-signin');
    assert.equal(recs[0].status, 401);
    assert.match(recs[0].detail, /refused: Wrong email or password/);
    assert.ok(!recs[0].detail.includes('not the password'));
    assert.equal(recs[0].client_id, null);
  });

  it('a successful sign-in is recorded in the account\'s tenant trail', async () => {
    const recs = await records(tenantA, `${sessions.operator.body.email} (operator): sign-in%`);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].status, 200);
  });

  it('repeated failures lock the account (423, even with the right password); sign-ins are throttled per account (429)', async () => {
    const email = await makeAccount(server.db.pool, 'operator', tenantA, 'lock');
    for (let i = 0; i < 2; i++) assert.equal((await api(origin, '/session', { method: 'POST', body: { email, password: `wrong-${i}-wrong-wrong` } })).status, 401);
    const third = await api(origin, '/session', { method: 'POST', body: { email, password: 'wrong-3-wrong-wrong' } });
    assert.ok(isProblem(third, 423), third.text);
    assert.match(third.headers.get('retry-after') ?? '', /^\d+$/);
    const right = await api(origin, '/session', { method: 'POST', body: { email, password: TEST_PASSWORD } });
    assert.ok(isProblem(right, 423));
    // Past 4 attempts a minute on one account, attempts are throttled before any check (the bucket
    // refills one attempt per 15 s, so on a slow machine one more may pass first: still locked).
    let last = await api(origin, '/session', { method: 'POST', body: { email, password: TEST_PASSWORD } });
    for (let i = 0; i < 6 && last.status === 423; i++) last = await api(origin, '/session', { method: 'POST', body: { email, password: TEST_PASSWORD } });
    assert.ok(isProblem(last, 429), last.text);
    assert.match(last.headers.get('retry-after') ?? '', /^\d+$/);
  });

  it('sign-in attempts are throttled per source address', async () => {
    const defaults = loadConfig();
    // Behind a trusted proxy, so this test's address is its own (other test files sign in from 127.0.0.1 too).
    const tight = await startServer({ admin: { ...defaults.admin, signinPerMinuteIp: 2, signinPerMinuteAccount: 100 }, limits: { ...server.config.limits, trustProxy: ['127.0.0.1'] } });
    const address = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
    try {
      await tight.db.pool.query('DELETE FROM rate_bucket WHERE key = $1', [`console-signin:ip:${address}`]);
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        codes.push((await api(tight.origin, '/session', { method: 'POST', body: { email: uniqueEmail('ip'), password: 'wrong wrong wrong' }, headers: { 'x-forwarded-for': address } })).status);
      }
      assert.deepEqual(codes, [401, 401, 429]);
      // Another address is not held back.
      assert.equal((await api(tight.origin, '/session', { method: 'POST', body: { email: uniqueEmail('ip'), password: 'wrong wrong wrong' }, headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 401);
    } finally {
      await tight.close();
    }
  });

  it('a one-time password (admins add without --password-stdin) must be changed before anything else', async () => {
    const email = uniqueEmail('otp');
    const out = await run(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), 'admins', 'add', '--email', email, '--role', 'operator', '--tenant', tenantA], { env: process.env });
    const otp = /one-time password: (\S+)/.exec(out.stdout)?.[1];
    assert.ok(otp, out.stdout);
    const s = await signIn(origin, email, otp);
    assert.equal(s.body.mustChangePassword, true);
    const blocked = await api(origin, `/tenants/${tenantA}/clients`, { session: s });
    assert.ok(isProblem(blocked, 403));
    assert.match(blocked.json.detail, /one-time password/);
    const short = await api(origin, '/session/password', { method: 'POST', session: s, body: { currentPassword: otp, newPassword: 'short' } });
    assert.ok(isProblem(short, 400));
    const wrong = await api(origin, '/session/password', { method: 'POST', session: s, body: { currentPassword: 'not-it-not-it', newPassword: 'a brand new passphrase' } });
    assert.ok(isProblem(wrong, 400));
    const ok = await api(origin, '/session/password', { method: 'POST', session: s, body: { currentPassword: otp, newPassword: 'a brand new passphrase' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.mustChangePassword, false);
    assert.equal((await api(origin, `/tenants/${tenantA}/clients`, { session: s })).status, 200);
    await signIn(origin, email, 'a brand new passphrase');
    // --password-stdin sets the password given, with no change required.
    const email2 = uniqueEmail('stdin');
    const child = execFile(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), 'admins', 'add', '--email', email2, '--role', 'auditor', '--password-stdin'], { env: process.env });
    child.stdin!.end('piped passphrase 123\n');
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0);
    assert.equal((await signIn(origin, email2, 'piped passphrase 123')).body.mustChangePassword, false);
  });

  it('every state change needs the CSRF token; cross-origin and cross-site requests are refused', async () => {
    const s = sessions.operator;
    const body = { name: 'csrf probe', secret: true, scope: 'system/Patient.rs' };
    const none = await api(origin, `/tenants/${tenantA}/clients`, { method: 'POST', session: s, body, csrf: false });
    assert.ok(isProblem(none, 403));
    assert.match(none.json.detail, /CSRF/);
    const wrong = await api(origin, `/tenants/${tenantA}/clients`, { method: 'POST', session: s, body, csrf: false, headers: { 'x-csrf-token': 'x'.repeat(43) } });
    assert.ok(isProblem(wrong, 403));
    const cross = await api(origin, `/tenants/${tenantA}/clients`, { method: 'POST', session: s, body, headers: { origin: 'https://evil.example' } });
    assert.ok(isProblem(cross, 403));
    assert.match(cross.json.detail, /Cross-origin/);
    const crossRead = await api(origin, `/tenants/${tenantA}/clients`, { session: s, headers: { origin: 'https://evil.example' } });
    assert.ok(isProblem(crossRead, 403));
    const site = await api(origin, `/tenants/${tenantA}/clients`, { method: 'POST', session: s, body, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.ok(isProblem(site, 403));
    const crossSignIn = await api(origin, '/session', { method: 'POST', body: { email: s.body.email, password: TEST_PASSWORD }, headers: { origin: 'https://evil.example' } });
    assert.ok(isProblem(crossSignIn, 403));
    // Nothing was registered by any of them.
    const { rows } = await server.db.pool.query(`SELECT count(*)::int AS n FROM client WHERE tenant = $1 AND name = 'csrf probe'`, [tenantA]);
    assert.equal(rows[0].n, 0);
    // The same request, same origin with the token, goes through.
    const ok = await api(origin, `/tenants/${tenantA}/clients`, { method: 'POST', session: s, body, headers: { origin, 'sec-fetch-site': 'same-origin' } });
    assert.equal(ok.status, 201, ok.text);
  });

  it('a session idle too long, or past its absolute end, must sign in again; sign-out ends it', async () => {
    const email = await makeAccount(server.db.pool, 'auditor', tenantA, 'idle');
    const idle = await signIn(origin, email);
    assert.equal((await api(origin, '/session', { session: idle })).status, 200);
    await server.db.pool.query(`UPDATE admin_session SET last_seen = now() - make_interval(mins => $2 + 1) WHERE email = $1`, [email, server.config.admin.sessionIdleMinutes]);
    assert.ok(isProblem(await api(origin, '/session', { session: idle }), 401));
    const { rows } = await server.db.pool.query('SELECT count(*)::int AS n FROM admin_session WHERE email = $1', [email]);
    assert.equal(rows[0].n, 0, 'the ended session is removed');
    const old = await signIn(origin, email);
    await server.db.pool.query(`UPDATE admin_session SET expires_at = now() - interval '1 second' WHERE email = $1`, [email]);
    assert.ok(isProblem(await api(origin, `/tenants/${tenantA}/audit`, { session: old }), 401));
    const out = await signIn(origin, email);
    assert.equal((await api(origin, '/session', { method: 'DELETE', session: out })).status, 204);
    assert.ok(isProblem(await api(origin, '/session', { session: out }), 401));
    assert.ok(isProblem(await api(origin, `/tenants/${tenantA}/overview`), 401), 'no cookie at all');
  });

  /**
   * One call per endpoint of a tenant. A permitted role passes the guard: 2xx, or 404 for the
   * made-up export id (the job, not the permission, is missing); any other role gets 403.
   */
  const endpoints = (t: string, f: { client: string; alert: string }): { method: string; path: string; body?: unknown; perm: string }[] => [
    { method: 'GET', path: '/tenants', perm: 'session' },
    { method: 'GET', path: `/tenants/${t}/scopes`, perm: 'clients:read' },
    { method: 'GET', path: `/tenants/${t}/overview`, perm: 'overview' },
    { method: 'GET', path: `/tenants/${t}/clients`, perm: 'clients:read' },
    { method: 'POST', path: `/tenants/${t}/clients`, body: { name: 'role probe', secret: true, scope: 'system/Patient.rs' }, perm: 'clients:write' },
    { method: 'GET', path: `/tenants/${t}/clients/${f.client}`, perm: 'clients:read' },
    { method: 'GET', path: `/tenants/${t}/clients/${f.client}/keys`, perm: 'clients:read' },
    { method: 'GET', path: `/tenants/${t}/clients/${f.client}/usage`, perm: 'clients:read' },
    { method: 'PUT', path: `/tenants/${t}/clients/${f.client}/limits`, body: { rateBurst: 10 }, perm: 'clients:write' },
    { method: 'POST', path: `/tenants/${t}/clients/${f.client}/disable`, perm: 'clients:write' },
    { method: 'POST', path: `/tenants/${t}/clients/${f.client}/enable`, perm: 'clients:write' },
    { method: 'POST', path: `/tenants/${t}/clients/${f.client}/rotate-secret`, perm: 'clients:write' },
    { method: 'GET', path: `/tenants/${t}/exports`, perm: 'exports:read' },
    { method: 'GET', path: `/tenants/${t}/exports/00000000-0000-4000-8000-000000000000`, perm: 'exports:read' },
    { method: 'DELETE', path: `/tenants/${t}/exports/00000000-0000-4000-8000-000000000000`, perm: 'exports:cancel' },
    { method: 'GET', path: `/tenants/${t}/alerts`, perm: 'alerts:read' },
    { method: 'GET', path: `/tenants/${t}/alerts/${f.alert}`, perm: 'alerts:read' },
    { method: 'POST', path: `/tenants/${t}/alerts/${f.alert}/acknowledge`, body: {}, perm: 'alerts:write' },
    { method: 'POST', path: `/tenants/${t}/alerts/${f.alert}/resolve`, body: {}, perm: 'alerts:write' },
    { method: 'GET', path: `/tenants/${t}/reports/usage`, perm: 'reports:read' },
    { method: 'GET', path: `/tenants/${t}/audit`, perm: 'audit:read' },
    { method: 'GET', path: `/tenants/${t}/audit/1`, perm: 'audit:read' },
    { method: 'GET', path: `/tenants/${t}/audit.csv`, perm: 'audit:read' },
    { method: 'POST', path: `/tenants/${t}/audit/verify`, perm: 'audit:verify' },
  ];
  const GRANTS: Record<string, string[]> = {
    admin: ['session', 'clients:read', 'overview', 'clients:write', 'exports:read', 'exports:cancel', 'alerts:read', 'alerts:write', 'reports:read', 'audit:read', 'audit:verify'],
    operator: ['session', 'clients:read', 'overview', 'clients:write', 'exports:read', 'exports:cancel', 'alerts:read', 'alerts:write'],
    auditor: ['session', 'clients:read', 'overview', 'exports:read', 'alerts:read', 'reports:read', 'audit:read', 'audit:verify'],
  };
  /** A secret client and an alert in the tenant, for the endpoints that name one. */
  const fixtures = async (t: string) => {
    const { addClient } = await import('../src/auth/clients.js');
    const { client_id } = await addClient(server.db.pool, { tenant: t, name: 'fixture', secret: true, scope: 'system/Patient.rs' });
    const { rows } = await server.db.pool.query(`INSERT INTO security_alert (tenant, rule, summary) VALUES ($1, 'volume', 'fixture') RETURNING id`, [t]);
    return { client: client_id, alert: String(rows[0].id) };
  };

  it('each role gets exactly its permissions on every endpoint (403 problem otherwise)', async () => {
    const f = await fixtures(tenantA);
    for (const role of ['admin', 'operator', 'auditor']) {
      for (const e of endpoints(tenantA, f)) {
        const r = await api(origin, e.path, { method: e.method, body: e.body, session: sessions[role] });
        const passed = (r.status >= 200 && r.status < 300) || (r.status === 404 && e.path.includes('00000000-'));
        if (GRANTS[role].includes(e.perm)) assert.ok(passed, `${role} ${e.method} ${e.path}: ${r.status} ${r.text.slice(0, 200)}`);
        else assert.ok(isProblem(r, 403), `${role} ${e.method} ${e.path}: ${r.status}`);
      }
    }
    // Only administrators add tenants.
    assert.ok(isProblem(await api(origin, '/tenants', { method: 'POST', body: { id: 'x-never' }, session: sessions.operator }), 403));
    assert.ok(isProblem(await api(origin, '/tenants', { method: 'POST', body: { id: 'x-never' }, session: sessions.auditor }), 403));
    const id = `adm-new-${Date.now().toString(36)}`;
    const created = await api(origin, '/tenants', { method: 'POST', body: { id }, session: sessions.admin });
    assert.equal(created.status, 201, created.text);
    assert.ok(isProblem(await api(origin, '/tenants', { method: 'POST', body: { id: 'bad id!' }, session: sessions.admin }), 400));
  });

  it('tenant isolation: a one-tenant account sees nothing of another tenant (404 everywhere), an admin of all tenants sees both', async () => {
    for (const e of endpoints(tenantB, await fixtures(tenantB))) {
      for (const role of ['operator', 'auditor']) {
        const r = await api(origin, e.path, { method: e.method, body: e.body, session: sessions[role] });
        assert.ok(isProblem(r, 404) || (r.status === 200 && e.path === '/tenants'), `${role} ${e.method} ${e.path}: ${r.status}`);
      }
    }
    const listA = await api(origin, '/tenants', { session: sessions.operator });
    assert.deepEqual(listA.json.tenants.map((t: any) => t.id), [tenantA]);
    const listB = await api(origin, '/tenants', { session: sessions.operatorB });
    assert.deepEqual(listB.json.tenants.map((t: any) => t.id), [tenantB]);
    const all = await api(origin, '/tenants', { session: sessions.admin });
    const ids = all.json.tenants.map((t: any) => t.id);
    assert.ok(ids.includes(tenantA) && ids.includes(tenantB));
    // A made-up tenant is the same 404 as a foreign one.
    assert.ok(isProblem(await api(origin, '/tenants/no-such-tenant/clients', { session: sessions.admin }), 404));
    // B's clients were never listed to A's operator.
    const clientsA = await api(origin, `/tenants/${tenantA}/clients`, { session: sessions.operator });
    const { rows } = await server.db.pool.query('SELECT client_id FROM client WHERE tenant = $1', [tenantB]);
    for (const r of rows) assert.ok(!clientsA.text.includes(r.client_id));
  });

  it('errors are RFC 9457 problems: unknown path, bad JSON, schema violations', async () => {
    const unknown = await api(origin, '/nothing-here', { session: sessions.admin });
    assert.ok(isProblem(unknown, 404));
    assert.equal(unknown.json.type, 'about:blank');
    assert.equal(unknown.json.instance, '/admin/api/nothing-here');
    const badJson = await api(origin, `/tenants/${tenantA}/clients`, { method: 'POST', session: sessions.admin, headers: { 'content-type': 'application/json' }, body: undefined });
    assert.ok(isProblem(badJson, 400) || isProblem(badJson, 415), badJson.text);
    const res = await fetch(`${origin}/admin/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":' });
    const text = await res.text();
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.ok(!/at .*\.js|SELECT|node_modules/.test(text));
    const schema = await api(origin, '/session', { method: 'POST', body: { email: 'a@b.c' } });
    assert.ok(isProblem(schema, 400));
    assert.match(schema.json.detail, /password/);
  });

  it('serves an OpenAPI 3.1 document naming every route, public', async () => {
    const r = await api(origin, '/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.json.openapi, '3.1.0');
    for (const route of adminRoutes({ config: server.config, pool: server.db.pool, audit: undefined, limiter: { take: async () => [] } })) {
      const p = `/admin/api${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`;
      assert.ok(r.json.paths[p]?.[route.method.toLowerCase()], `${route.method} ${p} documented`);
    }
    assert.ok(r.json.paths['/admin/api/tenants/{tenant}/clients'].post.requestBody);
  });

  it('admin actions are in the tenant\'s audit trail, naming the person; they are not a partner\'s usage', async () => {
    const recs = await records(tenantA, `${sessions.operator.body.email} (operator): registered client%`);
    assert.ok(recs.length >= 1);
    assert.equal(recs[0].interaction, 'admin');
    assert.equal(recs[0].method, 'POST');
    assert.equal(recs[0].status, 201);
    const report = await api(origin, `/tenants/${tenantA}/reports/usage?byDay=false`, { session: sessions.admin });
    assert.ok(!report.json.rows.some((r: any) => r.clientId === '(unauthenticated)'), 'console requests are not counted as usage');
    const sys = await server.db.pool.query(`SELECT count(*)::int AS n FROM audit_event WHERE tenant = $1 AND interaction = 'admin-signin' AND detail LIKE '%(not signed in)%'`, [SYSTEM_TENANT]);
    assert.ok(sys.rows[0].n >= 1, 'failed sign-ins of unknown emails go to the system chain');
  });
});
