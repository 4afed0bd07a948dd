/**
 * The resource repository: every SQL statement that reads or writes resources and their
 * versions. Writes are batch-shaped — the API writes batches of one, import writes
 * batches of hundreds — so both go through exactly the same statements.
 */
import type pg from 'pg';
import { ConflictError, PreconditionFailedError } from '../errors.js';
import { extractIndex } from '../fhir/extract.js';
import { stampResource } from '../fhir/resource.js';
import { serviceDateOf } from '../fhir/service-dates.js';
import type { Resource } from '../fhir/validation.js';
import { FINANCIAL_TYPES, withoutFinancialsJson } from '../policy/basis.js';
import { CteStatement } from './cte-statement.js';
import { WRITE_CLOCK_SQL } from './database.js';
import { shapedWrite } from './statement-names.js';
import { addIndexAdditions, addIndexRemovals, type IndexedResource } from './search-index.js';

type Queryable = pg.Pool | pg.PoolClient;

export interface StoredVersion {
  type: string;
  id: string;
  version: number;
  lastUpdated: Date;
  deleted: boolean;
  /** The stored JSON; null for a deletion. */
  content: string | null;
}

export interface PreparedWrite {
  method: 'create' | 'update' | 'delete';
  type: string;
  /** For `create` the server-assigned id. */
  id: string;
  /** Validated resource for create/update. */
  resource?: Resource;
  /** Expected current version (`If-Match`), if any. */
  ifMatch?: number;
}

export interface WriteResult extends StoredVersion {
  /** created: a new resource (or one revived after deletion); unchanged: a delete of nothing. */
  outcome: 'created' | 'updated' | 'deleted' | 'unchanged';
}

const COLUMNS = 'type, id, version, last_updated, deleted, content';

export function toVersion(row: { type: string; id: string; version: number; last_updated: Date; deleted: boolean; content: string | null }): StoredVersion {
  return { type: row.type, id: row.id, version: row.version, lastUpdated: row.last_updated, deleted: row.deleted, content: row.content };
}

/** A create of a new id raced with another create of the same id; the transaction is retried. */
class ConcurrentWriteError extends ConflictError {
  readonly retryable = true;
  constructor() {
    super('The resource was written concurrently by another request; retry');
  }
}

/**
 * Rows a caller writes in the same statement as the resources (e.g. `$member-match`'s
 * member_match row beside its Consent): one round trip fewer in the caller's transaction.
 */
export type Alongside = (stmt: CteStatement) => void;

/**
 * Writes a batch inside the caller's transaction. Each (type, id) may appear once per batch.
 * Existing rows are locked (in key order, so concurrent batches cannot deadlock), superseded
 * versions move to history, and search-index rows are rewritten (src/store/search-index.ts).
 */
