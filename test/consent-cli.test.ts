/**
 * `payer-fhir consent …` (issue 12 §6): opt-out and opt-in of Provider Access, payer-to-payer
 * grants, revocation and listing — Consents in the shapes the partner-access index reads,
 * written through the normal write path; bad input answered plainly with nothing written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { NEW_PAYER, writePlan } from './helpers/member-match.js';
import { startServer, tenantRowCount, type TestServer } from './helpers/server.js';

const execFileP = promisify(execFile);
const cli = (...args: string[]) => execFileP(process.execPath, [path.join(repoRoot, 'bin', 'payer-fhir.js'), 'consent', ...args], { env: process.env });

describe('payer-fhir consent', () => {
  let server: TestServer;
  let tenant: string;
  let base: string;
  const rules = async () => (await server.db.pool.query('SELECT purpose, decision, recipient_value, level, low FROM consent_rule WHERE tenant = $1 ORDER BY low, decision', [tenant])).rows;

  before(async () => {
    server = await startServer();
    ({ tenant, base } = await server.newTenant('cli'));
    await writePlan(base, [{ id: 'pat', family: 'Ortiz', given: 'Pia', birthDate: '1975-05-06', gender: 'female', memberId: 'MP-1', subscriberId: 'SP-1' }]);
  });
  after(async () => server.close());

  it('opt-out, then opt-in: PDex provider consents (deny, then a later permit)', async () => {
    const out = await cli('opt-out', '--tenant', tenant, '--patient', 'pat', '--start', '2024-01-01');
    const id = /Consent\/([A-Za-z0-9-]+)/.exec(out.stdout)![1];
    const c = (await http(`${base}/Consent/${id}`)).json;
    assert.equal(c.provision.type, 'deny');
    assert.deepEqual(c.provision.period, { start: '2024-01-01' });
    assert.deepEqual(c.meta.profile, ['http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-provider-consent']);
    assert.ok(c.category.some((x: any) => x.coding[0].code === 'provider-access'));
    await cli('opt-in', '--tenant', tenant, '--patient', 'pat', '--start', '2025-01-01');
    assert.deepEqual((await rules()).map((r) => [r.purpose, r.decision]), [['provider-access', 'deny'], ['provider-access', 'permit']]);
  });

  it('grant, list, revoke: an HRex payer-to-payer consent for the recipient, then inactive', async () => {
    const out = await cli('grant', '--tenant', tenant, '--patient', 'pat', '--recipient', `${NEW_PAYER.system}|${NEW_PAYER.value}`, '--policy', 'regular', '--start', '2025-01-01', '--end', '2030-12-31');
    const id = /Consent\/([A-Za-z0-9-]+)/.exec(out.stdout)![1];
    const p2p = (await rules()).filter((r) => r.purpose === 'payer-to-payer');
    assert.deepEqual(p2p.map((r) => [r.decision, r.recipient_value, r.level]), [['permit', NEW_PAYER.value, 'regular']]);
    const listed = (await cli('list', '--tenant', tenant, '--patient', 'pat')).stdout.trim().split('\n');
    assert.equal(listed.length, 4, listed.join('\n'));
    assert.match(listed[1], new RegExp(`^${id}\\tactive\\tpayer-to-payer\\tpermit\\t2025-01-01\\t2030-12-31\\t${NEW_PAYER.system}\\|${NEW_PAYER.value}\\tregular`));
    await cli('revoke', '--tenant', tenant, '--id', id);
    assert.equal((await http(`${base}/Consent/${id}`)).json.status, 'inactive');
    assert.deepEqual((await rules()).filter((r) => r.purpose === 'payer-to-payer'), []);
  });

  it('bad input: a plain message, a failing exit, nothing written', async () => {
    const before = await tenantRowCount(server.db, tenant);
    const cases: [string[], RegExp][] = [
      [['opt-out', '--tenant', tenant, '--patient', 'nobody'], /No Patient\/nobody/],
      [['opt-out', '--tenant', 'no-such-tenant', '--patient', 'pat'], /No tenant/],
      [['opt-out', '--tenant', tenant, '--patient', 'pat', '--start', '01/02/2024'], /--start must be a date/],
      [['grant', '--tenant', tenant, '--patient', 'pat', '--recipient', 'nobar', '--policy', 'regular', '--start', '2025-01-01', '--end', '2026-01-01'], /SYSTEM\|VALUE/],
      [['grant', '--tenant', tenant, '--patient', 'pat', '--recipient', 'a|b', '--policy', 'all', '--start', '2025-01-01', '--end', '2026-01-01'], /regular or sensitive/],
      [['grant', '--tenant', tenant, '--patient', 'pat', '--recipient', 'a|b', '--policy', 'regular', '--start', '2026-01-01', '--end', '2025-01-01'], /--end must not be before/],
      [['revoke', '--tenant', tenant, '--id', 'nope'], /No Consent\/nope/],
    ];
    for (const [args, why] of cases) {
      await assert.rejects(cli(...args), (err: any) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, why);
        return true;
      });
    }
    assert.equal(await tenantRowCount(server.db, tenant), before);
  });
});
