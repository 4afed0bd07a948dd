/**
 * The write pipeline shared by create, update, delete, batch/transaction Bundles and import:
 * conditional-create matching, server id assignment, `urn:uuid:` resolution in every
 * reference, then one batched store write. Resources arrive here already validated.
 */
import type pg from 'pg';
import type { Access } from '../auth/access.js';
import { FhirError, ForbiddenError, InvalidError, NotSupportedError, PreconditionFailedError, type Issue } from '../errors.js';
import { newResourceId } from '../fhir/ids.js';
import { isResourceType } from '../fhir/schema.js';
import { parseSearch } from '../search/parse.js';
import { searchPage } from '../search/query.js';
import { matchesAnyFilter } from '../fhir/scope-filter.js';
import { rewriteReferences } from '../fhir/resource.js';
import type { Resource } from '../fhir/validation.js';
import { CteStatement } from '../store/cte-statement.js';
import { findByIdentifier, readCurrent, writeResources, type PreparedWrite, type StoredVersion, type WriteResult } from '../store/resources.js';

export interface WriteRequest {
  method: 'POST' | 'PUT' | 'DELETE';
  type: string;
  /** PUT/DELETE: the id from the URL. */
  id?: string;
  resource?: Resource;
  /** Bundle entry fullUrl (e.g. `urn:uuid:…`), mapped to the resource's final `Type/id`. */
  fullUrl?: string;
  /** Conditional create criteria (`If-None-Exist` / `request.ifNoneExist`). */
  ifNoneExist?: string;
  ifMatch?: number;
  /** Where this request came from, for error messages (e.g. `Bundle.entry[3]`). */
  label?: string;
  /** Warning-severity invariants the resource failed (reported, never refused). */
  warnings?: Issue[];
  /** Import's `--on-unresolved keep`: a `urn:uuid:` reference matching no fullUrl is stored as written. */
  keepUrnReferences?: boolean;
}

export type WriteOutcome = WriteResult | (StoredVersion & { outcome: 'exists' });

/**
 * Resolves search criteria (`If-None-Exist`, `ifNoneExist`, conditional references) to at most
 * two matching ids, which is all callers need to tell none, one and several apart. The common
 * single `_id` or `identifier` criterion takes a direct index lookup (import of Synthea-style
 * Bundles leans on it); anything else runs through the search engine, strictly: a criterion
 * the server cannot evaluate is an error, never silently ignored.
 */
export async function matchCriteria(db: pg.PoolClient | pg.Pool, tenant: string, type: string, criteria: string, label = 'If-None-Exist'): Promise<string[]> {
  const query = criteria.includes('?') ? criteria.slice(criteria.indexOf('?') + 1) : criteria;
  const params = [...new URLSearchParams(query)];
  if (params.length === 0) throw new InvalidError(`${label}: no search criteria given`);
  if (params.length > 1 || (params[0][0] !== '_id' && params[0][0] !== 'identifier')) {
    try {
      const plan = parseSearch([type], false, params, { defaultCount: 2, maxCount: 2, strict: true });
      plan.count = 2;
      // A PoolClient answers queries like the pool, inside the caller's transaction.
      const page = await searchPage(db as pg.Pool, tenant, plan, '', []);
      return page.rows.map((r) => r.id);
    } catch (err) {
      if (err instanceof FhirError && err.status === 400) throw new InvalidError(`${label}: ${err.issues[0]?.diagnostics ?? 'invalid criteria'}`);
      throw err;
    }
  }
  const [name, value] = params[0];
  if (name === '_id') {
    const found = await readCurrent(db, tenant, type, value);
    return found && !found.deleted ? [found.id] : [];
  }
  if (name === 'identifier') {
    const bar = value.indexOf('|');
    if (bar < 0) return findByIdentifier(db, tenant, type, undefined, value);
    const system = value.slice(0, bar);
    const code = value.slice(bar + 1);
    if (!code) throw new InvalidError(`${label}: identifier needs a value after '|'`);
    return findByIdentifier(db, tenant, type, system === '' ? null : system, code);
  }
  throw new NotSupportedError(`${label}: the criterion '${name}' is not supported`);
}

const CONDITIONAL_REFERENCE = /^[A-Z][A-Za-z]+\?./;

/**
 * Conditional references (`Patient?identifier=…`, as Synthea writes them): each must match
 * exactly one existing resource, and becomes `Type/id` (FHIR transaction rules).
 */
async function resolveConditionalReferences(client: pg.PoolClient, tenant: string, requests: WriteRequest[], targets: Map<string, string>): Promise<void> {
  for (const r of requests) {
    if (!r.resource) continue;
    const found: string[] = [];
    rewriteReferences(r.resource, (ref) => {
      if (CONDITIONAL_REFERENCE.test(ref) && !targets.has(ref)) found.push(ref);
      return undefined;
    });
    for (const ref of found) {
      if (targets.has(ref)) continue;
      const type = ref.slice(0, ref.indexOf('?'));
      if (!isResourceType(type)) throw new InvalidError(`${r.label ?? r.type}: conditional reference '${ref}' names an unknown type`);
      const ids = await matchCriteria(client, tenant, type, ref, `${r.label ?? r.type}: conditional reference`);
      if (ids.length === 0) throw new InvalidError(`${r.label ?? r.type}: conditional reference '${ref}' matches no resource`);
      if (ids.length > 1) throw new PreconditionFailedError(`${r.label ?? r.type}: conditional reference '${ref}' matches several resources`);
      targets.set(ref, `${type}/${ids[0]}`);
    }
  }
}