export async function writeResources(client: pg.PoolClient, tenant: string, writes: PreparedWrite[], alongside?: Alongside, begun?: Date): Promise<WriteResult[]> {
  if (writes.length === 0) return [];
  const lockTypes: string[] = [];
  const lockIds: string[] = [];
  for (const w of writes) {
    if (w.method !== 'create') {
      lockTypes.push(w.type);
      lockIds.push(w.id);
    }
  }
  const existing = new Map<string, { version: number; deleted: boolean }>();
  if (lockIds.length) {
    const { rows } = await client.query<{ type: string; id: string; version: number; deleted: boolean }>(
      `SELECT type, id, version, deleted FROM resource
        WHERE tenant = $1 AND (type, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
        ORDER BY type, id FOR UPDATE`,
      [tenant, lockTypes, lockIds],
    );
    for (const r of rows) existing.set(`${r.type}/${r.id}`, { version: r.version, deleted: r.deleted });
  }
  // The transaction id is taken before the clock: an export's kick-off waits for every
  // transaction older than its snapshot, so no write stamped before its transactionTime can
  // still be uncommitted when the export reads (KO-44, src/bulk/jobs.ts).
  // `begun`, the clock read with the transaction's BEGIN (inWriteTransaction), serves a batch
  // that locks nothing; one that locks reads the clock after its locks, so that a version is
  // never stamped earlier than the version it replaces.
  const lastUpdated = begun && !lockIds.length ? begun : (await client.query<{ now: Date }>(WRITE_CLOCK_SQL)).rows[0].now;
  const instant = lastUpdated.toISOString();

  const results: WriteResult[] = [];
  const moved: { type: string; id: string }[] = [];
  const rows = { type: [] as string[], id: [] as string[], version: [] as number[], deleted: [] as boolean[], content: [] as (string | null)[], basis: [] as (string | null)[], serviceDate: [] as (string | null)[] };
  const indexed: IndexedResource[] = [];

  for (const w of writes) {
    const key = `${w.type}/${w.id}`;
    const prev = existing.get(key);
    if (w.ifMatch !== undefined && (!prev || prev.deleted || prev.version !== w.ifMatch)) {
      throw new PreconditionFailedError(
        prev && !prev.deleted
          ? `${key} is at version ${prev.version}, not ${w.ifMatch} (If-Match)`
          : `${key} does not exist, so If-Match version ${w.ifMatch} cannot match`,
      );
    }
    if (w.method === 'delete' && (!prev || prev.deleted)) {
      results.push({ type: w.type, id: w.id, version: prev?.version ?? 0, lastUpdated, deleted: true, content: null, outcome: 'unchanged' });
      continue;
    }
    const version = (prev?.version ?? 0) + 1;
    const content = w.method === 'delete' ? null : stampResource(w.resource!, { id: w.id, versionId: version, lastUpdated: instant });
    if (prev) moved.push({ type: w.type, id: w.id });
    rows.type.push(w.type);
    rows.id.push(w.id);
    rows.version.push(version);
    rows.deleted.push(w.method === 'delete');
    rows.content.push(content);
    // What partners receive of a financial resource, rendered once here (migration-basis.ts).
    rows.basis.push(content !== null && FINANCIAL_TYPES.has(w.type) ? withoutFinancialsJson(w.type, content) : null);
    // The index rows are extracted once: they are written below and give the date of service
    // the partner policies check (migration-service-date.ts).
    if (w.resource && w.method !== 'delete') {
      const index = extractIndex(w.resource);
      indexed.push({ type: w.type, id: w.id, resource: w.resource, rows: index });
      rows.serviceDate.push(serviceDateOf(w.type, index.date));
    } else rows.serviceDate.push(null);
    const outcome = w.method === 'delete' ? 'deleted' : !prev || prev.deleted ? 'created' : 'updated';
    results.push({ type: w.type, id: w.id, version, lastUpdated, deleted: w.method === 'delete', content, outcome });
  }

  // Two statements at most, each carrying the index rows it implies (search-index.ts): the
  // superseded versions to history with their index rows dropped, then the new versions with
  // their index rows. A batch of creates is one round trip.
  if (moved.length) {
    const before = new CteStatement(tenant);
    const mt = before.binds.add(moved.map((m) => m.type), 'text[]');
    const mi = before.binds.add(moved.map((m) => m.id), 'text[]');
    before.add('h', `INSERT INTO resource_history (tenant, ${COLUMNS}, basis) SELECT tenant, ${COLUMNS}, basis FROM resource WHERE tenant = $1 AND (type, id) IN (SELECT * FROM unnest(${mt}, ${mi}))`);
    addIndexRemovals(before, moved, indexed);
    await client.query(before.text(), before.binds.values);
  }
  if (rows.id.length || alongside) {
    const write = new CteStatement(tenant);
    const b = write.binds;
    // The WHERE makes a create that lost a race with another create of the same id a no-op,
    // which the row count below turns into a retry rather than a silently lost version.
    // The JSON texts travel as one JSON array rather than a text[]: JSON.stringify escapes
    // them natively into one flat string, where pg's array literal escapes each with a regex
    // and concatenates — at import batch sizes several times the client CPU, and slower for
    // PostgreSQL to take apart too (measured with bench/import.ts).
    if (rows.id.length) write.add(
      'w',
      `INSERT INTO resource (tenant, type, id, version, last_updated, deleted, content, basis, service_date)
       SELECT $1, t, i, v, ${b.add(lastUpdated)}::timestamptz, d, c, f, s
         FROM ROWS FROM (unnest(${b.add(rows.type, 'text[]')}), unnest(${b.add(rows.id, 'text[]')}), unnest(${b.add(rows.version, 'int[]')}), unnest(${b.add(rows.deleted, 'bool[]')}), json_array_elements_text(${b.add(JSON.stringify(rows.content), 'json')}), json_array_elements_text(${b.add(JSON.stringify(rows.basis), 'json')}), unnest(${b.add(rows.serviceDate, 'timestamptz[]')})) AS u(t, i, v, d, c, f, s)
       ON CONFLICT (tenant, type, id) DO UPDATE
         SET version = EXCLUDED.version, last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, content = EXCLUDED.content, basis = EXCLUDED.basis,
           service_date = EXCLUDED.service_date
         WHERE resource.version = EXCLUDED.version - 1
       RETURNING 1`,
    );
    addIndexAdditions(write, indexed);
    alongside?.(write);
    if (!write.empty) {
      const { rows: written } = await client.query<{ n: number }>(shapedWrite(write.text(rows.id.length ? 'SELECT count(*)::int AS n FROM w' : 'SELECT 0 AS n'), b.values));
      if (written[0].n !== rows.id.length) throw new ConcurrentWriteError();
    }
  }
  return results;
}

