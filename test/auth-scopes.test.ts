// Scope grammar and granting tables (TOK-60…TOK-66): v1, v2 and granular v2 scopes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScope, grantFor, grantScopes, parseScope, parseScopes } from '../src/auth/scopes.js';

describe('SMART scopes', () => {
  it('TOK-60, TOK-61: v1 and v2 parse to the same permissions; out-of-order or unknown permissions are not re-interpreted', () => {
    const perms = (s: string) => [...(parseScope(s)?.perms ?? [])].sort().join('');
    assert.equal(perms('system/*.read'), 'rs');
    assert.equal(perms('system/Patient.write'), 'cdu');
    assert.equal(perms('system/Patient.*'), 'cdrsu');
    assert.equal(perms('system/*.rs'), 'rs');
    assert.equal(perms('system/Observation.r'), 'r');
    assert.equal(perms('system/*.cruds'), 'cdrsu');
    for (const bad of ['system/Patient.sr', 'system/Patient.dus', 'system/Patient.rr', 'system/Patient.x', 'system/patient.read', 'launch', 'openid', 'system/*.read?category=x', 'system/Patient']) {
      assert.equal(parseScope(bad), undefined, bad);
    }
    const granular = parseScope('system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory')!;
    assert.equal(granular.filter, 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    assert.equal(parseScope('patient/*.read')?.context, 'patient');
  });

  it('TOK-62…TOK-65: granted = requested ∩ registered, in the syntax the client used', () => {
    const table: [string, string, string][] = [
      ['system/*.read', 'system/*.rs', 'system/*.read'],
      ['system/*.rs', 'system/*.read', 'system/*.rs'],
      ['system/*.read', 'system/*.r', 'system/*.r'], // v1 cannot say "r without s": answered in v2
      ['system/*.read', 'system/Patient.rs system/Coverage.cruds', 'system/Patient.read system/Coverage.read'],
      ['system/Patient.read', 'system/*.cruds', 'system/Patient.read'],
      ['system/Patient.cruds', 'system/*.rs', 'system/Patient.rs'],
      ['system/*.write', 'system/*.rs', ''],
      ['patient/*.read user/*.rs', 'system/*.cruds', ''],
      ['system/Observation.rs', 'system/Observation.rs?category=laboratory', 'system/Observation.rs?category=laboratory'],
      ['system/Observation.rs?code=x', 'system/Observation.rs?category=laboratory', 'system/Observation.rs?code=x&category=laboratory'],
      ['system/*.rs launch/patient openid unknown', 'system/*.rs', 'system/*.rs'],
    ];
    for (const [requested, registered, granted] of table) assert.equal(grantScopes(requested, registered).text, granted, `${requested} ∩ ${registered}`);
  });

  it('TOK-66, RS-07: grants per type and permission — wildcards cover every type; any unfiltered scope lifts granular filters', () => {
    const scopes = parseScopes('system/*.r system/Observation.s?category=laboratory system/Observation.s?category=vital-signs');
    assert.deepEqual(grantFor(scopes, 'AnyFutureType', 'r'), { allowed: true });
    assert.deepEqual(grantFor(scopes, 'Observation', 's'), { allowed: true, filters: ['category=laboratory', 'category=vital-signs'] });
    assert.deepEqual(grantFor(scopes, 'Patient', 's'), { allowed: false });
    assert.deepEqual(grantFor(parseScopes('system/Observation.s system/Observation.s?category=x'), 'Observation', 's'), { allowed: true });
    assert.equal(formatScope(parseScope('system/Patient.rs')!, 'v1'), 'system/Patient.read');
  });
});
