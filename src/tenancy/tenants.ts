/**
 * The tenant from the URL. Known tenants are cached briefly so a read costs no extra query;
 * an unknown tenant is answered 404 with an OperationOutcome before anything else runs.
 */
import type pg from 'pg';
import { NotFoundError } from '../errors.js';
import { tenantExists } from '../store/tenants.js';

const TTL_MS = 30_000;

export class TenantDirectory {
  private readonly known = new Map<string, number>();

  constructor(private readonly pool: pg.Pool) {}

  /** Throws 404 unless the tenant exists. */
  async require(id: string): Promise<void> {
    const until = this.known.get(id);
    if (until !== undefined && until > Date.now()) return;
    if (!(await tenantExists(this.pool, id))) throw new NotFoundError(`Unknown tenant '${id}'`);
    this.known.set(id, Date.now() + TTL_MS);
  }
}
