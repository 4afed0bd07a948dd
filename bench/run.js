#!/usr/bin/env node
// Runs benchmarks by name (`npm run bench -- import`), or all of them with no name.
// Each is a compiled script at the top of dist/bench/ (helpers live in dist/bench/lib/) that prints a table and, as its last line, one
// JSON object with its figures. Benchmarks use DATABASE_URL, or the embedded PostgreSQL
// in DATA_DIR when it is unset, and clean up after themselves.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const dir = path.join(root, 'dist', 'bench');
const available = fs.existsSync(dir)
  ? fs.readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort()
  : [];
const names = process.argv.slice(2);
for (const n of names) {
  if (!available.includes(n)) {
    process.stderr.write(`unknown benchmark '${n}'; available: ${available.join(', ') || 'none (run npm run build)'}\n`);
    process.exit(2);
  }
}
let failed = 0;
for (const name of names.length ? names : available) {
  const child = spawn(process.execPath, [path.join(dir, `${name}.js`)], { stdio: 'inherit', cwd: root, env: process.env });
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
  if (code !== 0) failed++;
}
process.exit(failed ? 1 : 0);
