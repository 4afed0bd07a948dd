/**
 * Migration 18: each current resource's date of service, stored beside it
 * (src/fhir/service-dates.ts `serviceDateOf`, written with the resource by store/resources.ts).
 * Partner policies send only data with a date of service within their look-back; looking the
 * dates up in search_date for every row sent cost a partner's one-member search about a tenth
 * of its throughput. NULL means "not known here": a type without dates of service, a deletion,
 * or a row written before this migration — the policy then looks the dates up as before
 * (src/policy/conditions.ts), so the answer is the same either way. Rows written before are
 * filled in the background (service-date-backfill.ts): adding the column is instant, so the
 * migration never holds a start on a large database.
 */
import type { Migration } from './migration.js';

export const serviceDates: Migration = {
  version: 18,
  name: 'stored date of service of each current resource (partner policies)',
  sql: 'ALTER TABLE resource ADD COLUMN service_date timestamptz;',
};
