/**
 * Names for statements whose text is built per request (searches), so PostgreSQL parses and
 * plans each shape once per connection instead of on every request: the values change, the
 * text of a given combination of parameters does not. A named statement is prepared on first
 * use on each pooled connection and kept for that connection's life (the driver never
 * deallocates), about 50 kB per shape per connection with its plan, so the number of shapes
 * a process names is capped; past the cap a statement simply runs unnamed, as before.
 *
 * After five executions PostgreSQL may keep a generic plan for a shape. The search statements
 * are built so that their plans do not hinge on the values (tenant-first indexes, one type as
 * an equality), which is what makes a generic plan safe here.
 */
import type pg from 'pg';

const DEFAULT_LIMIT = 100;

const names = new Map<string, string>();
let limit = DEFAULT_LIMIT;

/** How many distinct statement shapes this process names (0: none; every statement unnamed). */
export function setStatementShapeLimit(max: number): void {
  limit = Math.max(0, max);
}

/** The statement as a query config, named when its shape is known or there is room for it. */
export function shapedQuery(text: string, values: unknown[]): pg.QueryConfig {
  if (limit === 0) return { text, values };
  let name = names.get(text);
  if (!name && names.size < limit) {
    name = `shape-${names.size + 1}`;
    names.set(text, name);
  }
  return name ? { name, text, values } : { text, values };
}

/**
 * Write statements (store/resources.ts: a batch's rows and the index rows they imply, one
 * data-modifying CTE per table written) are named the same way, apart from the searches and
 * under a cap of their own: their shape is the set of tables a batch writes, so a process sees
 * a few dozen at most, and planning one costs PostgreSQL more than executing a small create.
 * Every value travels as an array (unnest), so no plan hinges on the values.
 */
const WRITE_SHAPES = 32;
const writeNames = new Map<string, string>();

export function shapedWrite(text: string, values: unknown[]): pg.QueryConfig {
  let name = writeNames.get(text);
  if (!name && writeNames.size < WRITE_SHAPES) {
    name = `write-${writeNames.size + 1}`;
    writeNames.set(text, name);
  }
  return name ? { name, text, values } : { text, values };
}

/** Shapes named so far (for tests and metrics). */
export function namedShapes(): number {
  return names.size;
}
