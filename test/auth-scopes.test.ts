// Scope grammar and granting tables (TOK-60…TOK-66): v1, v2 and granular v2 scopes, granting
// requested ∩ registered, per-type grants; over HTTP, the token lifetime per client and global.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addClient } from '../src/auth/clients.js';
import { formatScope, grantFor, grantScopes, parseScope, parseScopes } from '../src/auth/scopes.js';
import { makeKeyPair, requestToken, signAssertion, tokenUrlFor } from './helpers/auth.js';
import { startServer, type TestServer } from './helpers/server.js';
import { JWT_BEARER, assertOAuthError, assertTokenResponse } from './helpers/token-asserts.js';

const perms = (s: string) => {
  const p = parseScope(s)?.perms;
  return p ? ['c', 'r', 'u', 'd', 's'].filter((x) => p.has(x as never)).join('') : undefined;
};

describe('SMART scopes: parseScope', () => {
  const valid: [string, string, 'v1' | 'v2', string, string][] = [
    // scope, perms (cruds order), syntax, type, context
    ['system/*.read', 'rs', 'v1', '*', 'system'],
    ['system/Patient.write', 'cud', 'v1', 'Patient', 'system'],
    ['system/Patient.*', 'cruds', 'v1', 'Patient', 'system'],
    ['system/*.rs', 'rs', 'v2', '*', 'system'],
    ['system/*.r', 'r', 'v2', '*', 'system'],
    ['system/*.s', 's', 'v2', '*', 'system'],
    ['system/Observation.r', 'r', 'v2', 'Observation', 'system'],
    ['system/*.cruds', 'cruds', 'v2', '*', 'system'],
    ['system/Coverage.cud', 'cud', 'v2', 'Coverage', 'system'],
    ['system/Coverage.cd', 'cd', 'v2', 'Coverage', 'system'],
    ['system/ExplanationOfBenefit.us', 'us', 'v2', 'ExplanationOfBenefit', 'system'],
    ['patient/*.read', 'rs', 'v1', '*', 'patient'],
    ['user/Patient.rs', 'rs', 'v2', 'Patient', 'user'],
  ];
  for (const [scope, p, syntax, type, context] of valid) {
    it(`TOK-60: ${scope} parses as ${syntax} ${context}/${type} with permissions ${p}`, () => {
      const s = parseScope(scope);
      assert.ok(s, scope);
      assert.equal(perms(scope), p);
      assert.equal(s.syntax, syntax);
      assert.equal(s.type, type);
      assert.equal(s.context, context);
      assert.equal(s.filter, undefined);
    });
  }

  const invalid: [string, string][] = [
    ['system/Patient.sr', 'out of order'],
    ['system/*.sr', 'out of order'],
    ['system/Patient.dus', 'out of order'],
    ['system/Patient.rc', 'out of order'],
    ['system/Patient.rr', 'repeated'],
    ['system/Patient.x', 'undefined permission'],
    ['system/Patient.', 'empty permissions'],
    ['system/Patient', 'no permissions'],
    ['system/patient.read', 'lower-case type'],
    ['System/Patient.read', 'context case'],
    ['backend/Patient.read', 'unknown context'],
    ['launch', 'not a resource scope'],
    ['openid', 'not a resource scope'],
    ['system/*.read?category=laboratory', 'granular filters are v2 only'],
    ['system/Patient.readwrite', 'not a v1 name'],
    ['', 'empty'],
  ];
  for (const [scope, why] of invalid) {
    it(`TOK-61: ${JSON.stringify(scope)} is rejected, not re-interpreted (${why})`, () => {
      assert.equal(parseScope(scope), undefined);
    });
  }

  it('TOK-60: granular v2 scopes keep their filter verbatim', () => {
    const lab = 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
    const s = parseScope(`system/Observation.rs?${lab}`)!;
    assert.equal(s.filter, lab);
    assert.equal(s.syntax, 'v2');
    assert.equal(perms(`system/Observation.rs?${lab}`), 'rs');
    assert.equal(parseScope('system/Observation.rs?category=a&code=b')!.filter, 'category=a&code=b');
    assert.equal(formatScope(s), `system/Observation.rs?${lab}`);
  });

  it('TOK-60, TOK-64: parseScopes drops what it cannot parse and keeps the rest', () => {
    const list = parseScopes('  system/*.read launch openid system/Patient.sr system/Coverage.rs  ');
    assert.deepEqual(list.map((s) => formatScope(s)), ['system/*.read', 'system/Coverage.rs']);
  });

  it('TOK-65: formatScope answers v1 only when the permissions have a v1 name', () => {
    const table: [string, 'v1' | 'v2', string][] = [
      ['system/Patient.rs', 'v1', 'system/Patient.read'],
      ['system/Patient.cud', 'v1', 'system/Patient.write'],
      ['system/Patient.cruds', 'v1', 'system/Patient.*'],
      ['system/Patient.r', 'v1', 'system/Patient.r'],
      ['system/Patient.read', 'v2', 'system/Patient.rs'],
      ['system/*.*', 'v2', 'system/*.cruds'],
    ];
    for (const [scope, syntax, out] of table) assert.equal(formatScope(parseScope(scope)!, syntax), out, `${scope} as ${syntax}`);
  });
});

