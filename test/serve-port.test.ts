// `payer-fhir serve` on a port that is already taken stops with a plain message and a failing
// exit code — its export workers, started before it tries to listen, are closed with it instead
// of keeping a process alive that listens nowhere.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bin', 'payer-fhir.js');

describe('serve on a port in use', () => {
  let taken: net.Server;
  let port: number;
  before(async () => {
    taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    port = (taken.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => taken.close(() => r())));

  it('exits 1 naming the port, with its workers stopped', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--host', '127.0.0.1', '--workers', '2'], {
      env: { ...process.env, LOG_LEVEL: 'silent', PUBLIC_URL: `http://127.0.0.1:${port}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    // A serve that kept running would never exit: after two minutes it is killed and the test fails.
    const code = await new Promise((r) => {
      const stuck = setTimeout(() => {
        child.kill('SIGKILL');
        r('still running');
      }, 120_000);
      child.on('exit', (c) => {
        clearTimeout(stuck);
        r(c);
      });
    });
    assert.equal(code, 1, err);
    assert.match(err, new RegExp(`EADDRINUSE|${port}`));
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  });
});
