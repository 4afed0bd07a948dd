// The README's first command (`npm start` = build + `serve --demo`) on an empty DATA_DIR:
// tenant, seeded members, demo client and keys are created, and the printed commands work;
// a second start reuses everything.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from './helpers/server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(root, 'bin', 'payer-fhir.js');

/** Starts `serve --demo` and resolves with everything it printed once the banner is complete. */
function startDemo(env: NodeJS.ProcessEnv, children: ChildProcess[]): Promise<{ child: ChildProcess; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'serve', '--demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (/--out \.\/demo-export/.test(stdout)) resolve({ child, stdout, stderr });
    });
    child.on('exit', (code) => reject(new Error(`serve --demo exited with ${code}: ${stderr}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));
}

describe('npm start (serve --demo)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-demo-'));
  fs.chmodSync(dataDir, 0o755);
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('on an empty DATA_DIR: seeds the demo tenant, registers the client, and the printed commands work', async () => {
    const port = await freePort();
    const { DATABASE_URL: _omit, ...base } = process.env;
    const env = { ...base, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`, LOG_LEVEL: 'warn', DEMO_MEMBERS: '5' };
    const first = await startDemo(env, children);
    assert.match(first.stderr, /seeding tenant demo with 5 synthetic members/);
    const clientId = /client id\s+(\S+)/.exec(first.stdout)![1];
    const keyFile = /private key\s+(\S+)/.exec(first.stdout)![1];
    assert.ok(fs.existsSync(keyFile));
    // The printed token command (with `npx payer-fhir` being this repository's binary).
    const tokenLine = /TOKEN=\$\(npx payer-fhir (.*)\)$/m.exec(first.stdout)![1];
    const args = tokenLine.match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
    const token = (await run(process.execPath, [bin, ...args], { env })).stdout.trim();
    const eobUrl = /"(http[^"]*ExplanationOfBenefit\?patient=[^"]*)"/.exec(first.stdout)![1];
    const res = await fetch(eobUrl, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const bundle = (await res.json()) as { entry: { resource: { resourceType: string }; search: { mode: string } }[] };
    assert.ok(bundle.entry.some((e) => e.resource.resourceType === 'ExplanationOfBenefit' && e.search.mode === 'match'));
    assert.ok(bundle.entry.some((e) => e.resource.resourceType === 'Coverage' && e.search.mode === 'include'));
    // The printed export command pulls a population into ./demo-export (#6).
    const exportLine = /npx payer-fhir (export .*)$/m.exec(first.stdout)![1];
    const exportArgs = exportLine.split(/\s+/);
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-demo-export-'));
    try {
      await run(process.execPath, [bin, ...exportArgs], { env, cwd });
      const manifest = JSON.parse(fs.readFileSync(path.join(cwd, 'demo-export', 'manifest.json'), 'utf8'));
      const patients = manifest.output.filter((o: { type: string }) => o.type === 'Patient');
      assert.ok(patients.length > 0, 'the export holds Patient files');
      for (const o of patients) assert.ok(fs.statSync(path.join(cwd, 'demo-export', o.url.split('/').pop())).size > 0);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
    // Payer-to-Payer: the printed token and $member-match commands match a member, whose data the plan then reads.
    const qTokenLine = /QTOKEN=\$\(npx payer-fhir (.*)\)$/m.exec(first.stdout)![1];
    const qArgs = qTokenLine.match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
    const qToken = (await run(process.execPath, [bin, ...qArgs], { env })).stdout.trim();
    const [, matchFile, matchUrl] = /-d @(\S+) "(http[^"]*\$member-match)"/.exec(first.stdout)!;
    const match = await fetch(matchUrl, { method: 'POST', headers: { authorization: `Bearer ${qToken}`, 'content-type': 'application/fhir+json' }, body: fs.readFileSync(matchFile) });
    assert.equal(match.status, 200, await match.clone().text());
    const memberId = ((await match.json()) as any).parameter.find((p: any) => p.name === 'MemberId').valueReference.reference;
    const everything = await fetch(matchUrl.replace('Patient/$member-match', `${memberId}/$everything`), { headers: { authorization: `Bearer ${qToken}` } });
    assert.equal(everything.status, 200);
    // Provider Access: the printed provider token reads its own attribution list only.
    const pTokenLine = /PTOKEN=\$\(npx payer-fhir (.*)\)$/m.exec(first.stdout);
    if (pTokenLine) {
      const pArgs = pTokenLine[1].match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
      const pToken = (await run(process.execPath, [bin, ...pArgs], { env })).stdout.trim();
      const groupUrl = /"(http[^"]*\/Group\?_summary=true)"/.exec(first.stdout)![1];
      const groups = (await (await fetch(groupUrl, { headers: { authorization: `Bearer ${pToken}` } })).json()) as any;
      assert.equal(groups.entry.length, 1);
    }
    // The console's demo administrator (issue 14): the printed credentials sign in, the console page is served.
    const consoleUrl = /console\s+(http\S+)/.exec(first.stdout)![1];
    const email = /sign in as\s+(\S+)/.exec(first.stdout)![1];
    const password = /password\s+(\S+)/.exec(first.stdout)![1];
    const signIn = await fetch(`http://127.0.0.1:${port}/admin/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    assert.equal(signIn.status, 200);
    assert.equal(((await signIn.json()) as { role: string }).role, 'admin');
    const page = await fetch(consoleUrl);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    first.child.kill('SIGTERM');
    assert.equal(await exited(first.child), 0);

    // A second start reuses the tenant, the seeded data and the client.
    const again = await startDemo(env, children);
    assert.doesNotMatch(again.stderr, /seeding/);
    assert.equal(/client id\s+(\S+)/.exec(again.stdout)![1], clientId);
    assert.equal(/password\s+(\S+)/.exec(again.stdout)![1], password, 'the demo administrator is kept');
    again.child.kill('SIGTERM');
    assert.equal(await exited(again.child), 0);
  });
});
