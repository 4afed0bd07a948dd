#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (`npm run build`).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv));
