// dist/runnel.js, copied here by tools/build.mjs: runs the bundle dist/runnel.cjs with a V8
// code cache. Without one, compiling the 2 MB bundle is most of a broker's start-up.
//
// The cache, dist/runnel.cjs.cache, is V8's own (vm.Script cachedData): V8 checks that it
// belongs to this very source, V8 version and flags, and rejects it otherwise. When it is
// missing or rejected, this run writes a new one, a second after start (so that it covers
// the functions a broker compiles while starting) or at exit if that comes first. A cache
// that cannot be written (a read-only install) only costs the start-up time it would save.
// `runnel start` and the client commands compile different parts of the bundle, so the
// client commands keep a cache of their own, dist/runnel.cjs.cli.cache: a `runnel --help`
// run first after a build would otherwise leave a broker a cache without its own functions.
import { isAscii } from 'node:buffer';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

// RUNNEL_START_TRACE=1: the loader's steps on stderr, in ms since the process started and
// of CPU time used (src/cli/start.ts prints the broker's steps the same way).
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const trace =
  process.env.RUNNEL_START_TRACE === '1'
    ? (step) =>
        process.stderr.write(
          `runnel: start trace: ${performance.now().toFixed(1)} ms (cpu ${cpuMs().toFixed(1)} ms) ${step}\n`,
        )
    : () => {};
trace('loader');

const BUNDLE = fileURLToPath(new URL('./runnel.cjs', import.meta.url));
const CACHE = process.argv[2] === 'start' ? `${BUNDLE}.cache` : `${BUNDLE}.cli.cache`;
const WRITE_CACHE_AFTER_MS = 1000;

// V8 takes a cache only under the V8 flags it was made under, and `runnel start` sets one
// while it runs (src/broker/heap-growth.ts), so a cache written later in the run was
// rejected at every start. The flags a run sets through v8.setFlagsFromString before its
// cache is written are kept beside the cache (CACHE.flags, a JSON list) and set again
// before the next compile.
const FLAGS = `${CACHE}.flags`;
const flagsSet = [];
try {
  for (const flag of JSON.parse(readFileSync(FLAGS, 'utf8'))) {
    v8.setFlagsFromString(flag);
    flagsSet.push(flag);
  }
} catch {
  // none kept
}
const setFlagsFromString = v8.setFlagsFromString;
v8.setFlagsFromString = (flags) => {
  setFlagsFromString.call(v8, flags);
  flagsSet.push(String(flags));
};

let cachedData;
try {
  cachedData = readFileSync(CACHE);
} catch {
  cachedData = undefined; // first run after a build
}
// An ASCII bundle (today's is) decodes exactly as latin1, in half the time UTF-8 takes.
const bytes = readFileSync(BUNDLE);
const text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
// The CommonJS wrapper on the bundle's first line, so that line numbers stay those of the file.
const source = `(function (exports, require, module, __filename, __dirname) { ${text}\n})`;
const script = new vm.Script(source, { filename: BUNDLE, cachedData });
trace(
  `bundle compiled (${cachedData === undefined ? 'no code cache' : script.cachedDataRejected ? 'code cache rejected' : 'code cache used'})`,
);

if (cachedData === undefined || script.cachedDataRejected) {
  let written = false;
  const writeCache = () => {
    if (written) return;
    written = true;
    const tmp = `${CACHE}.tmp-${process.pid}`;
    const flagsTmp = `${FLAGS}.tmp-${process.pid}`;
    try {
      // The flags first: a cache without its flags is only rejected (and rewritten).
      writeFileSync(flagsTmp, `${JSON.stringify([...new Set(flagsSet)])}\n`);
      renameSync(flagsTmp, FLAGS);
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, CACHE);
    } catch {
      rmSync(tmp, { force: true });
      rmSync(flagsTmp, { force: true });
    }
  };
  setTimeout(writeCache, WRITE_CACHE_AFTER_MS).unref();
  process.once('exit', writeCache);
}

const module = { exports: {}, filename: BUNDLE, id: BUNDLE, loaded: false };
script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
