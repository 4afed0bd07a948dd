// The per-client token limit (`clients add|update --token-rate N`, per minute) through the real
// CLI against two server processes behind one public URL: a conformance kit asking for a token
// per test gets its own allowance, a change applies at once in every process (LISTEN/NOTIFY),
// "default" returns the client to TOKEN_RATE_LIMIT_CLIENT, and bad values change nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.js';
import { tokenUrlFor } from './helpers/auth.js';
import { startServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const cli = (...args: string[]) => run(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), ...args], { env: process.env });

describe('per-client token limit (--token-rate)', () => {
  let a: TestServer;
  let b: TestServer;
  let tenant: string;

  before(async () => {
    // The server default is 3 token requests a minute per client; addresses are not the limit here.
    const limits = { ...loadConfig().limits, tokenPerMinuteClient: 3, tokenPerMinuteIp: 100_000 };
    a = await startServer({ limits });
    b = await startServer({ limits, publicUrl: a.origin });
    ({ tenant } = await a.newTenant('tokrate'));
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  /** A secret client made through the CLI; `token(server)` asks that server for a token. */
  async function secretClient(...extra: string[]) {
    const { client_id, client_secret } = JSON.parse((await cli('clients', 'add', '--tenant', tenant, '--name', 'kit', '--secret', '--scope', 'system/*.rs', ...extra)).stdout);
    const token = async (server: TestServer) => {
      // Each process is reached on its own port (both answer for a's public URL).
      const res = await fetch(tokenUrlFor(server.origin, tenant), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials&scope=system%2F*.rs',
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown>, limit: res.headers.get('ratelimit-limit') };
    };
    return { clientId: client_id as string, token };
  }

  /**
   * Asks until the first refusal (at most `max` times): how many were issued before it, and
   * how many the bucket may have refilled meanwhile at `perMinute` (a slow, loaded machine
   * takes seconds over these requests; no timing is asserted, only the bucket's arithmetic).
   */
  const untilRefused = async (ask: () => Promise<{ status: number }>, perMinute: number, max = 40) => {
    const started = Date.now();
    let issued = 0;
    for (let i = 0; i < max; i++) {
      const { status } = await ask();
      if (status === 429) return { issued, refused: true, refill: Math.ceil(((Date.now() - started) / 60_000) * perMinute) };
      assert.equal(status, 200);
      issued++;
    }
    return { issued, refused: false, refill: Math.ceil(((Date.now() - started) / 60_000) * perMinute) };
  };

  it('without --token-rate the server default applies: past 3 in a minute → 429', async () => {
    const c = await secretClient();
    const r = await untilRefused(() => c.token(a), 3);
    assert.ok(r.refused, 'the default limit refuses');
    assert.ok(r.issued >= 3 && r.issued <= 3 + r.refill, `issued ${r.issued}, refill ${r.refill}`);
  });

  it('clients add --token-rate 12: twelve tokens in a minute, then 429 temporarily_unavailable; list shows it', async () => {
    const c = await secretClient('--token-rate', '12');
    const r = await untilRefused(() => c.token(a), 12);
    assert.ok(r.refused, 'the client\'s own limit refuses too');
    assert.ok(r.issued >= 12 && r.issued <= 12 + r.refill, `issued ${r.issued}, refill ${r.refill}`);
    const refused = await c.token(a);
    if (refused.status === 429) assert.equal(refused.json.error, 'temporarily_unavailable');
    assert.equal(refused.limit, '12', 'RateLimit-Limit is the client\'s own');
    const listed = (await cli('clients', 'list', '--tenant', tenant)).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(listed.find((l) => l.client_id === c.clientId).token_rate, 12);
  });

  it('clients update --token-rate applies at once in every process; "default" returns to TOKEN_RATE_LIMIT_CLIENT', async () => {
    const c = await secretClient();
    // Both processes have the client cached (a token from each) before the change.
    assert.equal((await c.token(a)).status, 200);
    assert.equal((await c.token(b)).status, 200);
    assert.ok((await untilRefused(() => c.token(a), 3)).refused, 'the default (3) is spent');
    await cli('clients', 'update', c.clientId, '--tenant', tenant, '--token-rate', '600');
    // 600 a minute refills 10 a second: a few tens of milliseconds later both processes issue tokens.
    for (const server of [a, b]) {
      let status = 429;
      for (let i = 0; i < 50 && status === 429; i++) {
        status = (await c.token(server)).status;
        if (status === 429) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, server === a ? 'process a' : 'process b');
      assert.equal((await c.token(server)).limit, '600');
    }
    await cli('clients', 'update', c.clientId, '--tenant', tenant, '--token-rate', 'default');
    const limitAfter = await c.token(b);
    assert.equal(limitAfter.limit, '3', 'back to the server default in the other process too');
    const { rows } = await a.db.pool.query('SELECT token_rate_per_minute FROM client WHERE tenant = $1 AND client_id = $2', [tenant, c.clientId]);
    assert.equal(rows[0].token_rate_per_minute, null);
  });

  it('bad values are refused with exit code 1 and change nothing', async () => {
    const c = await secretClient('--token-rate', '7');
    for (const v of ['0', '-5', '2.5', 'many', '100001']) {
      await assert.rejects(cli('clients', 'update', c.clientId, '--tenant', tenant, '--token-rate', v), (err: { code?: number; stderr?: string }) => err.code === 1 && /token-rate/.test(err.stderr ?? ''), v);
      await assert.rejects(cli('clients', 'add', '--tenant', tenant, '--name', 'bad', '--secret', '--scope', 'system/*.rs', '--token-rate', v), (err: { code?: number }) => err.code === 1, `add ${v}`);
    }
    const { rows } = await a.db.pool.query('SELECT token_rate_per_minute FROM client WHERE tenant = $1 AND client_id = $2', [tenant, c.clientId]);
    assert.equal(rows[0].token_rate_per_minute, 7);
    const { rows: bad } = await a.db.pool.query("SELECT count(*)::int AS n FROM client WHERE tenant = $1 AND name = 'bad'", [tenant]);
    assert.equal(bad[0].n, 0);
  });
});
