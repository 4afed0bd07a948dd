#!/usr/bin/env node
// Runs the test suite against a real PostgreSQL: DATABASE_URL when set (CI sets it),
// otherwise an embedded PostgreSQL started for this run in a temporary folder.
// Test files run in parallel; each creates its own tenant(s), so they never collide.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const files = process.argv.slice(2);
let embedded;
let tmp;
const env = { ...process.env };
if (!env.DATABASE_URL) {
  const { startEmbeddedDatabase } = await import('../dist/src/store/embedded.js');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-test-'));
  fs.chmodSync(tmp, 0o755); // the embedded server may run as the postgres user
  embedded = await startEmbeddedDatabase(tmp, (m) => process.stderr.write(`${m}\n`));
  env.DATABASE_URL = embedded.url;
}
// Only *.test.js files are tests; helpers beside them are not.
const all = fs.readdirSync(path.join(root, 'dist', 'test'), { recursive: true }).filter((f) => String(f).endsWith('.test.js'));
const args = ['--test', '--test-concurrency=4', ...(files.length ? files : all.map((f) => path.join(root, 'dist', 'test', String(f))))];
const child = spawn(process.execPath, args, { stdio: 'inherit', env, cwd: root });
const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
if (embedded) {
  await embedded.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
