/**
 * Runs `$bulk-member-match` jobs: a loop per process (in `serve` and in `worker`) claims the
 * oldest job whose lease is free or lapsed, and matches its members in batches. Each batch —
 * its Consents (normal write path), `member_match` rows, member outcomes and the job's new
 * progress — commits in one transaction, after checking the lease is still this process's and
 * the job not cancelled; so a job taken over after a crash resumes after its last batch and
 * never stores a member's consent twice. The last step stores the MatchedMembers Group and the
 * result Parameters.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Resource } from '../fhir/validation.js';
import { performWrites } from '../interactions/writes.js';
import type { PartnerPolicy } from '../policy/partner-policy.js';
import { isDatabaseUnavailable } from '../store/availability.js';
import { inTransaction } from '../store/database.js';
import {
  claimMatchJob, completeMatchJob, failMatchJob, holdMatchJob, jobItems, recordBatch, releaseMatchJob, removeExpiredMatchJobs, renewMatchLease,
  type JobItem, type MatchJob,
} from '../store/member-match-jobs.js';
import { findMember } from './matcher.js';
import { matchedMembersGroup, unmatchedGroup } from './match-groups.js';
import { consentRefusal, storeMatches, type Matched } from './member-match.js';
import type { MemberMatchInput } from './member-match-input.js';

/** Members matched between two commits: small enough to lose little on a crash, large enough to batch the writes. */
const BATCH = 50;
/** Members looked up at once (each lookup is two or three indexed statements). */
const PARALLEL = 4;

class LeaseLost extends Error {}
class Stopped extends Error {}

export interface MatchWorkerOptions {
  pool: pg.Pool;
  config: Config;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  idleMs?: number;
}

async function outcomesOf(pool: pg.Pool, job: MatchJob, members: MemberMatchInput[], from: number, now: Date): Promise<{ items: JobItem[]; matched: Matched[]; seqs: number[] }> {
  const policy: PartnerPolicy = { kind: job.policy as PartnerPolicy['kind'], organization: job.organization ?? undefined, clientId: job.clientId };
  const items: JobItem[] = new Array(members.length);
  let next = 0;
  const lane = async () => {
    while (next < members.length) {
      const i = next++;
      const seq = from + i;
      if (consentRefusal(members[i], policy, job.organization ?? undefined, now)) {
        items[i] = { seq, outcome: 'consent', patientId: null, consentId: null };
        continue;
      }
      const found = await findMember(pool, job.tenant, members[i]);
      items[i] = found.kind === 'one' ? { seq, outcome: 'matched', patientId: found.patientId, consentId: null } : { seq, outcome: 'no-match', patientId: null, consentId: null };
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, members.length) }, lane));
  const matched: Matched[] = [];
  const seqs: number[] = [];
  items.forEach((it, i) => {
    if (it.outcome === 'matched') {
      matched.push({ input: members[i], patientId: it.patientId! });
      seqs.push(i);
    }
  });
  return { items, matched, seqs };
}

