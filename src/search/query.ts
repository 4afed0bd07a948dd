/**
 * Runs a search plan: one statement for the page (keyset paging on the sort keys, then type
 * and id — never OFFSET) and, when `_total` asks for it, one count. A cursor holds the
 * boundary row's keys; `next` continues after the last row, `previous` before the first
 * (the same query with every direction flipped, read backwards).
 */
import type pg from 'pg';
import { InvalidError } from '../errors.js';
import { shapedQuery } from '../store/statement-names.js';
import { partnerContentSqlForTypes } from '../policy/basis.js';
import { Binds, filterCondition } from './conditions.js';
import type { Filter, SearchPlan, SortKey } from './parse.js';

export interface Row {
  type: string;
  id: string;
  content: string;
  lastUpdated: Date;
}

/** A page boundary: the boundary row's key values, and which way to read from it. */
export interface Cursor {
  /** Digest of the query the cursor belongs to. */
  q: string;
  k: unknown[];
  dir: 'next' | 'prev';
}

interface KeyColumn {
  /** Expression over the inner select's alias `s`. */
  expr: string;
  cast: string;
  desc: boolean;
}

const SORT_SOURCE: Record<string, { table: string; asc: string; desc: string; cast: string }> = {
  date: { table: 'search_date', asc: 'min(x.low)', desc: 'max(x.high)', cast: 'timestamptz' },
  string: { table: 'search_string', asc: 'min(x.norm)', desc: 'max(x.norm)', cast: 'text' },
  token: { table: 'search_token', asc: 'min(x.code)', desc: 'max(x.code)', cast: 'text' },
  reference: { table: 'search_reference', asc: "min(coalesce(x.target_type || '/' || x.target_id, x.url))", desc: "max(coalesce(x.target_type || '/' || x.target_id, x.url))", cast: 'text' },
  quantity: { table: 'search_quantity', asc: 'min(x.value)', desc: 'max(x.value)', cast: 'numeric' },
  number: { table: 'search_quantity', asc: 'min(x.value)', desc: 'max(x.value)', cast: 'numeric' },
  uri: { table: 'search_uri', asc: 'min(x.value)', desc: 'max(x.value)', cast: 'text' },
};

/** The sort key as an expression over the resource row `r`, and its type. */
function sortExpression(b: Binds, key: SortKey): { sql: string; cast: string } {
  if (key.code === '_id') return { sql: 'r.id', cast: 'text' };
  if (key.code === '_lastUpdated') return { sql: 'r.last_updated', cast: 'timestamptz' };
  const src = SORT_SOURCE[key.param!.type];
  if (!src) throw new InvalidError(`_sort: cannot sort by '${key.code}'`, ['_sort']);
  return { sql: `(SELECT ${key.desc ? src.desc : src.asc} FROM ${src.table} x WHERE x.tenant = $1 AND x.type = r.type AND x.id = r.id AND x.param = ${b.add(key.param!.code)})`, cast: src.cast };
}

/** The WHERE clause for the plan's matches (with the granular-scope filter, if any). */
function whereClause(b: Binds, plan: SearchPlan, base: string, extra: Filter[]): string {
  const subject = { type: 'r.type', id: 'r.id', lastUpdated: 'r.last_updated', serviceDate: 'r.service_date' };
  // One type is an equality, not ANY(array): the planner then carries it into every index
  // condition (x.type = r.type = 'Patient'), so token and reference lookups start from the
  // value index instead of walking every resource of the type.
  const type = plan.types.length === 1 ? `r.type = ${b.add(plan.types[0])}` : `r.type = ANY(${b.add(plan.types, 'text[]')})`;
  const parts = ['r.tenant = $1', type, 'NOT r.deleted'];
  for (const f of [...plan.filters, ...extra]) parts.push(filterCondition(b, f, subject, base));
  return parts.join(' AND ');
}

export interface PageResult {
  rows: Row[];
  /** Cursor values of the first and last rows. */
  first?: unknown[];
  last?: unknown[];
  /** A further page exists in the direction read. */
  more: boolean;
}

function keyValue(v: unknown): unknown {
  return v instanceof Date ? v.toISOString() : v;
}

/**
 * One page of the search. `partner`: the caller is under a partner policy, so financial
 * resources come as their stored Basis rendition (src/policy/basis.ts `partnerJson` finishes
 * each row's JSON).
 */
