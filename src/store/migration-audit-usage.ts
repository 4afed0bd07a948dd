/**
 * Migration 6: hourly request and byte counts per client, kept beside the audit trail as it is
 * appended. The volume alert compares a client's last window with its own average over days;
 * read from the trail, that baseline meant scanning every record of a busy client's week on
 * each rule run (tens of millions of rows every 30 s); from this table it is at most 24 rows
 * a day per client.
 */
import type { Migration } from './migration.js';

export const auditUsage: Migration = {
  version: 6,
  name: 'hourly usage per client for the volume alert',
  sql: `
    CREATE TABLE audit_usage (
      tenant text NOT NULL,
      client_id text NOT NULL,
      -- start of the UTC hour
      hour timestamptz NOT NULL,
      requests bigint NOT NULL,
      bytes bigint NOT NULL,
      PRIMARY KEY (tenant, client_id, hour)
    );
    INSERT INTO audit_usage (tenant, client_id, hour, requests, bytes)
    SELECT tenant, client_id, date_trunc('hour', recorded AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), coalesce(sum(bytes), 0)
      FROM audit_event WHERE client_id IS NOT NULL
     GROUP BY 1, 2, 3;
  `,
};
