/**
 * Loads a generated population into a tenant through the same path as the API and import:
 * every resource is checked with `validateResource` and written with `performWrites`, in
 * batches of a few hundred per transaction. Writes are PUTs of the generated ids, so seeding
 * the same seed twice updates the same resources instead of duplicating them.
 *
 * Generating is CPU work in this process and writing is mostly work in PostgreSQL, so the next
 * batch is generated while the previous one is being written (yielding to the event loop often
 * enough for the write's round trips to proceed).
 */
import { ANALYZE_AFTER_RESOURCES, LoadStatistics, refreshStatistics } from '../store/statistics.js';
import type pg from 'pg';
import { validateResource, type Resource } from '../fhir/validation.js';
import { performWrites, type WriteRequest } from '../interactions/writes.js';
import { beginStatement, flushCommits } from '../import/sinks.js';
import { isRetryable } from '../store/database.js';
import { tenantExists } from '../store/tenants.js';
import { generatePopulation, type SeedOptions } from './generator.js';

export interface SeedLoadOptions extends SeedOptions {
  /** Resources per transaction (default 500). */
  batchSize?: number;
  /**
   * Batches written at once (default 2): while this process generates, PostgreSQL indexes
   * more than one batch on its own cores.
   */
  concurrency?: number;
  /** Called after each committed batch with the running total. */
  onProgress?: (written: number) => void;
}

export interface SeedResult {
  counts: Record<string, number>;
  written: number;
  elapsedMs: number;
}

export class SeedTenantError extends Error {
  constructor(tenant: string) {
    super(`unknown tenant '${tenant}'; create it first with: payer-fhir tenants add ${tenant}`);
  }
}

export const DEFAULT_SEED_BATCH = 500;
export const DEFAULT_SEED_CONCURRENCY = 2;
const ATTEMPTS = 4;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));


async function writeBatch(pool: pg.Pool, tenant: string, begin: string, resources: Resource[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    // performWrites stamps ids into the resources it is given; a retry starts from copies.
    const requests: WriteRequest[] = resources.map((r) => ({ method: 'PUT', type: r.resourceType, id: r.id, resource: attempt === 1 ? r : structuredClone(r) }));
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(begin);
      await performWrites(client, tenant, requests);
      await client.query('COMMIT');
      return;
    } catch (err) {
      broken = !(await client.query('ROLLBACK').then(() => true, () => false));
      if (attempt < ATTEMPTS && isRetryable(err)) continue;
      throw err;
    } finally {
      client.release(broken || undefined);
    }
  }
}

/** Generates the population for `options` and writes it into `tenant` (which must exist). */
export async function seedTenant(pool: pg.Pool, tenant: string, options: SeedLoadOptions): Promise<SeedResult> {
  const started = performance.now();
  if (!(await tenantExists(pool, tenant))) throw new SeedTenantError(tenant);
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_SEED_BATCH);
  const begin = await beginStatement(pool);
  const counts: Record<string, number> = {};
  let written = 0;
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_SEED_CONCURRENCY);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let batch: Resource[] = [];
  const statistics = new LoadStatistics(pool);
  const flush = async () => {
    const full = batch;
    batch = [];
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const write: Promise<void> = writeBatch(pool, tenant, begin, full).then(
      async () => {
        written += full.length;
        options.onProgress?.(written);
        await statistics.wrote(full.length);
      },
      (err) => {
        failure ??= err;
      },
    ).finally(() => inFlight.delete(write));
    inFlight.add(write);
  };
  let sinceTurn = 0;
  for (const resource of generatePopulation(options)) {
    try {
      validateResource(resource);
    } catch (err) {
      throw new Error(`generated ${resource.resourceType}/${resource.id} is not valid R4 (a generator bug): ${(err as Error).message}`);
    }
    counts[resource.resourceType] = (counts[resource.resourceType] ?? 0) + 1;
    batch.push(resource);
    if (batch.length >= batchSize) await flush();
    if (++sinceTurn === 64) {
      sinceTurn = 0;
      await turn();
    }
  }
  if (batch.length) await flush();
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  await flushCommits(pool);
  if (written >= ANALYZE_AFTER_RESOURCES) await refreshStatistics(pool);
  return { counts, written, elapsedMs: performance.now() - started };
}
