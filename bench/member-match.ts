/**
 * Member matching benchmark (issue 12): `$member-match` latency at 16 connections on a
 * seeded plan (goal p99 < 50 ms on 10,000 members), each request an HRex-shaped match of a
 * different member by a payer-to-payer client (every success stores its Consent and match;
 * then the same requests with a birth date no member has, each a counted failure, for their p99),
 * and `$bulk-member-match` of 1,000 members from kick-off to the completed result (goal
 * < 30 s). The plan is a kept tenant of its own, `bench-match-<members>` (seeded on first use;
 * each run adds the Consents and matches its requests store).
 *
 *   npm run bench -- member-match   (BENCH_MATCH_MEMBERS=10000, BENCH_MATCH_SECONDS=10, BENCH_MATCH_BULK=1000)
 */
import autocannon from 'autocannon';
import type pg from 'pg';
import { loadConfig } from '../src/config.js';
import { fhirBase } from '../src/http/urls.js';
import { openDatabase } from '../src/store/database.js';
import { secretClientToken, startServeProcess } from './lib/server.js';
import { figure, printFigures, table, type Figure } from './lib/report.js';
import { ensureSeeded } from './lib/seeded.js';

const MEMBERS = Number(process.env.BENCH_MATCH_MEMBERS ?? 10_000);
const SECONDS = Number(process.env.BENCH_MATCH_SECONDS ?? 10);
const BULK = Number(process.env.BENCH_MATCH_BULK ?? 1000);
const RECIPIENT = { system: 'http://example.org/payer-ids', value: 'BENCH-NEW-PLAN' };
const POLICY = 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular';
const MB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MB' }] };

type Json = Record<string, any>;

/** Members with a current coverage: demographics and the member id on their card. */
async function members(pool: pg.Pool, tenant: string, n: number): Promise<{ patient: Json; memberId: string }[]> {
  const { rows } = await pool.query<{ p: string; c: string }>(
    `SELECT p.content AS p, c.content AS c FROM resource c
       JOIN search_reference r ON r.tenant = c.tenant AND r.type = 'Coverage' AND r.id = c.id AND r.param = 'beneficiary'
       JOIN resource p ON p.tenant = c.tenant AND p.type = 'Patient' AND p.id = r.target_id
      WHERE c.tenant = $1 AND c.type = 'Coverage' AND NOT c.deleted AND (c.content::jsonb)->>'status' = 'active'
      ORDER BY p.id LIMIT $2`,
    [tenant, n],
  );
  return rows.map((r) => ({ patient: JSON.parse(r.p), memberId: (JSON.parse(r.c) as Json).identifier[0].value }));
}

