#!/usr/bin/env node
// `npm run test:conformance`: the independent check against data the project did not write.
// Reads the official US Core 6.1.0 examples from ../shared/data/us-core-6.1.0-examples
// (beside the repository, never copied into it), then runs the conformance test files with
// the suite's runner (DATABASE_URL, or an embedded PostgreSQL).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const examples = path.resolve(root, '..', 'shared', 'data', 'us-core-6.1.0-examples');
const count = fs.existsSync(examples) ? fs.readdirSync(examples).filter((f) => f.endsWith('.json')).length : 0;
if (count === 0) {
  process.stderr.write(
    `test:conformance needs the official US Core 6.1.0 examples (183 JSON files) in ${examples}\n` +
      `(the folder ../shared/data/us-core-6.1.0-examples beside the repository): ${fs.existsSync(examples) ? 'it holds no .json file' : 'it is missing'}.\n`,
  );
  process.exit(2);
}
const dir = path.join(root, 'dist', 'conformance');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => path.join(dir, f));
const child = spawn(process.execPath, [path.join(root, 'test', 'run.js'), ...files], { stdio: 'inherit', env: { ...process.env, US_CORE_EXAMPLES: examples } });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
