/**
 * One statement of data-modifying CTEs (`WITH a AS (INSERT …), b AS (DELETE …) SELECT …`)
 * that several modules add to: a write and the index rows it implies travel in one round
 * trip. Every sub-statement sees the snapshot taken before the statement, so none may depend
 * on another's effect on the same table (removals and additions are separate statements).
 */
import { Binds } from './binds.js';

export class CteStatement {
  readonly binds: Binds;
  private readonly ctes: string[] = [];

  constructor(tenant: string) {
    this.binds = new Binds(tenant);
  }

  add(name: string, sql: string): void {
    this.ctes.push(`${name} AS (${sql})`);
  }

  get empty(): boolean {
    return this.ctes.length === 0;
  }

  /** The statement's text, ending with `select` (which may read the CTEs' RETURNING rows). */
  text(select = 'SELECT 1'): string {
    return `WITH ${this.ctes.join(',\n')} ${select}`;
  }
}