/** One member's parts; `unmatched` gives a birth date no member has (the same work up to the demographics, then a 422). */
function memberParts(m: { patient: Json; memberId: string }, unmatched = false): Json[] {
  const year = new Date().getUTCFullYear();
  const name = m.patient.name[0];
  return [
    { name: 'MemberPatient', resource: { resourceType: 'Patient', id: '1', name: [{ family: name.family, given: [name.given[0]] }], gender: m.patient.gender, birthDate: unmatched ? '1801-01-01' : m.patient.birthDate } },
    { name: 'CoverageToMatch', resource: { resourceType: 'Coverage', id: 'c1', identifier: [{ type: MB, value: m.memberId }], status: 'active', beneficiary: { reference: 'Patient/1' }, payor: [{ display: 'Old plan' }] } },
    {
      name: 'Consent',
      resource: {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IDSCL' }] }],
        patient: { reference: 'Patient/1' },
        performer: [{ reference: 'Patient/1' }],
        sourceReference: { reference: 'http://example.org/consents/1' },
        policy: [{ uri: POLICY }],
        provision: {
          type: 'permit',
          period: { start: `${year}-01-01`, end: `${year + 1}-12-31` },
          actor: [
            { role: { coding: [{ code: 'performer' }] }, reference: { display: 'Old plan' } },
            { role: { coding: [{ code: 'IRCP' }] }, reference: { identifier: RECIPIENT } },
          ],
        },
      },
    },
  ];
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const db = await openDatabase(config, (m) => process.stderr.write(`${m}\n`));
  const figures: Figure[] = [];
  try {
    const { tenant } = await ensureSeeded(db.pool, MEMBERS, 'bench-match');
    // The server in a process of its own, as in production; autocannon stays in this one.
    const server = await startServeProcess({ RATE_LIMIT_CLIENT: '0', MEMBER_MATCH_FAILURES_PER_HOUR: '1000000' }, 1);
    const { origin } = server;
    const base = fhirBase(origin, tenant);
    const auth = await secretClientToken(db.pool, origin, tenant, { name: 'bench p2p', policy: 'payer-to-payer', organization: RECIPIENT });
    const headers = { authorization: auth, 'content-type': 'application/fhir+json' };
    const all = await members(db.pool, tenant, Math.max(BULK, 2000));
    try {
      // $member-match: each request a different member (cycling), 16 connections, after a short
      // unmeasured warm-up (its members are matched again later: a repeat match stores a new
      // Consent and replaces the match row, the same work).
      const bodies = all.map((m) => JSON.stringify({ resourceType: 'Parameters', parameter: memberParts(m) }));
      let next = 0;
      const matchRun = (body: () => string, duration: number) =>
        autocannon({ url: `${base}/Patient/$member-match`, connections: 16, duration, method: 'POST', headers, requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }] });
      await matchRun(() => bodies[next++ % bodies.length], 2);
      const run = await matchRun(() => bodies[next++ % bodies.length], SECONDS);
      const rows = [['request', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'], ['$member-match', '16', run.requests.average.toFixed(0), String(run.latency.p50), String(run.latency.p99), String(run.non2xx), String(run.errors)]];
      figures.push(figure('$member-match p99 at 16 conns (goal < 50 ms)', run.latency.p99, 'ms', 50));
      // Failed matches (422; counted, as a probing client's would be, under a limit set out of reach).
      const unmatched = all.map((m) => JSON.stringify({ resourceType: 'Parameters', parameter: memberParts(m, true) }));
      const failing = await matchRun(() => unmatched[next++ % unmatched.length], Math.max(2, Math.round(SECONDS / 2)));
      rows.push(['$member-match, no match (422)', '16', failing.requests.average.toFixed(0), String(failing.latency.p50), String(failing.latency.p99), String(failing.non2xx), String(failing.errors)]);

      // $bulk-member-match of BULK members, kick-off to completed result.
      const bulkBody = JSON.stringify({ resourceType: 'Parameters', parameter: all.slice(0, BULK).map((m) => ({ name: 'MemberBundle', part: memberParts(m) })) });
      const started = Date.now();
      const kick = await fetch(`${base}/Group/$bulk-member-match`, { method: 'POST', headers: { ...headers, prefer: 'respond-async' }, body: bulkBody });
      if (kick.status !== 202) throw new Error(`bulk kick-off answered ${kick.status}: ${await kick.text()}`);
      const status = kick.headers.get('content-location')!;
      let result: Json | undefined;
      while (!result) {
        const r = await fetch(status, { headers });
        if (r.status === 200) result = (await r.json()) as Json;
        else if (r.status !== 202) throw new Error(`status answered ${r.status}: ${await r.text()}`);
        else await new Promise((res) => setTimeout(res, 200));
      }
      const seconds = (Date.now() - started) / 1000;
      const matched = result.parameter.find((p: Json) => p.name === 'MatchedMembers').resource.member?.length ?? 0;
      rows.push([`$bulk-member-match ×${BULK}`, '1', '', '', '', '', `${matched} matched in ${seconds.toFixed(1)} s`]);
      figures.push(figure(`$bulk-member-match of ${BULK} members, kick-off to result (goal < 30 s)`, seconds, 's', 30));
      process.stdout.write(`member matching on ${MEMBERS} members\n${table(rows)}\n`);
    } finally {
      await server.stop();
    }
  } finally {
    await db.close();
  }
  printFigures('member-match', figures);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
