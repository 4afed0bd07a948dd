// Sensitive-data labels are searchable in SQL: R4 `_security` (Resource.meta.security) is a
// token parameter indexed at write time, so the payer-to-payer policy can leave labelled
// resources out in the query itself. A seeded plan, searched over real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SECURITY_LABEL_SYSTEM } from '../src/fhir/sensitivity.js';
import { generatePopulation } from '../src/seed/generator.js';
import { seedTenant } from '../src/seed/load.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const SEED = { seed: 'security', members: 60 };

describe('_security search over seeded sensitive-data labels', () => {
  let server: TestServer;
  let base: string;
  const labelled = (type: string, code: string) =>
    [...generatePopulation(SEED)].filter((r: any) => r.resourceType === type && (r.meta?.security ?? []).some((s: any) => s.system === SECURITY_LABEL_SYSTEM && s.code === code)).map((r) => r.id!).sort();
  const ids = async (query: string) => {
    const r = await http(`${base}/${query}&_count=1000&_elements=id`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.link?.find((l: any) => l.relation === 'next'), undefined, 'one page expected');
    return (r.json.entry ?? []).map((e: any) => e.resource.id).sort();
  };

  before(async () => {
    server = await startServer();
    let tenant: string;
    ({ tenant, base } = await server.newTenant('security'));
    await seedTenant(server.db.pool, tenant, SEED);
  });
  after(() => server.close());

  it('Condition?_security=v3-ActCode|ETH finds exactly the labelled Conditions', async () => {
    const expected = labelled('Condition', 'ETH');
    assert.ok(expected.length >= 1, 'the seed has substance-use Conditions');
    assert.deepEqual(await ids(`Condition?_security=${encodeURIComponent(`${SECURITY_LABEL_SYSTEM}|ETH`)}`), expected);
    assert.deepEqual(await ids('Condition?_security=ETH'), expected);
    assert.deepEqual(await ids(`Condition?_security=${encodeURIComponent('http://other.example/labels|ETH')}`), []);
  });

  it('works for every type and label: Observation MH, ExplanationOfBenefit BH', async () => {
    const mh = labelled('Observation', 'MH');
    assert.ok(mh.length >= 1);
    assert.deepEqual(await ids(`Observation?_security=${encodeURIComponent(`${SECURITY_LABEL_SYSTEM}|MH`)}`), mh);
    const bh = labelled('ExplanationOfBenefit', 'BH');
    assert.ok(bh.length >= 1);
    assert.deepEqual(await ids(`ExplanationOfBenefit?_security=${encodeURIComponent(`${SECURITY_LABEL_SYSTEM}|BH`)}`), bh);
  });

  it(':not leaves the labelled ones out (the #regular consent rule in one condition)', async () => {
    const all = [...generatePopulation(SEED)].filter((r) => r.resourceType === 'Condition').map((r) => r.id!);
    const eth = new Set(labelled('Condition', 'ETH'));
    assert.deepEqual(await ids(`Condition?_security:not=${encodeURIComponent(`${SECURITY_LABEL_SYSTEM}|ETH`)}`), all.filter((id) => !eth.has(id)).sort());
  });
});
