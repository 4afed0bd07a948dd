/**
 * Export workers: each loop claims a unit, runs it while a heartbeat keeps its lease, and
 * records the result; between claims it sleeps briefly (and is woken at once when this
 * process starts a job). One loop per concurrency slot; `serve` runs them in-process,
 * `payer-fhir worker` runs them alone, and any number of processes share the same jobs.
 * A periodic sweep deletes expired and cancelled jobs with their files (retention).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ExportConfig } from '../config.js';
import { isDatabaseUnavailable } from '../store/availability.js';
import { claimUnit, completeUnit, deleteJob, expiredJobs, failUnit, heartbeat, releaseUnit, type ClaimedUnit, type UnitOutput } from './jobs.js';
import { jobPrefix, runUnit, type RunContext } from './runner.js';
import type { ExportStorage } from './storage.js';

export interface WorkerOptions {
  pool: pg.Pool;
  storage: ExportStorage;
  config: ExportConfig;
  base: (tenant: string) => string;
  concurrency: number;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Idle poll interval (ms). */
  idleMs?: number;
  /** Retention sweep interval (ms). */
  sweepMs?: number;
  /** Told of every unit this process completed (metrics count its resources and bytes). */
  onUnitCompleted?: (out: UnitOutput) => void;
}

/** A safe, short reason for a failed unit; details stay in the log. */
function reasonOf(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === '57014') return 'the database cancelled a query';
  if (code && /^(08|57P)/.test(code)) return 'the database connection was lost';
  return 'an internal error occurred while writing the export files';
}

export class ExportWorkers {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private wake: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<AbortController>();

  constructor(private readonly opts: WorkerOptions) {}

  start(): void {
    for (let i = 0; i < this.opts.concurrency; i++) this.loops.push(this.loop());
    const sweep = () => {
      this.sweep().catch((err) => this.opts.log.warn({ err }, 'export retention sweep failed'));
    };
    this.sweepTimer = setInterval(sweep, this.opts.sweepMs ?? 60_000);
    this.sweepTimer.unref();
    sweep();
  }

  /** Wakes idle loops, e.g. right after a kick-off in this process. */
  poke(): void {
    for (const w of this.wake.splice(0)) w();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    for (const c of this.inFlight) c.abort();
    this.poke();
    await Promise.allSettled(this.loops);
  }

  /**
   * Deletes expired jobs' files, then their rows (files first: a row left behind is retried).
   * One job whose files cannot be removed does not hold back the others.
   */
  async sweep(): Promise<number> {
    const jobs = await expiredJobs(this.opts.pool, this.opts.config.storage);
    let removed = 0;
    for (const j of jobs) {
      try {
        await this.opts.storage.removePrefix(jobPrefix(j.tenant, j.id));
        await deleteJob(this.opts.pool, j.id);
        removed++;
      } catch (err) {
        this.opts.log.warn({ err, job: j.id }, 'expired export job could not be removed; retried at the next sweep');
      }
    }
    return removed;
  }

  private async idle(): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.opts.idleMs ?? 500);
      this.wake.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let unit: ClaimedUnit | undefined;
      try {
        unit = await claimUnit(this.opts.pool, this.owner, this.opts.config.leaseSeconds, this.opts.config.storage);
      } catch (err) {
        // While the database is away the loop keeps trying (at the idle pace) and resumes by itself.
        if (!this.stopping) this.opts.log.warn({ err, databaseUnavailable: isDatabaseUnavailable(err) }, 'export worker could not claim a unit');
      }
      if (!unit) {
        if (!this.stopping) await this.idle();
        continue;
      }
      await this.run(unit);
    }
  }

  private async run(unit: ClaimedUnit): Promise<void> {
    const { pool, config } = this.opts;
    const abort = new AbortController();
    this.inFlight.add(abort);
    const beat = setInterval(
      () => {
        heartbeat(pool, unit, this.owner, config.leaseSeconds)
          .then((held) => held || abort.abort())
          .catch(() => undefined);
      },
      Math.max(500, (config.leaseSeconds * 1000) / 3),
    );
    const ctx: RunContext = { pool, storage: this.opts.storage, config, base: this.opts.base };
    try {
      const out = await runUnit(ctx, unit, abort.signal);
      if (abort.signal.aborted) {
        // Stopped (shutdown) or lost (lease taken over): give it back, or leave it to its new owner.
        if (this.stopping) await releaseUnit(pool, unit, this.owner);
        return;
      }
      const kept = await completeUnit(pool, unit, this.owner, out, config.retentionSeconds);
      if (!kept) this.opts.log.info({ job: unit.jobId, unit: unit.seq }, 'export unit result discarded: lease lost or job cancelled');
      else this.opts.onUnitCompleted?.(out);
    } catch (err) {
      if (this.stopping) {
        await releaseUnit(pool, unit, this.owner).catch(() => undefined);
        return;
      }
      if (abort.signal.aborted) return;
      if (isDatabaseUnavailable(err)) {
        // Not the unit's fault: hand it back without counting the attempt. If the database is
        // still away, the lease lapses instead and the unit is claimed again once it is back.
        this.opts.log.warn({ err, job: unit.jobId, unit: unit.seq }, 'export unit interrupted: database unavailable');
        await releaseUnit(pool, unit, this.owner).catch(() => undefined);
        return;
      }
      this.opts.log.error({ err, job: unit.jobId, unit: unit.seq, attempt: unit.attempt }, 'export unit failed');
      await failUnit(pool, unit, this.owner, reasonOf(err), config.maxAttempts, config.retentionSeconds).catch(() => undefined);
    } finally {
      clearInterval(beat);
      this.inFlight.delete(abort);
    }
  }
}
