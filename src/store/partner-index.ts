/**
 * Keeps the partner-access tables (partner_group, partner_group_member, consent_rule: see
 * migration 9) in step with the Groups and Consents they are derived from, inside the same
 * statements as the search index (store/search-index.ts): rows of a superseded or deleted
 * version go, the new version's rows come. Batches without a Group or Consent add nothing.
 */
import { partnerRows } from '../fhir/partner-index.js';
import type { Resource } from '../fhir/validation.js';
import type { CteStatement } from './cte-statement.js';

const TYPES = new Set(['Group', 'Consent']);

/** Adds to `stmt` the removal of the partner rows of superseded or deleted Groups and Consents. */
export function addPartnerRemovals(stmt: CteStatement, removed: { type: string; id: string }[]): void {
  const gone = removed.filter((r) => TYPES.has(r.type));
  if (!gone.length) return;
  const groups = stmt.binds.add(gone.filter((r) => r.type === 'Group').map((r) => r.id), 'text[]');
  const consents = stmt.binds.add(gone.filter((r) => r.type === 'Consent').map((r) => r.id), 'text[]');
  stmt.add('pg_d', `DELETE FROM partner_group WHERE tenant = $1 AND group_id = ANY(${groups})`);
  stmt.add('pm_d', `DELETE FROM partner_group_member WHERE tenant = $1 AND group_id = ANY(${groups})`);
  stmt.add('pc_d', `DELETE FROM consent_rule WHERE tenant = $1 AND consent_id = ANY(${consents})`);
}

/** Adds to `stmt` the partner rows of new Group and Consent versions. */
export function addPartnerAdditions(stmt: CteStatement, added: { type: string; id: string; resource: Resource }[]): void {
  const fresh = added.filter((a) => TYPES.has(a.type));
  if (!fresh.length) return;
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
  const bind = (values: unknown[][], types: string[]) => values.map((v, i) => stmt.binds.add(v, `${types[i]}[]`)).join(', ');
  if (g[0].length) {
    const cols = bind(g, ['text', 'text', 'text', 'text', 'boolean', 'timestamptz', 'timestamptz']);
    stmt.add('pg_i', `INSERT INTO partner_group (tenant, group_id, kind, org_system, org_value, usable, valid_low, valid_high) SELECT $1, * FROM unnest(${cols}) ON CONFLICT DO NOTHING`);
  }
  if (m[0].length) {
    const cols = bind(m, ['text', 'text', 'timestamptz', 'timestamptz']);
    stmt.add('pm_i', `INSERT INTO partner_group_member (tenant, group_id, patient_id, low, high) SELECT $1, * FROM unnest(${cols})`);
  }
  if (c[0].length) {
    const cols = bind(c, ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'timestamptz', 'timestamptz']);
    stmt.add(
      'pc_i',
      `INSERT INTO consent_rule (tenant, consent_id, patient_id, purpose, decision, recipient_system, recipient_value, level, low, high) SELECT $1, * FROM unnest(${cols})`,
    );
  }
}
