/**
 * Seed benchmark: how fast `seedTenant` generates and loads a synthetic population
 * (generation, R4 validation, performWrites with search indexing, one transaction per batch),
 * against the issue's goal — 10,000 members (about a million resources) in under 5 minutes.
 * A generator-only pass (generate + validate, no database) shows how much of the time is
 * this process and how much is the database write path.
 *
 *   npm run bench -- seed          (BENCH_SEED_MEMBERS=10000 by default)
 *
 * Prints a table, then one JSON line: {"bench":"seed","figures":[…]}.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { loadConfig } from '../src/config.js';
import { FhirError } from '../src/errors.js';
import { setInvariantChecking, validateResource, warmUpValidation } from '../src/fhir/validation.js';
import { generatePopulation } from '../src/seed/generator.js';
import { seedTenant } from '../src/seed/load.js';
import { openDatabase } from '../src/store/database.js';
import { dropTenant, figure, table, withPeakRss, type Figure } from './lib/report.js';
import { addTenant } from '../src/store/tenants.js';

const MEMBERS = Number(process.env.BENCH_SEED_MEMBERS ?? 10_000);
const SEED = process.env.BENCH_SEED_SEED ?? 'bench';
/** The issue's goal: 10,000 members seeded in under 300 s on a 2-core machine (scaled to other sizes). */
const GOAL_SECONDS = (300 * MEMBERS) / 10_000;
/** Memory must stay flat: far below what the population's JSON would take in memory. */
const RSS_LIMIT_MB = 512;
const MB = 1024 * 1024;

/**
 * Generation and validation alone, no database: the floor this process sets. With `invariants`,
 * a resource the R4 invariants refuse is counted (per rule) instead of stopping the pass, so
 * the figure is the plan's violation count (issue #16's goal: zero).
 */
async function generatorOnly(invariants: boolean): Promise<{ resources: number; ms: number; peakRss: number; violations: number; rules: Record<string, number> }> {
  setInvariantChecking(invariants);
  let violations = 0;
  const rules: Record<string, number> = {};
  const { result, peakRss } = await withPeakRss(async () => {
    const started = performance.now();
    let resources = 0;
    for (const r of generatePopulation({ seed: SEED, members: MEMBERS })) {
      try {
        validateResource(r);
      } catch (err) {
        if (!(err instanceof FhirError) || !err.issues.some((i) => i.rule)) throw err;
        violations++;
        for (const i of err.issues) if (i.rule) rules[i.rule] = (rules[i.rule] ?? 0) + 1;
      }
      JSON.stringify(r);
      // Let the RSS sampler run now and then.
      if (++resources % 20_000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return { resources, ms: performance.now() - started };
  });
  setInvariantChecking(true);
  return { ...result, peakRss, violations, rules };
}

async function main(): Promise<void> {
  const db = await openDatabase(loadConfig(), (m) => process.stderr.write(`${m}\n`));
  const tenant = `bench-seed-${crypto.randomBytes(4).toString('hex')}`;
  try {
    await addTenant(db.pool, tenant);
    warmUpValidation();
    process.stderr.write(`generating ${MEMBERS} members without the database, without then with the R4 invariants…\n`);
    const plain = await generatorOnly(false);
    const gen = await generatorOnly(true);
    process.stderr.write(`R4 invariant violations in the plan: ${gen.violations} ${JSON.stringify(gen.rules)}\n`);
    process.stderr.write(`seeding ${MEMBERS} members into tenant ${tenant}…\n`);
    const { result, peakRss } = await withPeakRss(() => seedTenant(db.pool, tenant, { seed: SEED, members: MEMBERS }));
    if (result.written !== gen.resources) throw new Error(`seed wrote ${result.written} resources, the generator made ${gen.resources}`);
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant = $1', [tenant]);
    if (Number(rows[0].n) !== gen.resources) throw new Error(`the resource table holds ${rows[0].n} rows, expected ${gen.resources}`);

    const seconds = result.elapsedMs / 1000;
    const genSeconds = gen.ms / 1000;
    const goalRate = gen.resources / GOAL_SECONDS;
    const peakMb = peakRss / MB;
    process.stdout.write(
      table([
        ['', 'members', 'resources', 'seconds', 'members/s', 'resources/s', 'peak RSS MB'],
        ['seed (generate, validate, write)', String(MEMBERS), String(result.written), seconds.toFixed(1), (MEMBERS / seconds).toFixed(1), (result.written / seconds).toFixed(0), peakMb.toFixed(0)],
        ['generator only (generate, validate)', String(MEMBERS), String(gen.resources), genSeconds.toFixed(1), (MEMBERS / genSeconds).toFixed(1), (gen.resources / genSeconds).toFixed(0), (gen.peakRss / MB).toFixed(0)],
        ['generator, validate without invariants', String(MEMBERS), String(plain.resources), (plain.ms / 1000).toFixed(1), (MEMBERS / (plain.ms / 1000)).toFixed(1), (plain.resources / (plain.ms / 1000)).toFixed(0), (plain.peakRss / MB).toFixed(0)],
      ]) +
        `\n\nR4 invariant violations in the plan: ${gen.violations}; checking them adds ${(((gen.ms - plain.ms) / plain.ms) * 100).toFixed(0)}% to the generator-only pass` +
        `\n${(gen.resources / MEMBERS).toFixed(1)} resources per member; goal ${GOAL_SECONDS.toFixed(0)} s for the seed (${goalRate.toFixed(0)} resources/s);` +
        ` the generator accounts for ${((genSeconds / seconds) * 100).toFixed(0)}% of the seed's wall time\n`,
    );
    const figures = [
      figure('seed_wall_time', seconds, 's', GOAL_SECONDS),
      figure('seed_members_per_s', MEMBERS / seconds, 'members/s', MEMBERS / GOAL_SECONDS),
      figure('seed_resources_per_s', result.written / seconds, 'resources/s', goalRate),
      figure('generator_resources_per_s', gen.resources / genSeconds, 'resources/s', goalRate),
      figure('generator_resources_per_s_vs_no_invariants', gen.resources / genSeconds, 'resources/s', plain.resources / (plain.ms / 1000)),
      // Goal zero: a limit of 1 keeps the ratio defined (0 = none).
      figure('seed_invariant_violations', gen.violations, 'resources', 1),
      figure('seed_peak_rss', peakMb, 'MB', RSS_LIMIT_MB),
    ];
    process.stdout.write(`${JSON.stringify({ bench: 'seed', figures })}\n`);
  } finally {
    await dropTenant(db.pool, tenant).catch((err) => process.stderr.write(`cleanup failed: ${(err as Error).message}\n`));
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`bench seed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
