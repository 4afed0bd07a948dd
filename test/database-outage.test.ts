// When PostgreSQL goes away: FHIR requests get 503 + Retry-After with a `transient`
// OperationOutcome, the token endpoint 503 `temporarily_unavailable` — never a 500, never a
// hang — and the server recovers by itself when PostgreSQL is back, export workers included.
// The test runs a PostgreSQL of its own (the embedded server binaries), stops it under load,
// and starts it again on the same data folder and port.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../src/store/embedded.js';
import { registerKeyClient, requestToken, signAssertion, tokenUrlFor } from './helpers/auth.js';
import { KICKOFF_HEADERS, poll } from './helpers/bulk.js';
import { http, isOperationOutcome, type HttpResult } from './helpers/http.js';
import { startServer, type TestServer } from './helpers/server.js';

const METRICS_TOKEN = 'outage-metrics';

function assertUnavailable(r: HttpResult, label: string): void {
  assert.equal(r.status, 503, `${label}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(r.headers.get('retry-after') ?? '', /^\d+$/, `${label}: Retry-After`);
  assert.ok(isOperationOutcome(r), `${label}: OperationOutcome`);
  assert.equal(r.json.issue[0].code, 'transient', `${label}: transient`);
  assert.doesNotMatch(r.text, /ECONNREFUSED|127\.0\.0\.1|\bat .*\.js:\d+|SELECT /, `${label}: nothing internal`);
}

/** A request that may not hang: it fails the test after 30 s rather than waiting forever. */
function bounded(url: string, init: Parameters<typeof http>[1] = {}): Promise<HttpResult | 'hung'> {
  return Promise.race([http(url, init), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000).unref())]);
}

describe('PostgreSQL outage', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-outage-'));
  fs.chmodSync(dataDir, 0o755); // the embedded server may run as the postgres user
  let database: EmbeddedDatabase;
  let port: number;
  let server: TestServer;
  let base: string;
  let tenant: string;
  const patients: string[] = [];

  before(async () => {
    database = await startEmbeddedDatabase(dataDir);
    port = Number(new URL(database.url).port);
    server = await startServer(
      {
        databaseUrl: database.url,
        db: { poolMax: 5, statementTimeoutMs: 30_000, connectTimeoutMs: 3_000 },
        metrics: { token: METRICS_TOKEN, port: undefined, host: '127.0.0.1' },
        // A unit whose worker could not hand it back (the database was away) is claimed again soon.
        export: { ...loadConfig().export, leaseSeconds: 3 },
      },
      { workers: 1 },
    );
    ({ base, tenant } = await server.newTenant('outage'));
    for (let i = 0; i < 6; i++) {
      const r = await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: `Outage${i}` }] } });
      assert.equal(r.status, 201);
      patients.push(r.json.id);
    }
  });
  after(async () => {
    await server?.close();
    await database?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 + Retry-After while the database is away, and serves again once it is back', async () => {
    const url = tokenUrlFor(server.origin, tenant);
    const { clientId, key } = await registerKeyClient(server.db.pool, tenant, 'system/*.rs');
    const token = async () =>
      requestToken(url, {
        grant_type: 'client_credentials',
        scope: 'system/*.rs',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signAssertion(key, clientId, url),
      });
    assert.equal((await token()).status, 200);
    // An export started just before the outage, wherever it has got to when the database stops.
    const early = await http(`${base}/$export?_type=Patient`, { headers: KICKOFF_HEADERS });
    assert.equal(early.status, 202, early.text);

    // Requests keep going throughout: each must be answered, 200 or 503, never 500, never hang.
    const seen: (number | 'hung')[] = [];
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const r = await bounded(`${base}/Patient/${patients[i % patients.length]}`);
        seen.push(r === 'hung' ? r : r.status);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();

    await database.stop();

    const read = await bounded(`${base}/Patient/${patients[0]}`);
    assert.notEqual(read, 'hung');
    assertUnavailable(read as HttpResult, 'read');
    assertUnavailable((await http(`${base}/Patient?family=Outage1`)) as HttpResult, 'search');
    assertUnavailable(await http(`${base}/Patient`, { body: { resourceType: 'Patient' } }), 'create');
    assertUnavailable(await http(`${base}/$export?_type=Patient`, { headers: KICKOFF_HEADERS }), 'kick-off');
    assertUnavailable(await http(early.headers.get('content-location')!), 'export status');
    const refused = await token();
    assert.equal(refused.status, 503, JSON.stringify(refused.json));
    assert.equal(refused.json.error, 'temporarily_unavailable');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal(refused.headers.get('cache-control'), 'no-store');
    const ready = await http(`${server.origin}/readyz`);
    assert.equal(ready.status, 503);
    // Metrics still answer, and say the database is down.
    const metrics = await fetch(`${server.origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^payer_fhir_database_up 0$/m);

    // The same data folder and port: the server's pool finds it again by itself.
    database = await startEmbeddedDatabase(dataDir, undefined, { port });
    assert.equal(Number(new URL(database.url).port), port);
    let back: HttpResult | undefined;
    for (let i = 0; i < 100 && back?.status !== 200; i++) {
      back = await http(`${base}/Patient/${patients[1]}`);
      assert.ok(back.status === 200 || back.status === 503, `while recovering: ${back.status} ${back.text}`);
      if (back.status !== 200) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(back?.status, 200, 'the server recovered without a restart');
    assert.equal((await token()).status, 200);
    assert.equal((await http(`${server.origin}/readyz`)).status, 200);
    stop = true;
    await load;
    assert.ok(seen.length > 0);
    const unexpected = seen.filter((s) => s !== 200 && s !== 503);
    assert.deepEqual(unexpected, [], `every request under load was answered 200 or 503: ${JSON.stringify(seen)}`);

    // The export workers kept running: the early export completes, and a new one runs too.
    const earlyDone = await poll(early.headers.get('content-location')!);
    assert.equal(earlyDone.status, 200, earlyDone.text);
    assert.equal(earlyDone.json.output.reduce((n: number, o: any) => n + o.count, 0), patients.length);
    const later = await http(`${base}/$export?_type=Patient`, { headers: KICKOFF_HEADERS });
    assert.equal(later.status, 202, later.text);
    const laterDone = await poll(later.headers.get('content-location')!);
    assert.equal(laterDone.status, 200, laterDone.text);
    assert.equal(laterDone.json.output.reduce((n: number, o: any) => n + o.count, 0), patients.length);
  });
});