describe('SMART scopes: grantScopes', () => {
  const table: [string, string, string, string][] = [
    // id, requested, registered, granted
    ['TOK-62 v1 ∩ v2', 'system/*.read', 'system/*.rs', 'system/*.read'],
    ['TOK-62 v2 ∩ v1', 'system/*.rs', 'system/*.read', 'system/*.rs'],
    ['TOK-62 narrower registration', 'system/*.rs', 'system/*.r', 'system/*.r'],
    ['TOK-65 v1 requested, not expressible in v1 → v2', 'system/*.read', 'system/*.r', 'system/*.r'],
    ['TOK-65 v1 requested → v1 returned', 'system/*.*', 'system/*.cruds', 'system/*.*'],
    ['TOK-66 wildcard requested × specific registered', 'system/*.read', 'system/Patient.rs system/Coverage.cruds', 'system/Patient.read system/Coverage.read'],
    ['TOK-66 specific requested × wildcard registered', 'system/Patient.read', 'system/*.cruds', 'system/Patient.read'],
    ['TOK-62 never more than registered', 'system/Patient.cruds', 'system/*.rs', 'system/Patient.rs'],
    ['TOK-62 types outside the registration dropped', 'system/Patient.rs system/Claim.rs', 'system/Patient.rs', 'system/Patient.rs'],
    ['TOK-63 write on a read-only client → nothing', 'system/*.write', 'system/*.rs', ''],
    ['TOK-63 patient/ and user/ never granted', 'patient/*.read user/*.rs', 'system/*.cruds', ''],
    ['TOK-63 patient/ dropped beside system/', 'patient/*.read system/Patient.rs', 'system/*.cruds', 'system/Patient.rs'],
    ['TOK-64 unknown scopes dropped', 'system/*.rs launch/patient openid fhirUser unknown', 'system/*.rs', 'system/*.rs'],
    ['TOK-61 out-of-order dropped', 'system/*.sr', 'system/*.cruds', ''],
    ['TOK-62 granular registration narrows the grant', 'system/Observation.rs', 'system/Observation.rs?category=laboratory', 'system/Observation.rs?category=laboratory'],
    ['TOK-62 granular both ways: both filters hold', 'system/Observation.rs?code=x', 'system/Observation.rs?category=laboratory', 'system/Observation.rs?code=x&category=laboratory'],
    ['TOK-62 granular requested under an unfiltered registration', 'system/Observation.rs?category=laboratory', 'system/*.rs', 'system/Observation.rs?category=laboratory'],
    ['TOK-62 duplicates collapse', 'system/*.rs system/*.rs', 'system/*.rs', 'system/*.rs'],
    ['TOK-64 empty request', '', 'system/*.rs', ''],
    ['TOK-64 unknown resource type not granted (v1)', 'system/NoSuchType.read', 'system/*.read', ''],
    ['TOK-64 unknown resource type not granted (v2)', 'system/UnknownResource.rs', 'system/*.cruds', ''],
    ['TOK-64 a mix grants the known part', 'system/NoSuchType.read system/Patient.read', 'system/*.rs', 'system/Patient.read'],
    ['TOK-64 a registration naming an unknown type grants nothing for it', 'system/*.rs', 'system/NoSuchType.rs system/Coverage.rs', 'system/Coverage.rs'],
  ];
  for (const [id, requested, registered, granted] of table) {
    it(`${id}: ${JSON.stringify(requested)} ∩ ${JSON.stringify(registered)} = ${JSON.stringify(granted)}`, () => {
      const g = grantScopes(requested, registered);
      assert.equal(g.text, granted);
      assert.equal(g.scopes.length, granted ? granted.split(' ').length : 0);
      for (const s of g.scopes) assert.equal(s.context, 'system');
    });
  }
});

describe('SMART scopes: grantFor', () => {
  it('TOK-66: a wildcard covers every type, including ones that do not exist yet', () => {
    const scopes = parseScopes('system/*.rs');
    for (const t of ['Patient', 'Coverage', 'AnyFutureType']) {
      assert.deepEqual(grantFor(scopes, t, 'r'), { allowed: true });
      assert.deepEqual(grantFor(scopes, t, 's'), { allowed: true });
      assert.deepEqual(grantFor(scopes, t, 'c'), { allowed: false });
    }
  });

  it('TOK-62: a specific scope covers only its type and permissions', () => {
    const scopes = parseScopes('system/Patient.r');
    assert.deepEqual(grantFor(scopes, 'Patient', 'r'), { allowed: true });
    assert.deepEqual(grantFor(scopes, 'Patient', 's'), { allowed: false });
    assert.deepEqual(grantFor(scopes, 'Coverage', 'r'), { allowed: false });
    assert.deepEqual(grantFor([], 'Patient', 'r'), { allowed: false });
  });

  it('TOK-62, RS-07: granular filters on one type are OR-ed', () => {
    const scopes = parseScopes('system/Observation.rs?category=laboratory system/Observation.rs?category=vital-signs');
    assert.deepEqual(grantFor(scopes, 'Observation', 's'), { allowed: true, filters: ['category=laboratory', 'category=vital-signs'] });
    assert.deepEqual(grantFor(scopes, 'Patient', 's'), { allowed: false });
  });

  it('TOK-62, TOK-66: any unfiltered covering scope lifts the filters (specific or wildcard)', () => {
    assert.deepEqual(grantFor(parseScopes('system/Observation.s system/Observation.s?category=x'), 'Observation', 's'), { allowed: true });
    assert.deepEqual(grantFor(parseScopes('system/*.r system/Observation.r?category=x'), 'Observation', 'r'), { allowed: true });
    // A filtered scope for another permission does not restrict this one.
    assert.deepEqual(grantFor(parseScopes('system/Observation.r system/Observation.s?category=x'), 'Observation', 'r'), { allowed: true });
    assert.deepEqual(grantFor(parseScopes('system/Observation.r system/Observation.s?category=x'), 'Observation', 's'), { allowed: true, filters: ['category=x'] });
  });
});

