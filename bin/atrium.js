#!/usr/bin/env node
// The package's command: the compiled CLI (built by `npm install` through the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('atrium: not built yet, run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