export async function searchPage(db: pg.Pool, tenant: string, plan: SearchPlan, base: string, extra: Filter[], cursor?: Cursor, partner = false): Promise<PageResult> {
  const b = new Binds(tenant);
  // A partner policy over one member's rows (a patient hint, src/search/policy-filter.ts) is
  // checked after the sort, row by row until the page is full: the member's candidates are few
  // and cheap to sort, and the policy's per-row work (the date of service) is then done for
  // about a page of rows instead of all of the member's. Unbounded searches keep the policy in
  // the WHERE clause, so PostgreSQL never sorts rows it could have filtered out first.
  const late = extra.filter((f) => f.kind === 'policy' && typeof f.patient === 'string');
  const where = whereClause(b, plan, base, extra.filter((f) => !late.includes(f)));
  const sorts = plan.sort.map((k) => ({ ...sortExpression(b, k), desc: k.desc }));
  const select = sorts.map((s, i) => `${s.sql} AS k${i}`);
  const columns: KeyColumn[] = [];
  sorts.forEach((s, i) => {
    columns.push({ expr: `(s.k${i} IS NULL)`, cast: 'boolean', desc: false });
    columns.push({ expr: `s.k${i}`, cast: s.cast, desc: s.desc });
  });
  columns.push({ expr: 's.type', cast: 'text', desc: false }, { expr: 's.id', cast: 'text', desc: false });
  const reverse = cursor?.dir === 'prev';
  const flip = (desc: boolean) => desc !== reverse;
  let after = 'TRUE';
  if (cursor) {
    if (!Array.isArray(cursor.k) || cursor.k.length !== columns.length) throw new InvalidError('Invalid _page token', ['_page']);
    const terms: string[] = [];
    for (let i = 0; i < columns.length; i++) {
      const eqs = columns.slice(0, i).map((c, j) => (cursor.k[j] === null ? `${c.expr} IS NULL` : `${c.expr} = ${b.add(cursor.k[j], c.cast)}`));
      const c = columns[i];
      const strict = cursor.k[i] === null ? 'FALSE' : `${c.expr} ${flip(c.desc) ? '<' : '>'} ${b.add(cursor.k[i], c.cast)}`;
      terms.push(`(${[...eqs, strict].join(' AND ')})`);
    }
    after = terms.join(' OR ');
  }
  const orderBy = (cols: KeyColumn[]) => cols.map((c) => `${c.expr} ${flip(c.desc) ? 'DESC' : 'ASC'}`).join(', ');
  const order = orderBy(columns);
  const limit = b.add(plan.count + 1, 'int');
  const content = partner ? `${partnerContentSqlForTypes('r', plan.types)} AS content` : 'r.content';
  // The late checks read the stored date of service from the candidates' rows.
  const stored = late.length ? ', r.service_date' : '';
  const candidates = `SELECT r.type, r.id, ${content}, r.last_updated${stored}${select.map((s) => `, ${s}`).join('')} FROM resource r WHERE ${where}`;
  let sql = `SELECT s.* FROM (${candidates}) s WHERE ${after} ORDER BY ${order} LIMIT ${limit}`;
  if (late.length) {
    // OFFSET 0 keeps the sorted candidates a subquery of their own; the outer ORDER BY is met by
    // its order (no second sort), so the LIMIT stops the policy checks once the page is full.
    // The checks sit inside CASE so that PostgreSQL keeps them a per-row filter above the sort
    // instead of turning their EXISTS into a join over every candidate; with one type, the
    // (constant) type is left out of the order, which lets the outer ORDER BY see the inner one.
    const checks = late.map((f) => filterCondition(b, f, { type: 's.type', id: 's.id', lastUpdated: 's.last_updated', serviceDate: 's.service_date' }, base)).join(' AND ');
    const sorted = orderBy(columns.filter((c) => plan.types.length > 1 || c.expr !== 's.type'));
    // The stored date of service stays inside (the client would only parse it and drop it).
    const out = ['s.type', 's.id', 's.content', 's.last_updated', ...sorts.map((_, i) => `s.k${i}`)].join(', ');
    sql = `SELECT ${out} FROM (SELECT s.* FROM (${candidates}) s WHERE ${after} ORDER BY ${sorted} OFFSET 0) s
      WHERE CASE WHEN ${checks} THEN TRUE ELSE FALSE END ORDER BY ${sorted} LIMIT ${limit}`;
  }
  const { rows } = await db.query(shapedQuery(sql, b.values));
  const more = rows.length > plan.count;
  const page = rows.slice(0, plan.count);
  if (reverse) page.reverse();
  const keysOf = (r: Record<string, unknown>) => [...sorts.flatMap((_, i) => [r[`k${i}`] === null, keyValue(r[`k${i}`])]), r.type, r.id];
  return {
    rows: page.map((r) => ({ type: r.type, id: r.id, content: r.content, lastUpdated: r.last_updated })),
    first: page.length ? keysOf(page[0]) : undefined,
    last: page.length ? keysOf(page[page.length - 1]) : undefined,
    more,
  };
}

export async function searchCount(db: pg.Pool, tenant: string, plan: SearchPlan, base: string, extra: Filter[]): Promise<number> {
  const b = new Binds(tenant);
  const { rows } = await db.query<{ n: string }>(shapedQuery(`SELECT count(*) AS n FROM resource r WHERE ${whereClause(b, plan, base, extra)}`, b.values));
  return Number(rows[0].n);
}

/**
 * `_total=estimate`: exact while the matches are few (counting stops after `exactUpTo + 1`
 * rows, so it never walks millions), and beyond that PostgreSQL's planner estimate of the row
 * count, never less than what was counted. Cheap at any size, exact where exactness is cheap.
 */
export async function searchEstimate(db: pg.Pool, tenant: string, plan: SearchPlan, base: string, extra: Filter[], exactUpTo: number): Promise<number> {
  const b = new Binds(tenant);
  const where = whereClause(b, plan, base, extra);
  const whereValues = [...b.values];
  const cap = b.add(exactUpTo + 1, 'int');
  const { rows } = await db.query<{ n: string }>(shapedQuery(`SELECT count(*) AS n FROM (SELECT 1 FROM resource r WHERE ${where} LIMIT ${cap}) m`, b.values));
  const counted = Number(rows[0].n);
  if (counted <= exactUpTo) return counted;
  const { rows: explained } = await db.query<{ 'QUERY PLAN': { Plan: { 'Plan Rows': number } }[] }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE ${where}`, whereValues);
  return Math.max(counted, Math.round(explained[0]['QUERY PLAN'][0].Plan['Plan Rows']));
}
