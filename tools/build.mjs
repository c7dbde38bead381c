#!/usr/bin/env node
// The production build: bundles the `runnel` command (src/cli/main.ts) into dist/runnel.cjs
// with esbuild, so that starting a broker loads one JavaScript file instead of transpiling
// the TypeScript sources through tsx at every start. Runs from `npm run build` and from
// `prepare` (so `npm install` / `npm ci` build it); takes a second or two.
//
// dist/runnel.js, the entry, is a small loader (tools/dist-loader.mjs) that compiles the
// bundle with a V8 code cache (dist/runnel.cjs.cache for `runnel start`, runnel.cjs.cli.cache
// for the other commands, each written by the first such run and again
// whenever V8 rejects it: another Node version, another bundle). Compiling the 2 MB bundle
// is most of a broker's start-up without it. The bundle is CommonJS because Node 20 can
// cache the compilation of a script (vm.Script cachedData) but not of an ES module.
//
//   node tools/build.mjs                  # write dist/
//   node tools/build.mjs --outdir DIR     # elsewhere (tests; DIR inside the repo, so that
//                                         # the bundle finds node_modules)
//
// commander is compiled into the bundle (the code cache then covers it); the other npm
// dependencies (the native compression and CRC packages) stay external and load from
// node_modules; Node's built-ins are external by platform, some loaded at first use. The bundle is not
// minified (stack traces stay readable); dist/runnel.js.map maps it back to src/ for
// debuggers and `node --enable-source-maps` (off by default: it costs ~14 MB of RSS).
//
// dist/build-info.json lists the source files the bundle was made from and when the build
// started; bin/runnel.js compares their modification times with that and runs the sources through tsx
// when the bundle is older than one of them (a build that was not redone after an edit).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { outdir: { type: 'string' } } });
const OUT_DIR = args.outdir === undefined ? join(ROOT, 'dist') : resolve(args.outdir);
const started = performance.now();
// Sources modified after this instant are newer than the bundle (bin/runnel.js checks).
const startedAtMs = Date.now();

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

// Loaded at first use rather than at start. The compression codecs: native packages a broker
// needs only once a compressed batch arrives (each costs 10-25 ms of start-up and 3-7 MB of
// RSS). Node built-ins a broker does not use while starting: child_process (commander's, for
// executable sub-commands, which runnel has none of; it pulls in dgram and more, ~4 ms of
// CPU), zlib (the gzip codec) and readline (`runnel produce`).
const LOAD_AT_FIRST_USE = new Set(['lz4-napi', 'snappy', 'zstd-napi/binding.js']);
const BUILTINS_AT_FIRST_USE = new Set(['child_process', 'zlib', 'readline']);

// npm packages compiled into the bundle, so that the code cache covers them: plain
// JavaScript without native parts. commander runs at every start (~7 ms of CPU to compile
// from node_modules without a cache).
const BUNDLED_PACKAGES = new Set(['commander']);

/** True when `specifier`, imported from `importer`, is a CommonJS module (or a native addon). */
function isCommonJs(specifier, importer) {
  let path;
  try {
    path = createRequire(importer).resolve(specifier);
  } catch {
    return false; // not require-able (ESM-only exports): leave it to Node's ESM loader
  }
  if (path.endsWith('.node') || path.endsWith('.cjs')) return true;
  if (!path.endsWith('.js')) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type !== 'module';
    } catch {
      if (dirname(dir) === dir) return true;
    }
  }
}

/**
 * The native addon a napi-rs package's loader picks on this machine, as a specifier the
 * bundle can require() directly (e.g. '@node-rs/crc32-linux-x64-gnu/crc32.linux-x64-gnu.node'),
 * or undefined. Such a loader probes the libc (reads /usr/bin/ldd) and first tries a file
 * that is not there (an Error with its stack) before it loads the platform package: ~2 ms
 * of a start's CPU for @node-rs/crc32, which the Raft store needs at start. Only when the
 * package exports exactly the addon's functions; the bundle falls back to the package when
 * the addon does not load (node_modules copied to another platform).
 */
function nativeAddonOf(specifier) {
  const require = createRequire(join(ROOT, 'package.json'));
  const before = new Set(Object.keys(require.cache));
  let exported;
  try {
    exported = require(specifier);
  } catch {
    return undefined;
  }
  const added = Object.keys(require.cache).filter((path) => !before.has(path) && path.endsWith('.node'));
  if (added.length !== 1) return undefined;
  const addon = require.cache[added[0]].exports;
  const names = Object.keys(exported);
  if (names.length === 0 || names.some((name) => exported[name] !== addon[name])) return undefined;
  const at = added[0].lastIndexOf(`node_modules${sep}`);
  if (at < 0) return undefined;
  return added[0]
    .slice(at + 'node_modules'.length + 1)
    .split(sep)
    .join('/');
}

