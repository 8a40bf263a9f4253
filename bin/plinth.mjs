#!/usr/bin/env node
// Runs the compiled build (dist/, written by `npm run build`, which `npm install` runs) when it is newer
// than every source file (src/, and sdk/, whose platform client the CLI uses); otherwise the TypeScript sources through tsx, so an edited checkout never runs
// stale code. Compiled JavaScript starts faster and spends no memory on a run-time transpiler.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

function builtAt() {
  try {
    return statSync(`${root}dist/main.js`).mtimeMs;
  } catch {
    return 0;
  }
}

const built = process.env.PLINTH_FROM_SOURCE === '1' ? 0 : builtAt();
if (built > 0 && built >= Math.max(newestSource(`${root}src`), newestSource(`${root}sdk`))) {
  await import('../dist/main.js');
} else {
  if (built > 0) process.stderr.write('plinth: sources changed since the last build (npm run build); running them through tsx\n');
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