const WRITE_PERMISSION = { POST: 'c', PUT: 'u', DELETE: 'd' } as const;

/**
 * Scope check for one write (RS-02): create needs `c`, update `u`, delete `d`. Under a
 * granular scope the written resource must satisfy the filter; a filtered delete is refused
 * because the filter cannot be checked against what is being removed without reading it.
 */
function authorizeWrite(access: Access, r: WriteRequest): void {
  const filters = access.require(r.type, WRITE_PERMISSION[r.method]);
  if (!filters) return;
  if (r.method === 'DELETE') throw new ForbiddenError(`Deleting ${r.type} needs an unfiltered scope`);
  if (!matchesAnyFilter(r.resource!, filters)) throw new ForbiddenError(`${r.label ?? r.type}: the resource is outside the granted scope's filter`);
}

/**
 * Performs the writes in the caller's transaction, in order, and returns one outcome per request.
 * References to another request's `fullUrl` are rewritten to its final `Type/id`. `alongside`
 * adds rows of the caller's to the statement that writes the resources (one round trip fewer);
 * it is told the id each request wrote (or the conditional create matched). `begun`: the clock
 * read with the transaction's BEGIN (store/database.ts inWriteTransaction).
 */
export async function performWrites(
  client: pg.PoolClient,
  tenant: string,
  requests: WriteRequest[],
  access?: Access,
  alongside?: (stmt: CteStatement, ids: string[]) => void,
  begun?: Date,
): Promise<WriteOutcome[]> {
  if (access) for (const r of requests) authorizeWrite(access, r);
  const outcomes: (WriteOutcome | undefined)[] = new Array(requests.length);
  const finalIds: string[] = new Array(requests.length);
  const targets = new Map<string, string>();
  const plans: { index: number; write: PreparedWrite }[] = [];

  for (const [index, r] of requests.entries()) {
    if (r.method === 'POST' && r.ifNoneExist) {
      // Serialise conditional creates with the same criteria until this transaction ends, so two
      // concurrent requests cannot both find nothing and both create.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [JSON.stringify([tenant, r.type, r.ifNoneExist])]);
      const ids = await matchCriteria(client, tenant, r.type, r.ifNoneExist, `${r.label ?? ''} ifNoneExist`.trim());
      if (ids.length > 1) throw new PreconditionFailedError(`${r.label ?? 'If-None-Exist'}: the criteria match ${ids.length} resources`);
      if (ids.length === 1) {
        const existing = (await readCurrent(client, tenant, r.type, ids[0]))!;
        outcomes[index] = { ...existing, outcome: 'exists' };
        finalIds[index] = existing.id;
        if (r.fullUrl) targets.set(r.fullUrl, `${r.type}/${existing.id}`);
        continue;
      }
    }
    const id = r.method === 'POST' ? newResourceId() : r.id!;
    finalIds[index] = id;
    if (r.fullUrl) targets.set(r.fullUrl, `${r.type}/${id}`);
    plans.push({ index, write: { method: r.method === 'POST' ? 'create' : r.method === 'PUT' ? 'update' : 'delete', type: r.type, id, resource: r.resource, ifMatch: r.ifMatch } });
  }

  await resolveConditionalReferences(client, tenant, requests, targets);

  const seen = new Set<string>();
  for (const { index, write } of plans) {
    const key = `${write.type}/${write.id}`;
    const label = requests[index].label;
    if (seen.has(key)) throw new InvalidError(`${label ?? key}: ${key} is written twice in one transaction`, label ? [`${label}.request.url`] : undefined);
    seen.add(key);
    if (!write.resource) continue;
    write.resource.id = write.id;
    rewriteReferences(write.resource, (ref) => {
      const target = targets.get(ref);
      if (target) return target;
      if ((ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) && !requests[index].keepUrnReferences) {
        throw new InvalidError(`${label ?? key}: reference '${ref}' matches no entry's fullUrl`, label ? [`${label}.resource`] : undefined);
      }
      return undefined;
    });
  }

  const rows = alongside && ((stmt: CteStatement) => alongside(stmt, finalIds));
  const written = await writeResources(client, tenant, plans.map((p) => p.write), rows, begun);
  if (rows && !plans.length) {
    // Nothing to write (every conditional create found its match): the caller's rows alone.
    const stmt = new CteStatement(tenant);
    rows(stmt);
    if (!stmt.empty) await client.query(stmt.text(), stmt.binds.values);
  }
  plans.forEach((p, i) => (outcomes[p.index] = written[i]));
  return outcomes as WriteOutcome[];
}
