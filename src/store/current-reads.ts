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
 */
import type pg from 'pg';
import { readCurrent, readCurrentMany, type StoredVersion } from './resources.js';

interface Pending {
  tenant: string;
  type: string;
  id: string;
  resolve: (v: StoredVersion | undefined) => void;
  reject: (err: unknown) => void;
}

/** Keys per statement: bounded so one statement never grows without limit. */
const MAX_BATCH = 256;

export class CurrentReads {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(readonly pool: pg.Pool) {}

  read(tenant: string, type: string, id: string): Promise<StoredVersion | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ tenant, type, id, resolve, reject });
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
    if (queued.length === 1) {
      const [p] = queued;
      readCurrent(this.pool, p.tenant, p.type, p.id).then(p.resolve, p.reject);
      return;
    }
    const byTenant = new Map<string, Pending[]>();
    for (const p of queued) {
      const list = byTenant.get(p.tenant);
      if (list) list.push(p);
      else byTenant.set(p.tenant, [p]);
    }
    for (const [tenant, list] of byTenant) {
      for (let i = 0; i < list.length; i += MAX_BATCH) void this.lookUp(tenant, list.slice(i, i + MAX_BATCH));
    }
  }

  private async lookUp(tenant: string, batch: Pending[]): Promise<void> {
    try {
      const found = await readCurrentMany(this.pool, tenant, batch);
      for (const p of batch) p.resolve(found.get(`${p.type}/${p.id}`));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