describe('SMART scopes over HTTP: granted scope and token lifetime', () => {
  let server: TestServer;
  let shortServer: TestServer;
  before(async () => {
    server = await startServer();
    shortServer = await startServer({ accessTokenTtl: 120 });
  });
  after(async () => {
    await server.close();
    await shortServer.close();
  });

  async function tokenWith(s: TestServer, registered: string, requested: string, tokenTtl?: number) {
    const { tenant } = await s.newTenant('tokscope');
    const key = await makeKeyPair('ES384');
    const { client_id } = await addClient(s.db.pool, { tenant, name: 'scoped', jwks: { keys: [key.publicJwk] }, scope: registered, ...(tokenTtl ? { tokenTtl } : {}) });
    const url = tokenUrlFor(s.origin, tenant);
    return requestToken(url, { grant_type: 'client_credentials', scope: requested, client_assertion_type: JWT_BEARER, client_assertion: await signAssertion(key, client_id, url) });
  }

  it('TOK-60, TOK-65, P7: system/*.read (every kit\'s default) is granted as system/*.read', async () => {
    const r = await tokenWith(server, 'system/*.rs', 'system/*.read');
    assertTokenResponse(r);
    assert.equal(r.json.scope, 'system/*.read');
  });

  it('TOK-62, TOK-64: the grant is requested ∩ registered, unknown scopes dropped', async () => {
    const r = await tokenWith(server, 'system/Patient.rs system/Coverage.rs', 'system/*.rs launch openid system/Claim.rs');
    assertTokenResponse(r);
    assert.deepEqual(r.json.scope.split(' ').sort(), ['system/Coverage.rs', 'system/Patient.rs']);
  });

  it('TOK-63, TOK-64: nothing grantable → 400 invalid_scope', async () => {
    assertOAuthError(await tokenWith(server, 'system/*.rs', 'patient/*.read'), 400, 'invalid_scope', 'patient only');
  });

  it('TOK-64: scopes naming unknown resource types are not granted → 400 invalid_scope naming them', async () => {
    for (const requested of ['system/NoSuchType.read', 'system/UnknownResource.rs', 'system/NoSuchType.read system/UnknownResource.rs']) {
      const r = await tokenWith(server, 'system/*.cruds', requested);
      assertOAuthError(r, 400, 'invalid_scope', requested);
      assert.match(r.json.error_description, /not R4 resource types: NoSuchType|UnknownResource/);
      assert.equal(r.json.access_token, undefined);
    }
  });

  it('TOK-64: a mix of unknown and real types grants the real part only', async () => {
    const r = await tokenWith(server, 'system/*.rs', 'system/NoSuchType.read system/Patient.read system/UnknownResource.rs');
    assertTokenResponse(r);
    assert.equal(r.json.scope, 'system/Patient.read');
  });

  it('TOK-73: the default lifetime is 300 s', async () => {
    const r = await tokenWith(server, 'system/*.rs', 'system/*.rs');
    assertTokenResponse(r);
    assert.equal(r.json.expires_in, 300);
  });

  it('TOK-73, P9: a per-client lifetime (tokenTtl 600) is what expires_in says', async () => {
    const r = await tokenWith(server, 'system/*.rs', 'system/*.rs', 600);
    assertTokenResponse(r);
    assert.equal(r.json.expires_in, 600);
    const [, payload] = r.json.access_token.split('.');
    if (payload) {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      if (typeof claims.exp === 'number' && typeof claims.iat === 'number') assert.equal(claims.exp - claims.iat, 600);
    }
  });

  it('TOK-73: the global default (accessTokenTtl 120) applies to clients without their own lifetime', async () => {
    const r = await tokenWith(shortServer, 'system/*.rs', 'system/*.rs');
    assertTokenResponse(r);
    assert.equal(r.json.expires_in, 120);
    const own = await tokenWith(shortServer, 'system/*.rs', 'system/*.rs', 600);
    assert.equal(own.json.expires_in, 600, 'a client lifetime beats the global default');
  });
});
