/**
 * Keeps the partner-access tables (partner_group, partner_group_member, consent_rule: see
 * migration 9) in step with the Groups and Consents they are derived from, inside the same
 * transaction as the search index: rows of a superseded or deleted version go, the new
 * version's rows come. Batches without a Group or Consent cost nothing.
 */
import type pg from 'pg';
import { partnerRows } from '../fhir/partner-index.js';
import type { Resource } from '../fhir/validation.js';

const TYPES = new Set(['Group', 'Consent']);

export async function writePartnerIndex(client: pg.PoolClient, tenant: string, removed: { type: string; id: string }[], added: { type: string; id: string; resource: Resource }[]): Promise<void> {
  const gone = removed.filter((r) => TYPES.has(r.type));
  const fresh = added.filter((a) => TYPES.has(a.type));
  if (!gone.length && !fresh.length) return;
  if (gone.length) {
    const groups = gone.filter((r) => r.type === 'Group').map((r) => r.id);
    const consents = gone.filter((r) => r.type === 'Consent').map((r) => r.id);
    await client.query(
      `WITH g AS (DELETE FROM partner_group WHERE tenant = $1 AND group_id = ANY($2::text[])),
            m AS (DELETE FROM partner_group_member WHERE tenant = $1 AND group_id = ANY($2::text[]))
       DELETE FROM consent_rule WHERE tenant = $1 AND consent_id = ANY($3::text[])`,
      [tenant, groups, consents],
    );
  }
  const g: unknown[][] = [[], [], [], [], [], [], []];
  const m: unknown[][] = [[], [], [], []];
  const c: unknown[][] = [[], [], [], [], [], [], [], [], []];
  for (const a of fresh) {
    const rows = partnerRows(a.resource);
    for (const r of rows.groups) [a.id, r.kind, r.orgSystem, r.orgValue, r.usable, r.low, r.high].forEach((v, i) => g[i].push(v));
    for (const r of rows.members) [a.id, r.patientId, r.low, r.high].forEach((v, i) => m[i].push(v));
    for (const r of rows.consents) {
      [a.id, r.patientId, r.purpose, r.decision, r.recipientSystem, r.recipientValue, r.level, r.low, r.high].forEach((v, i) => c[i].push(v));
    }
  }
  if (!g[0].length && !m[0].length && !c[0].length) return;
  await client.query(
    `WITH g AS (INSERT INTO partner_group (tenant, group_id, kind, org_system, org_value, usable, valid_low, valid_high)
                SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::timestamptz[], $8::timestamptz[])
                ON CONFLICT DO NOTHING),
          m AS (INSERT INTO partner_group_member (tenant, group_id, patient_id, low, high)
                SELECT $1, * FROM unnest($9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[]))
     INSERT INTO consent_rule (tenant, consent_id, patient_id, purpose, decision, recipient_system, recipient_value, level, low, high)
     SELECT $1, * FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[], $21::timestamptz[])`,
    [tenant, ...g, ...m, ...c],
  );
}
