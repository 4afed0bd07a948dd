/**
 * Reads of current resources that arrive together share one statement. Under load a server
 * parses several requests in one turn of the event loop; instead of a round trip each, the
 * reads queued in that turn go to PostgreSQL as one indexed lookup of all their keys. The
 * round trip — a socket write, a wake-up and a statement on each side — costs more than the
 * lookup itself, so this is where a read's time goes. A lone read takes the single-row
 * statement, so an idle server answers exactly as before.
 *
 * Each read still sees a snapshot taken after it arrived (the statement runs after the turn
 * that queued it), so a client that wrote and then reads sees its write.
 *
 * Reads under a partner policy carry the policy's condition in the same statement (one per
 * tenant, policy and type): a read the policy hides comes back absent. The policy is applied
 * as of the moment the statement is built, after every read in it arrived, so an opt-out or
 * a revoked consent recorded before a read is always seen by it.
 */
import type pg from 'pg';
import { readCurrent, readCurrentMany, type StoredVersion } from './resources.js';

/**
 * Reads under a restriction (a partner policy): supplied by the layer that owns the rule
 * (src/policy/visibility.ts), so the store batches them without knowing the rule.
 */
export interface RestrictedReads<R> {
  /** Reads that may share a statement share this key (the rule's SQL differs by policy and type). */
  key(tenant: string, type: string, restriction: R): string;
  read(pool: pg.Pool, tenant: string, restriction: R, type: string, ids: readonly string[]): Promise<Map<string, StoredVersion>>;
}

interface Pending<R> {
  tenant: string;
  type: string;
  id: string;
  policy?: R;
  resolve: (v: StoredVersion | undefined) => void;
  reject: (err: unknown) => void;
}

/** Keys per statement: bounded so one statement never grows without limit. */
const MAX_BATCH = 256;

export class CurrentReads<R = never> {
  private pending: Pending<R>[] = [];
  private scheduled = false;

  constructor(
    readonly pool: pg.Pool,
    private readonly restricted?: RestrictedReads<R>,
  ) {}

  /** The current version, or undefined when never written or (under `policy`) hidden by the policy. */
  read(tenant: string, type: string, id: string, policy?: R): Promise<StoredVersion | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ tenant, type, id, policy, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O phase: every request parsed in this turn has queued its read by then.
        setImmediate(() => this.run());
      }
    });
  }

  private run(): void {
    const queued = this.pending;
    this.pending = [];
    this.scheduled = false;
    if (queued.length === 1 && queued[0].policy === undefined) {
      const [p] = queued;
      readCurrent(this.pool, p.tenant, p.type, p.id).then(p.resolve, p.reject);
      return;
    }
    // Unrestricted reads batch per tenant; reads under a policy per tenant, policy and type
    // (the policy's condition differs by type).
    const groups = new Map<string, Pending<R>[]>();
    for (const p of queued) {
      const key = p.policy !== undefined ? `r:${this.restricted!.key(p.tenant, p.type, p.policy)}` : `t:${p.tenant}`;
      const list = groups.get(key);
      if (list) list.push(p);
      else groups.set(key, [p]);
    }
    for (const list of groups.values()) {
      for (let i = 0; i < list.length; i += MAX_BATCH) void this.lookUp(list.slice(i, i + MAX_BATCH));
    }
  }

  private async lookUp(batch: Pending<R>[]): Promise<void> {
    try {
      const [{ tenant, type, policy }] = batch;
      if (policy !== undefined) {
        if (!this.restricted) throw new Error('CurrentReads was built without a reader for restricted reads');
        const found = await this.restricted.read(this.pool, tenant, policy, type, [...new Set(batch.map((p) => p.id))]);
        for (const p of batch) p.resolve(found.get(p.id));
      } else {
        const found = await readCurrentMany(this.pool, tenant, batch);
        for (const p of batch) p.resolve(found.get(`${p.type}/${p.id}`));
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
