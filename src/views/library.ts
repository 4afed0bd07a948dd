/**
 * The views this project ships as data (`views/*.json` at the repository root): member months,
 * claim lines, diagnoses per member, HbA1c and blood-pressure results, medication fills and
 * attribution. They are loaded into a tenant as stored ViewDefinitions (the demo tenant gets
 * them on start), each validated like any write and rewritten only when the file changed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { validateResource, type Resource } from '../fhir/validation.js';
import { performWrites } from '../interactions/writes.js';
import { inTransaction } from '../store/database.js';
import { readCurrent } from '../store/resources.js';

/** Compiled to dist/src/views: the repository root is three levels up. */
export const SHIPPED_VIEWS_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'views');

/** The shipped ViewDefinitions, validated, in file-name order. */
export async function shippedViews(dir = SHIPPED_VIEWS_DIR): Promise<Resource[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => validateResource(JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')), 'ViewDefinition')));
}

function sameContent(stored: string, view: Resource): boolean {
  const { meta: _m, ...a } = JSON.parse(stored) as Resource;
  const { meta: _n, ...b } = view;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Stores the shipped views in `tenant` under their own ids; returns how many were written (unchanged ones are not). */
export async function loadShippedViews(pool: pg.Pool, tenant: string, dir = SHIPPED_VIEWS_DIR): Promise<number> {
  const views = await shippedViews(dir);
  const changed: Resource[] = [];
  for (const v of views) {
    const current = await readCurrent(pool, tenant, 'ViewDefinition', v.id!);
    if (!current || current.deleted || !sameContent(current.content!, v)) changed.push(v);
  }
  if (changed.length) {
    await inTransaction(pool, (client) => performWrites(client, tenant, changed.map((v) => ({ method: 'PUT' as const, type: 'ViewDefinition', id: v.id!, resource: v }))));
  }
  return changed.length;
}
