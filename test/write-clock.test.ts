/**
 * Write transactions begun with their clock (store/database.ts inWriteTransaction): BEGIN and
 * the statement that assigns the transaction id and reads the clock go as one round trip. The
 * id must be assigned before the clock is read (export kick-off waits for every transaction
 * older than its snapshot, KO-44); creates are stamped with that clock; a batch that locks an
 * existing resource still reads the clock after its locks, so a version is never stamped
 * earlier than the one it replaces; a failure rolls everything back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { performWrites } from '../src/interactions/writes.js';
import { inWriteTransaction } from '../src/store/database.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('write transactions begun with their clock', () => {
  let server: TestServer;
  let tenant: string;
  const basic = (id?: string) => ({ resourceType: 'Basic', ...(id ? { id } : {}), code: { text: 'clock test' } });
  const stored = async (id: string) =>
    (await server.db.pool.query<{ version: number; last_updated: Date; content: string }>("SELECT version, last_updated, content FROM resource WHERE tenant = $1 AND type = 'Basic' AND id = $2", [tenant, id])).rows[0];

  before(async () => {
    server = await startServer();
    ({ tenant } = await server.newTenant('clock'));
  });
  after(async () => server.close());

  it('assigns the transaction id at BEGIN, before the clock, and stamps creates with that clock', async () => {
    const { begun, xid, out } = await inWriteTransaction(server.db.pool, async (client, begun) => {
      const { rows } = await client.query<{ xid: string | null; started: Date }>('SELECT pg_current_xact_id_if_assigned()::text AS xid, transaction_timestamp() AS started');
      assert.ok(begun.getTime() >= rows[0].started.getTime(), 'the clock is read inside the transaction');
      const [out] = await performWrites(client, tenant, [{ method: 'POST', type: 'Basic', resource: basic() }], undefined, undefined, begun);
      return { begun, xid: rows[0].xid, out };
    });
    assert.notEqual(xid, null, 'the transaction id was assigned by the first statement');
    assert.equal(out.outcome, 'created');
    assert.equal(out.lastUpdated.getTime(), begun.getTime());
    const row = await stored(out.id);
    assert.equal(row.last_updated.getTime(), begun.getTime());
    assert.equal(JSON.parse(row.content).meta.lastUpdated, begun.toISOString());
  });

  it('an update reads the clock after its lock, so its stamp is later than the transaction began', async () => {
    const [first] = await inWriteTransaction(server.db.pool, (client, begun) => performWrites(client, tenant, [{ method: 'POST', type: 'Basic', resource: basic() }], undefined, undefined, begun));
    const { begun, out } = await inWriteTransaction(server.db.pool, async (client, begun) => {
      // Time passes between BEGIN and the lock (as when another writer holds the row): the stamp must follow it.
      await new Promise((r) => setTimeout(r, 20));
      const [out] = await performWrites(client, tenant, [{ method: 'PUT', type: 'Basic', id: first.id, resource: basic(first.id) }], undefined, undefined, begun);
      return { begun, out };
    });
    assert.equal(out.outcome, 'updated');
    assert.equal(out.version, 2);
    assert.ok(out.lastUpdated.getTime() > begun.getTime(), `stamped ${out.lastUpdated.toISOString()}, begun ${begun.toISOString()}`);
    assert.ok(out.lastUpdated.getTime() > first.lastUpdated.getTime());
    assert.equal((await stored(first.id)).last_updated.getTime(), out.lastUpdated.getTime());
  });

  it('a failure rolls back what the transaction wrote', async () => {
    let id = '';
    await assert.rejects(
      inWriteTransaction(server.db.pool, async (client, begun) => {
        [{ id }] = await performWrites(client, tenant, [{ method: 'POST', type: 'Basic', resource: basic() }], undefined, undefined, begun);
        throw new Error('later step failed');
      }),
      /later step failed/,
    );
    assert.ok(id);
    assert.equal(await stored(id), undefined);
  });
});