/** The current version (possibly a deletion), or undefined when the id was never written. */
export async function readCurrent(db: Queryable, tenant: string, type: string, id: string): Promise<StoredVersion | undefined> {
  // A named statement: each connection parses and plans it once (reads are the hottest path).
  const { rows } = await db.query({ name: 'resource-read-current', text: `SELECT ${COLUMNS} FROM resource WHERE tenant = $1 AND type = $2 AND id = $3`, values: [tenant, type, id] });
  return rows[0] ? toVersion(rows[0]) : undefined;
}

/** Current versions of several resources of one tenant in one statement, keyed `type/id` (see current-reads.ts). */
export async function readCurrentMany(db: Queryable, tenant: string, keys: { type: string; id: string }[]): Promise<Map<string, StoredVersion>> {
  const { rows } = await db.query({
    name: 'resource-read-current-many',
    text: `SELECT ${COLUMNS} FROM resource WHERE tenant = $1 AND (type, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
    values: [tenant, keys.map((k) => k.type), keys.map((k) => k.id)],
  });
  return new Map(rows.map((r) => [`${r.type}/${r.id}`, toVersion(r)]));
}

export async function readVersion(db: Queryable, tenant: string, type: string, id: string, version: number): Promise<StoredVersion | undefined> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM resource WHERE tenant = $1 AND type = $2 AND id = $3 AND version = $4
     UNION ALL
     SELECT ${COLUMNS} FROM resource_history WHERE tenant = $1 AND type = $2 AND id = $3 AND version = $4`,
    [tenant, type, id, version],
  );
  return rows[0] ? toVersion(rows[0]) : undefined;
}

/** Ids of current, non-deleted resources of `type` carrying the identifier token. */
export async function findByIdentifier(db: Queryable, tenant: string, type: string, system: string | null | undefined, code: string, limit = 2): Promise<string[]> {
  // system undefined: any system; null: no system (the `|code` form).
  const { rows } = await db.query<{ id: string }>(
    `SELECT DISTINCT id FROM search_token
      WHERE tenant = $1 AND type = $2 AND param = 'identifier' AND code = $3
        AND ($4::boolean OR system IS NOT DISTINCT FROM $5)
      LIMIT $6`,
    [tenant, type, code, system === undefined, system ?? null, limit],
  );
  return rows.map((r) => r.id);
}

/** Position after which a history page continues (newest first). */
export interface HistoryCursor {
  lastUpdated: string;
  type: string;
  id: string;
  version: number;
}

export interface HistoryQuery {
  type?: string;
  id?: string;
  since?: Date;
  at?: Date;
  count: number;
  after?: HistoryCursor;
}

/**
 * History newest first, keyset-paged on (lastUpdated, type, id, version): one more row than
 * `count` is returned when a further page exists.
 */
export async function readHistory(db: Queryable, tenant: string, q: HistoryQuery): Promise<StoredVersion[]> {
  const params: unknown[] = [tenant];
  const where = ['tenant = $1'];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (q.type) add('type = ?', q.type);
  if (q.id) add('id = ?', q.id);
  if (q.since) add('last_updated >= ?', q.since);
  if (q.at) add('last_updated <= ?', q.at);
  if (q.after) {
    params.push(q.after.lastUpdated, q.after.type, q.after.id, q.after.version);
    const n = params.length;
    where.push(`(last_updated, type, id, version) < ($${n - 3}::timestamptz, $${n - 2}, $${n - 1}, $${n}::int)`);
  }
  params.push(q.count + 1);
  const limit = `$${params.length}`;
  const order = 'ORDER BY last_updated DESC, type DESC, id DESC, version DESC';
  const part = (table: string) => `(SELECT ${COLUMNS} FROM ${table} WHERE ${where.join(' AND ')} ${order} LIMIT ${limit})`;
  const { rows } = await db.query(`SELECT * FROM (${part('resource')} UNION ALL ${part('resource_history')}) h ${order} LIMIT ${limit}`, params);
  return rows.map(toVersion);
}