/** Matches a claimed job's remaining members and completes it; throws LeaseLost when another process or a cancel took it. */
export async function runMatchJob(pool: pg.Pool, config: Config, job: MatchJob & { input: unknown[] }, owner: string, stopping: () => boolean = () => false): Promise<void> {
  const members = job.input as MemberMatchInput[];
  const lease = config.export.leaseSeconds;
  for (let from = job.done; from < members.length; from += BATCH) {
    if (stopping()) throw new Stopped();
    const batch = members.slice(from, from + BATCH);
    const { items, matched, seqs } = await outcomesOf(pool, job, batch, from, new Date());
    await inTransaction(pool, async (client) => {
      if (!(await holdMatchJob(client, job.id, owner))) throw new LeaseLost();
      const consentIds = await storeMatches(client, job.tenant, job.clientId, matched);
      seqs.forEach((i, k) => (items[i].consentId = consentIds[k]));
      await recordBatch(client, job.id, items, from + batch.length, lease);
    });
  }
  await inTransaction(pool, async (client) => {
    if (!(await holdMatchJob(client, job.id, owner))) throw new LeaseLost();
    const all = await jobItems(client, job.id);
    const pick = (outcome: JobItem['outcome']) => all.filter((i) => i.outcome === outcome);
    const now = new Date();
    const group = matchedMembersGroup(pick('matched').map((i) => ({ patientId: i.patientId!, submitted: members[i.seq].patient })), job.organization, now);
    const [stored] = await performWrites(client, job.tenant, [{ method: 'POST', type: 'Group', resource: group }]);
    const parameter: { name: string; resource: Resource }[] = [{ name: 'MatchedMembers', resource: JSON.parse(stored.content!) as Resource }];
    const none = unmatchedGroup('nomatch', pick('no-match').map((i) => members[i.seq].patient));
    const constrained = unmatchedGroup('consentconstraint', pick('consent').map((i) => members[i.seq].patient));
    if (none) parameter.push({ name: 'NonMatchedMembers', resource: none });
    if (constrained) parameter.push({ name: 'ConsentConstrainedMembers', resource: constrained });
    await completeMatchJob(client, job.id, JSON.stringify({ resourceType: 'Parameters', parameter }), config.export.retentionSeconds);
  });
}

/** The member-match job loop of one process. */
export class MatchWorkers {
  readonly owner = `${os.hostname()}:${process.pid}:match:${crypto.randomBytes(4).toString('hex')}`;
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: MatchWorkerOptions) {}

  start(): void {
    this.loopDone = this.loop();
  }

  /** Wakes the loop at once, e.g. right after a kick-off in this process. */
  poke(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.poke();
    await this.loopDone;
  }

  private async idle(): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.opts.idleMs ?? 500);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async loop(): Promise<void> {
    let sweptAt = 0;
    while (!this.stopping) {
      const { pool, config, log } = this.opts;
      let job: Awaited<ReturnType<typeof claimMatchJob>>;
      try {
        if (Date.now() - sweptAt > 60_000) {
          sweptAt = Date.now();
          await removeExpiredMatchJobs(pool);
        }
        job = await claimMatchJob(pool, this.owner, config.export.leaseSeconds);
      } catch (err) {
        if (!this.stopping) log.warn({ err, databaseUnavailable: isDatabaseUnavailable(err) }, 'member-match worker could not claim a job');
      }
      if (!job) {
        if (!this.stopping) await this.idle();
        continue;
      }
      await this.run(job);
    }
  }

  private async run(job: MatchJob & { input: unknown[] }): Promise<void> {
    const { pool, config, log } = this.opts;
    if (job.attempts > config.export.maxAttempts) {
      await failMatchJob(pool, job.id, `gave up after ${config.export.maxAttempts} attempts`, config.export.retentionSeconds).catch(() => undefined);
      return;
    }
    const beat = setInterval(() => void renewMatchLease(pool, job.id, this.owner, config.export.leaseSeconds).catch(() => undefined), Math.max(500, (config.export.leaseSeconds * 1000) / 3));
    try {
      await runMatchJob(pool, config, job, this.owner, () => this.stopping);
      log.info({ job: job.id, members: job.total }, 'bulk member match completed');
    } catch (err) {
      if (err instanceof LeaseLost) return;
      if (err instanceof Stopped || this.stopping || isDatabaseUnavailable(err)) {
        // Not the job's fault: hand it back (or let the lease lapse) and it resumes after its last batch.
        await releaseMatchJob(pool, job.id, this.owner).catch(() => undefined);
        return;
      }
      log.error({ err, job: job.id }, 'bulk member match failed');
      await failMatchJob(pool, job.id, 'an internal error occurred while matching members', config.export.retentionSeconds).catch(() => undefined);
    } finally {
      clearInterval(beat);
    }
  }
}
