#!/usr/bin/env node
// Entry point of the `runnel` command and of `npm start`. Runs the production build,
// dist/runnel.js (`npm run build`, tools/build.mjs; `npm install` builds it), when it is
// there and no source file it was built from changed since; otherwise the TypeScript
// sources through tsx, as in development (slower to start, same behaviour).
// RUNNEL_FROM_SOURCE=1 runs the sources whatever dist/ holds.
//
// The check stats each of the ~450 sources (~4 ms of CPU). An installed package (under
// node_modules) skips it: its sources are not edited, and its dist/ was built at install.
import { readFileSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// RUNNEL_START_TRACE=1: steps on stderr, in ms since the process started and of CPU used
// (as the loader and src/cli/start.ts print theirs).
const trace =
  process.env.RUNNEL_START_TRACE === '1'
    ? (step) => {
        const { user, system } = process.cpuUsage();
        const cpu = ((user + system) / 1000).toFixed(1);
        process.stderr.write(`runnel: start trace: ${performance.now().toFixed(1)} ms (cpu ${cpu} ms) ${step}\n`);
      }
    : () => {};
trace('bin/runnel.js');

// Paths, not URLs: a file: URL per stat costs ~20 us more to make and convert.
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'dist');
const INSTALLED = ROOT.includes(`${sep}node_modules${sep}`);

/** dist/runnel.js when it is there and up to date, else undefined. */
function builtEntry() {
  if (process.env.RUNNEL_FROM_SOURCE === '1') return undefined;
  let info;
  try {
    info = JSON.parse(readFileSync(join(DIST, 'build-info.json'), 'utf8'));
  } catch {
    return undefined; // not built
  }
  const entry = join(DIST, info.entry);
  if (statSync(entry, { throwIfNoEntry: false }) === undefined) return undefined;
  if (INSTALLED) return entry;
  // A source that is gone is not a reason to distrust the bundle (an install without src/);
  // one that changed after the build started is.
  // ROOT ends with a separator and the inputs are relative: a concatenation, not join(),
  // whose normalisation of each path cost more than the stats (~4 of ~8 ms of CPU).
  for (const input of info.inputs) {
    const stat = statSync(ROOT + input, { throwIfNoEntry: false });
    if (stat !== undefined && stat.mtimeMs > info.startedAtMs) {
      process.stderr.write(
        `runnel: ${input} changed after dist/ was built; running the sources through tsx (npm run build refreshes dist/)\n`,
      );
      return undefined;
    }
  }
  trace('sources checked');
  return entry;
}

const entry = builtEntry();
if (entry !== undefined) {
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