/**
 * npm packages other than BUNDLED_PACKAGES stay in node_modules. The CommonJS ones (all of
 * today's) are loaded with require() rather than import: Node's ESM loader would scan each
 * one's source for its export names at every start, and the codecs above would load before
 * they are needed. A codec's exports are getters that require() the package at first access
 * (esbuild reads imported bindings at each use), so a broker that never sees, say, a snappy
 * batch never loads snappy; a codec that fails to load then fails the request that needs it
 * rather than the start. BUILTINS_AT_FIRST_USE are wrapped the same way.
 */
const externalPackages = {
  name: 'runnel-external-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      // The require() in the modules written below: the real one, at run time.
      if (args.namespace === 'runnel-require') return { path: args.path, external: true };
      if (isBuiltin(args.path)) {
        const name = args.path.replace(/^node:/, '');
        if (BUILTINS_AT_FIRST_USE.has(name)) return { path: `node:${name}`, namespace: 'runnel-require' };
        return { path: args.path, external: true };
      }
      if (BUNDLED_PACKAGES.has(args.path)) return undefined;
      if (!isCommonJs(args.path, args.importer)) return { path: args.path, external: true };
      return { path: args.path, namespace: 'runnel-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'runnel-require' }, (args) => {
      const specifier = JSON.stringify(args.path);
      if (!LOAD_AT_FIRST_USE.has(args.path) && !args.path.startsWith('node:')) {
        const addon = nativeAddonOf(args.path);
        if (addon === undefined) return { contents: `module.exports = require(${specifier});`, loader: 'js' };
        return {
          contents: `try { module.exports = require(${JSON.stringify(addon)}); } catch { module.exports = require(${specifier}); }`,
          loader: 'js',
        };
      }
      // The export names, from the package as installed here.
      const names = Object.keys(createRequire(join(ROOT, 'package.json'))(args.path));
      const getters = names.map(
        (name) => `  ${JSON.stringify(name)}: { enumerable: true, get: () => load()[${JSON.stringify(name)}] },`,
      );
      return {
        contents: [
          'let loaded;',
          `const load = () => (loaded ??= require(${specifier}));`,
          'module.exports = Object.defineProperties({}, {',
          ...getters,
          '});',
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

// Written next to their final names and renamed into place (the bundle before
// build-info.json), so that a broker starting while the build runs never loads half a file.
function writeInPlace(path, contents) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

mkdirSync(OUT_DIR, { recursive: true });
try {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { runnel: 'src/cli/main.ts' },
    outdir: OUT_DIR,
    outExtension: { '.js': '.cjs' },
    write: false,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [externalPackages],
    // import.meta.url (src/version.ts reads it when run from source) as the bundle's URL.
    banner: { js: "const runnelImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    sourcemap: 'linked',
    sourcesContent: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    // src/version.ts reads package.json when run from source; the bundle carries the version.
    define: { RUNNEL_BUILD_VERSION: JSON.stringify(pkg.version), 'import.meta.url': 'runnelImportMetaUrl' },
    // Non-ASCII characters as they are, not as \u escapes.
    charset: 'utf8',
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((path) => !path.startsWith('node_modules/') && !path.includes(':'))
    .sort();
  // A cache of the previous bundle would only be rejected (and rewritten); the map of the
  // ES module bundle that dist/runnel.js was before is stale.
  for (const cache of ['runnel.cjs.cache', 'runnel.cjs.cli.cache']) {
    rmSync(join(OUT_DIR, cache), { force: true });
    rmSync(join(OUT_DIR, `${cache}.flags`), { force: true });
  }
  rmSync(join(OUT_DIR, 'runnel.js.map'), { force: true });
  for (const file of result.outputFiles) writeInPlace(file.path, file.contents);
  writeInPlace(join(OUT_DIR, 'runnel.js'), readFileSync(join(ROOT, 'tools', 'dist-loader.mjs')));
  writeInPlace(
    join(OUT_DIR, 'build-info.json'),
    `${JSON.stringify({ version: pkg.version, entry: 'runnel.js', startedAtMs, inputs: ['package.json', 'tools/dist-loader.mjs', ...inputs] }, null, 2)}\n`,
  );
  const ms = performance.now() - started;
  console.log(
    `built ${relative(process.cwd(), join(OUT_DIR, 'runnel.cjs'))} from ${inputs.length} files in ${ms.toFixed(0)} ms`,
  );
} catch (err) {
  // esbuild has printed the errors already.
  if (!(err instanceof Error && 'errors' in err)) console.error(err);
  process.exit(1);
}
