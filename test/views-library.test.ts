// The views shipped in views/ (member months, claim lines, diagnoses, HbA1c, blood pressure,
// medication fills, attribution), loaded into a tenant and run over HTTP against a seeded
// synthetic plan: each gives the rows the plan's resources imply, counted independently in SQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { seedTenant } from '../src/seed/load.js';
import { loadShippedViews, shippedViews } from '../src/views/library.js';
import { http } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('shipped views on the synthetic plan', () => {
  let server: TestServer;
  let base: string;
  let tenant: string;
  let token: string;
  before(async () => {
    server = await startServer();
    ({ base, tenant, token } = await server.newTenant('views-lib'));
    await seedTenant(server.db.pool, tenant, { seed: 'views', members: 25 });
  });
  after(() => server.close());

  /** One number from SQL over the tenant's current resources (`r`). */
  const sql = async (query: string): Promise<number> => Number((await server.db.pool.query(query.replace(/\bTENANT\b/g, '$1'), [tenant])).rows[0].n);
  const run = async (id: string): Promise<Record<string, any>[]> => {
    const r = await http(`${base}/ViewDefinition/${id}/$run?_format=ndjson`);
    assert.equal(r.status, 200, r.text);
    return r.text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  };

  it('every shipped view is valid and loads once (a second load writes nothing)', async () => {
    const views = await shippedViews();
    assert.deepEqual(views.map((v) => v.name).sort(), ['attribution', 'blood_pressure', 'claim_lines', 'hba1c_results', 'medication_fills', 'member_diagnoses', 'member_months']);
    assert.equal(await loadShippedViews(server.db.pool, tenant), views.length);
    assert.equal(await loadShippedViews(server.db.pool, tenant), 0);
    const listed = await http(`${base}/ViewDefinition?_count=50`);
    assert.equal(listed.json.entry.length, views.length);
  });

  it('member_months: one row per Coverage with member and period', async () => {
    const rows = await run('member-months');
    assert.equal(rows.length, await sql("SELECT count(*) AS n FROM resource WHERE tenant = TENANT AND type = 'Coverage' AND NOT deleted"));
    assert.ok(rows.every((r) => /^Patient\//.test(r.member_id) && /^\d{4}-\d{2}-\d{2}$/.test(r.period_start) && r.plan));
  });

  it('claim_lines: one row per claim EOB item (not prior authorizations), amounts as numbers, network status present', async () => {
    const rows = await run('claim-lines');
    assert.equal(rows.length, await sql("SELECT sum(jsonb_array_length(content::jsonb -> 'item')) AS n FROM resource WHERE tenant = TENANT AND type = 'ExplanationOfBenefit' AND NOT deleted AND content::jsonb ->> 'use' = 'claim'"));
    assert.ok(rows.every((r) => r.claim_id.startsWith('ExplanationOfBenefit/') && typeof r.line_number === 'number'));
    assert.ok(rows.some((r) => typeof r.paid_amount === 'number' && r.paid_amount > 0));
    assert.ok(rows.every((r) => ['innetwork', 'outofnetwork'].includes(r.line_network_status ?? r.claim_network_status)));
  });

  it('hba1c_results and blood_pressure: only their LOINC panels, values in range', async () => {
    const a1c = await run('hba1c-results');
    assert.equal(a1c.length, await sql("SELECT count(*) AS n FROM resource WHERE tenant = TENANT AND type = 'Observation' AND NOT deleted AND content::jsonb @> '{\"code\":{\"coding\":[{\"code\":\"4548-4\"}]}}'"));
    assert.ok(a1c.every((r) => r.value > 3 && r.value < 20 && r.unit === '%'));
    const bp = await run('blood-pressure');
    assert.equal(bp.length, await sql("SELECT count(*) AS n FROM resource WHERE tenant = TENANT AND type = 'Observation' AND NOT deleted AND content::jsonb @> '{\"code\":{\"coding\":[{\"code\":\"85354-9\"}]}}'"));
    assert.ok(bp.length > 0 && bp.every((r) => r.systolic > r.diastolic && r.diastolic > 20));
  });

  it('member_diagnoses, medication_fills and attribution', async () => {
    const dx = await run('member-diagnoses');
    assert.equal(dx.length, await sql("SELECT sum(jsonb_array_length(content::jsonb -> 'code' -> 'coding')) AS n FROM resource WHERE tenant = TENANT AND type = 'Condition' AND NOT deleted"));
    assert.ok(dx.some((r) => r.code_system === 'http://hl7.org/fhir/sid/icd-10-cm'));
    const fills = await run('medication-fills');
    assert.equal(fills.length, await sql("SELECT count(*) AS n FROM resource WHERE tenant = TENANT AND type = 'MedicationDispense' AND NOT deleted"));
    assert.ok(fills.every((r) => r.member_id.startsWith('Patient/') && r.rxnorm));
    const attributed = await run('attribution');
    assert.equal(attributed.length, await sql("SELECT coalesce(sum(jsonb_array_length(content::jsonb -> 'member')), 0) AS n FROM resource WHERE tenant = TENANT AND type = 'Group' AND NOT deleted AND content::jsonb ? 'member'"));
    assert.ok(attributed.filter((r) => r.group_id.startsWith('Group/attribution-')).every((r) => r.attributed_provider_id && r.member_id));
  });

  it('claim_lines as Parquet: typed columns read back with a Parquet reader', async () => {
    const res = await fetch(`${base}/ViewDefinition/claim-lines/$run?_format=parquet`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const rows = (await parquetReadObjects({ file: await res.arrayBuffer() })) as Record<string, unknown>[];
    assert.equal(rows.length, (await run('claim-lines')).length);
    const line = rows.find((r) => r.paid_amount !== null)!;
    assert.equal(typeof line.paid_amount, 'number');
    assert.equal(typeof line.line_number, 'number');
    assert.match(String(line.service_date ?? line.service_start), /^\d{4}-\d{2}-\d{2}$/);
  });
});
