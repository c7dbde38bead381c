#!/usr/bin/env node
// Entry point of the `runnel` command and of `npm start`. Runs the production build,
// dist/runnel.js (`npm run build`, tools/build.mjs; `npm install` builds it), when it is
// there and no source file it was built from changed since; otherwise the TypeScript
// sources through tsx, as in development (slower to start, same behaviour).
// RUNNEL_FROM_SOURCE=1 runs the sources whatever dist/ holds.
import { readFileSync, statSync } from 'node:fs';

const ROOT = new URL('../', import.meta.url);
const DIST = new URL('../dist/', import.meta.url);

/** dist/runnel.js when it is there and up to date, else undefined. */
function builtEntry() {
  if (process.env.RUNNEL_FROM_SOURCE === '1') return undefined;
  let info;
  try {
    info = JSON.parse(readFileSync(new URL('build-info.json', DIST), 'utf8'));
  } catch {
    return undefined; // not built
  }
  const entry = new URL(info.entry, DIST);
  if (statSync(entry, { throwIfNoEntry: false }) === undefined) return undefined;
  // A source that is gone is not a reason to distrust the bundle (an install without src/);
  // one that changed after the build started is.
  for (const input of info.inputs) {
    const stat = statSync(new URL(input, ROOT), { throwIfNoEntry: false });
    if (stat !== undefined && stat.mtimeMs > info.startedAtMs) {
      process.stderr.write(
        `runnel: ${input} changed after dist/ was built; running the sources through tsx (npm run build refreshes dist/)\n`,
      );
      return undefined;
    }
  }
  return entry;
}

const entry = builtEntry();
if (entry !== undefined) {
  await import(entry.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
