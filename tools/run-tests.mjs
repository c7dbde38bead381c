#!/usr/bin/env node
// Runs the test suite with node:test, one child process per test file, TEST_CONCURRENCY
// (default 2) at a time. Node 20's `--test` does not expand globs, so this collects
// test/**/*.test.ts itself. Arguments narrow the run to files whose path contains one of
// them: `npm test -- storage e2e/admin`.
//
// Every file has a hard time limit (TEST_FILE_TIMEOUT_S, default 600): a file still running
// then (a hung hook, a handle that keeps the process alive) is killed with its process group
// and counted as failed, with its output so far. The whole run has a limit too
// (TEST_TOTAL_TIMEOUT_S, default 2700). Each file's TAP output is printed in one piece when
// the file ends, then one summary line per file and the totals.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY ?? '2'));
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_S ?? '600') * 1000;
const totalTimeoutMs = Number(process.env.TEST_TOTAL_TIMEOUT_S ?? '2700') * 1000;

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'fixtures' && entry.name !== 'node_modules') out.push(...collect(path));
    } else if (entry.name.endsWith('.test.ts')) {
      out.push(relative(root, path));
    }
  }
  return out;
}

const files = collect(join(root, 'test'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

/**
 * Counts from the "# pass N" lines node:test's TAP reporter prints at the end. `counted` is
 * false when they are missing: --test-force-exit can end a passing file before the reporter
 * wrote all of its output (the exit code still says how the file did).
 */
function countsOf(output) {
  const counts = {
    counted: /^# tests \d+$/m.test(output),
    tests: 0,
    pass: 0,
    fail: 0,
    cancelled: 0,
    skipped: 0,
    todo: 0,
  };
  for (const key of Object.keys(counts).filter((k) => k !== 'counted')) {
    const m = output.match(new RegExp(`^# ${key} (\\d+)$`, 'm'));
    if (m) counts[key] = Number(m[1]);
  }
  return counts;
}

const running = new Map();
const results = [];

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--test-reporter=tap', '--test-force-exit', file], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    let timedOut = false;
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, fileTimeoutMs);
    running.set(file, { started, kill });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(file);
      // Whatever the file left behind in its process group goes too.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      const seconds = (Date.now() - started) / 1000;
      const counts = countsOf(output);
      const failed = timedOut || code !== 0 || signal !== null || counts.fail > 0 || counts.cancelled > 0;
      process.stdout.write(`\n# ==== ${file} ====\n${output}`);
      const why = timedOut
        ? `TIMED OUT after ${fileTimeoutMs / 1000} s (killed)`
        : failed
          ? `FAILED (exit ${signal ?? code})`
          : 'ok';
      process.stdout.write(`# ==== ${file}: ${why}, ${seconds.toFixed(1)} s\n`);
      results.push({ file, failed, why, seconds, counts });
      resolve();
    });
  });
}

const started = Date.now();
const totalTimer = setTimeout(() => {
  console.error(`\nthe test run passed its limit of ${totalTimeoutMs / 1000} s; still running:`);
  for (const [file, r] of running) console.error(`  ${file} (${((Date.now() - r.started) / 1000).toFixed(0)} s)`);
  for (const r of running.values()) r.kill();
  process.exit(1);
}, totalTimeoutMs);

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (queue.length > 0) await runFile(queue.shift());
  }),
);
clearTimeout(totalTimer);

const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
for (const r of results) for (const k of Object.keys(total)) total[k] += r.counts[k];
const failedFiles = results.filter((r) => r.failed);
const uncounted = results.filter((r) => !r.counts.counted && !r.failed);
const slowest = [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 8);
console.log('\n# slowest files:');
for (const r of slowest) console.log(`#   ${r.seconds.toFixed(1).padStart(6)} s  ${r.file}`);
console.log(
  `# files ${results.length}, tests ${total.tests}, pass ${total.pass}, fail ${total.fail}, ` +
    `cancelled ${total.cancelled}, skipped ${total.skipped}, todo ${total.todo}; ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s`,
);
if (uncounted.length > 0) {
  console.log(
    `# passed, but their output ended before the counts (not in the totals): ${uncounted.map((r) => r.file).join(', ')}`,
  );
}
if (failedFiles.length > 0) {
  console.log('# failed files:');
  for (const r of failedFiles) console.log(`#   ${r.file}: ${r.why}`);
  process.exit(1);
}
