#!/usr/bin/env node
// Entry point of the `runnel` command and of `npm start`. Runs the production build,
// dist/runnel.js (`npm run build`, tools/build.mjs; `npm install` builds it), when it is
// there and no source file it was built from changed since; otherwise the TypeScript
// sources through tsx, as in development (slower to start, same behaviour).
// RUNNEL_FROM_SOURCE=1 runs the sources whatever dist/ holds.
//
// The check stats every source the bundle lists (hundreds of files: ~5-15 ms); it runs on
// libuv's threads while this thread reads and compiles the bundle, which runs once the
// check has passed.
import { readFileSync, stat, statSync } from 'node:fs';

const ROOT = new URL('../', import.meta.url);
const DIST = new URL('../dist/', import.meta.url);

/** dist/build-info.json when dist/ holds a build to run, else undefined. */
function builtInfo() {
  if (process.env.RUNNEL_FROM_SOURCE === '1') return undefined;
  let info;
  try {
    info = JSON.parse(readFileSync(new URL('build-info.json', DIST), 'utf8'));
  } catch {
    return undefined; // not built
  }
  if (statSync(new URL(info.entry, DIST), { throwIfNoEntry: false }) === undefined) return undefined;
  if (info.entryApi !== 'prepare') {
    // Built by an earlier tools/build.mjs: its entry would run the bundle as soon as imported.
    process.stderr.write(
      'runnel: dist/ was built by an earlier version; running the sources through tsx (npm run build refreshes dist/)\n',
    );
    return undefined;
  }
  return info;
}

/**
 * The first source (in the build's order) modified after the build started, or undefined.
 * A source that is gone is not a reason to distrust the bundle (an install without src/).
 */
function changedInput(info) {
  return new Promise((resolve) => {
    const changed = new Array(info.inputs.length).fill(false);
    let pending = info.inputs.length;
    if (pending === 0) resolve(undefined);
    info.inputs.forEach((input, i) => {
      stat(new URL(input, ROOT), (err, stats) => {
        changed[i] = err === null && stats.mtimeMs > info.startedAtMs;
        if (--pending === 0) resolve(info.inputs[changed.indexOf(true)]);
      });
    });
  });
}

const info = builtInfo();
let run;
if (info !== undefined) {
  const changed = changedInput(info);
  const bundle = await import(new URL(info.entry, DIST).href);
  const ready = bundle.prepare();
  const input = await changed;
  if (input === undefined) {
    run = ready;
  } else {
    process.stderr.write(
      `runnel: ${input} changed after dist/ was built; running the sources through tsx (npm run build refreshes dist/)\n`,
    );
  }
}
if (run !== undefined) {
  run();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
