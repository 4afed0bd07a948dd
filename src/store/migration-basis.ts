/**
 * Migration 17: the Basis rendition of each financial resource (src/policy/basis.ts), stored
 * beside its JSON when it is written. Partners (provider-access, payer-to-payer) receive
 * ExplanationOfBenefit, Claim, ClaimResponse and Coverage without money; rendering that per
 * request meant parsing and re-serialising every such resource on every search page, read
 * and export line — the largest part of the policy's cost. Stored, it streams as bytes like
 * any other JSON. NULL for other types and deletions, and for financial rows written before
 * this migration until the backfill (src/store/basis-backfill.ts) reaches them; readers
 * render those in Node, so the answer is the same either way.
 */
import type { Migration } from './migration.js';

export const basisRenditions: Migration = {
  version: 17,
  name: 'stored Basis renditions of financial resources (partner policies)',
  sql: `
    ALTER TABLE resource ADD COLUMN basis text;
    ALTER TABLE resource_history ADD COLUMN basis text;
    DO $$
    BEGIN
      ALTER TABLE resource ALTER COLUMN basis SET COMPRESSION lz4;
      ALTER TABLE resource_history ALTER COLUMN basis SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported THEN
      RAISE NOTICE 'lz4 is not available in this PostgreSQL build; Basis JSON stays pglz-compressed';
    END $$;
  `,
};
