/**
 * The partner access policy's cost (issue 12), as ratios measured in one run against the same
 * work under `internal`:
 * - a Group export of the plan's largest attribution list by a provider-access client acting
 *   for that list's provider, against an internal client's export of the same Group
 *   (goal ≤ 1.3× the time), with the server's peak RSS;
 * - read and search of an in-policy member (Patient/[id], Observation?patient, EOB?patient)
 *   by the provider client, against the same requests by an internal client (goal ≥ 0.8 of
 *   the throughput), alternating rounds so the host's drift hits both alike.
 * The server is a `serve` process of its own (autocannon stays in this one, so the load
 * generator's work is not counted as the server's). The plan is the export benchmark's kept
 * `bench-export-<members>`, which this benchmark only reads.
 *
 *   npm run bench -- policy   (BENCH_POLICY_MEMBERS=10000, BENCH_POLICY_SECONDS=5)
 */
import autocannon from 'autocannon';
import { loadConfig } from '../src/config.js';
import { fhirBase } from '../src/http/urls.js';
import type { Organization, PolicyKind } from '../src/policy/partner-policy.js';
import { openDatabase } from '../src/store/database.js';
import { peakRss } from './lib/process.js';
import { secretClientToken, startServeProcess } from './lib/server.js';
import { figure, printFigures, table, type Figure } from './lib/report.js';
import { ensureSeeded } from './lib/seeded.js';

const MEMBERS = Number(process.env.BENCH_POLICY_MEMBERS ?? 10_000);
const SECONDS = Number(process.env.BENCH_POLICY_SECONDS ?? 5);
const NPI = 'http://hl7.org/fhir/sid/us-npi';

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const db = await openDatabase(config, (m) => process.stderr.write(`${m}\n`));
  const figures: Figure[] = [];
  try {
    const { tenant } = await ensureSeeded(db.pool, MEMBERS);
    const server = await startServeProcess({ RATE_LIMIT_CLIENT: '0', EXPORT_RETRY_AFTER: '1' }, 2);
    const { origin } = server;
    const base = fhirBase(origin, tenant);
    const { rows: lists } = await db.pool.query<{ group_id: string; org_value: string; n: number }>(
      `SELECT g.group_id, g.org_value, (SELECT count(*)::int FROM partner_group_member m WHERE m.tenant = g.tenant AND m.group_id = g.group_id) AS n
         FROM partner_group g WHERE g.tenant = $1 AND g.kind = 'attribution' AND g.org_system = $2 ORDER BY n DESC LIMIT 1`,
      [tenant, NPI],
    );
    const list = lists[0];
    const token = (policy: PolicyKind, organization?: Organization) => secretClientToken(db.pool, origin, tenant, { name: `bench ${policy}`, policy, organization });
    const internal = await token('internal');
    const provider = await token('provider-access', { system: NPI, value: list.org_value });
    try {
      // Group export, the same list under each policy, alternated twice.
      const exportOnce = async (auth: string): Promise<{ seconds: number; resources: number }> => {
        const k = await fetch(`${base}/Group/${list.group_id}/$export`, { headers: { authorization: auth, accept: 'application/fhir+json', prefer: 'respond-async' } });
        if (k.status !== 202) throw new Error(`kick-off ${k.status}: ${await k.text()}`);
        const status = k.headers.get('content-location')!;
        for (;;) {
          const r = await fetch(status, { headers: { authorization: auth } });
          if (r.status === 200) {
            const manifest = (await r.json()) as { output: { count: number }[] };
            // The job's own time (kick-off to its last unit), not the polls': those round it up to the next second.
            const { rows: job } = await db.pool.query<{ s: number }>('SELECT extract(epoch FROM completed_at - created_at)::float8 AS s FROM export_job WHERE id = $1', [status.split('/').pop()]);
            await fetch(status, { method: 'DELETE', headers: { authorization: auth } });
            return { seconds: job[0].s, resources: manifest.output.reduce((n, o) => n + o.count, 0) };
          }
          if (r.status !== 202 && r.status !== 429) throw new Error(`status ${r.status}: ${await r.text()}`);
          // Poll as a client should: at the Retry-After the server gives (set to 1 s for this bench).
          await new Promise((res) => setTimeout(res, Number(r.headers.get('retry-after') ?? 1) * 1000));
        }
      };
      const times = { internal: [] as number[], provider: [] as number[] };
      let counts = { internal: 0, provider: 0 };
      for (let round = 0; round < 2; round++) {
        const i = await exportOnce(internal);
        const p = await exportOnce(provider);
        times.internal.push(i.seconds);
        times.provider.push(p.seconds);
        counts = { internal: i.resources, provider: p.resources };
      }
      const best = (l: number[]) => Math.min(...l);
      const rows = [['work', 'internal', 'provider-access', 'ratio']];
      rows.push([`Group export of ${list.n} attributed members (s, best of 2)`, best(times.internal).toFixed(2), best(times.provider).toFixed(2), (best(times.provider) / best(times.internal)).toFixed(2)]);
      rows.push(['  resources exported', String(counts.internal), String(counts.provider), '']);
      figures.push(figure('provider-access Group export time / internal (goal ≤ 1.3)', best(times.provider) / best(times.internal), 'ratio', 1.3));
      figures.push(figure("server's peak RSS after the exports", Math.round(peakRss(server.child.pid!) / 1e6), 'MB', 0));

      // Read and search of an in-policy member.
      const { rows: inPolicy } = await db.pool.query<{ patient_id: string }>(
        `SELECT patient_id FROM partner_group_member WHERE tenant = $1 AND group_id = $2 AND high IS NULL ORDER BY patient_id LIMIT 1`,
        [tenant, list.group_id],
      );
      const member = inPolicy[0].patient_id;
      for (const [label, path] of [
        ['read Patient', `Patient/${member}`],
        ['Observation?patient', `Observation?patient=${member}&_count=16`],
        ['EOB?patient', `ExplanationOfBenefit?patient=${member}&_count=16`],
      ]) {
        const rate = async (auth: string) => (await autocannon({ url: `${base}/${path}`, connections: 16, duration: SECONDS, headers: { authorization: auth } })).requests.average;
        const i1 = await rate(internal);
        const p1 = await rate(provider);
        const i2 = await rate(internal);
        const p2 = await rate(provider);
        const ratio = (p1 + p2) / (i1 + i2);
        rows.push([`${label} (req/s, 16 conns)`, ((i1 + i2) / 2).toFixed(0), ((p1 + p2) / 2).toFixed(0), ratio.toFixed(2)]);
        figures.push(figure(`${label}: provider-access / internal throughput (goal ≥ 0.8)`, ratio, 'ratio', 0.8));
      }
      process.stdout.write(`partner policy cost on ${MEMBERS} members\n${table(rows)}\n`);
    } finally {
      await server.stop();
    }
  } finally {
    await db.close();
  }
  printFigures('policy', figures);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
