/**
 * Start-up of `runnel start` as a user sees it, measured one way for every section that
 * reports it (`broker` and `runnel`): a series of starts one after another, each a new
 * process on a free port with an empty log dir of its own, timed from spawn to the
 * "listening" line and to the first acknowledged produce (a topic auto-created by Metadata,
 * acks=all), then stopped with SIGTERM. Figures are medians of the series.
 *
 * Every start runs with RUNNEL_START_TRACE=1 (a few lines on stderr): the loader says
 * whether V8 took the code cache, and the broker the CPU time it used until it was
 * unfenced, a figure the machine's load barely moves (the wall-clock ones it does).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, LOOPBACK, rssBytes } from '../harness/process.ts';
import { firstAckedProduce } from './built-broker.ts';

/** bin/runnel.js ran the sources: one of them changed after the build (someone is editing). */
export class StaleBuildError extends Error {}

export interface StartSample {
  /** Spawn to the "listening" line on stdout. */
  readonly listeningMs: number;
  /** Spawn to the first acknowledged produce (sent once the line is out). */
  readonly firstProduceMs: number;
  /** CPU (user + system) the broker process used until it was unfenced, from its trace; null without one. */
  readonly cpuMs: number | null;
  /** What the bundle's loader said of the V8 code cache: "used", "rejected", "none", or null (no loader line: the sources ran). */
  readonly codeCache: string | null;
  /** After `idleMs` of idling, when asked for. */
  readonly idleRssBytes: number | null;
}

export interface StartOptions {
  /** Node arguments before `start` (e.g. ['bin/runnel.js']). */
  readonly args: readonly string[];
  readonly cwd: string;
  /** Where the log dirs are made (one per start, removed after it). */
  readonly logParent: string;
  /** Measure the idle RSS after this long (ms); none when unset. */
  readonly idleMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** One measured start, stopped afterwards. */
export async function measureStart(options: StartOptions): Promise<StartSample> {
  const port = await freePort();
  const logDir = await mkdtemp(join(options.logParent, 'runnel-start-'));
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), RUNNEL_START_TRACE: '1' };
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...options.args, 'start', '--set', `listeners=PLAINTEXT://${LOOPBACK}:${port}`, '--set', `log.dirs=${logDir}`],
    { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  try {
    const listeningMs = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`runnel start: no listening line in ${START_TIMEOUT_MS} ms: ${stderr}`)),
        START_TIMEOUT_MS,
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/ listening on /.test(out)) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`runnel start exited (${code}) before listening: ${stderr}`));
      });
    });
    await firstAckedProduce(`${LOOPBACK}:${port}`, START_TIMEOUT_MS);
    const firstProduceMs = performance.now() - started;
    if (/running the sources through tsx/.test(stderr)) throw new StaleBuildError(stderr);
    let idleRssBytes: number | null = null;
    if (options.idleMs !== undefined) {
      await sleep(options.idleMs);
      idleRssBytes = await rssBytes(child.pid!);
    }
    const cache = /start trace: .* bundle compiled \((?:code cache (used|rejected)|(no) code cache)\)/.exec(stderr);
    const cpu = /start trace: [\d.]+ ms \(cpu ([\d.]+) ms\) broker unfenced/.exec(stderr);
    return {
      listeningMs,
      firstProduceMs,
      cpuMs: cpu === null ? null : Number(cpu[1]),
      codeCache: cache === null ? null : cache[1] === undefined ? 'none' : cache[1]!,
      idleRssBytes,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    await rm(logDir, { recursive: true, force: true });
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface StartSeries {
  readonly samples: readonly StartSample[];
  readonly listeningMs: number;
  readonly firstProduceMs: number;
  /** Median CPU until unfenced; null when no start traced it. */
  readonly cpuMs: number | null;
  /** e.g. "code cache used in 7 of 7 starts". */
  readonly codeCache: string;
}

/**
 * `runs` starts one after another, with `beforeEach` before each (e.g. dropping the code
 * cache); `rebuild` is called and the start measured again when bin/runnel.js found the
 * build stale (a source edited meanwhile), a few times at most.
 */
export async function measureStarts(
  options: StartOptions,
  runs: number,
  hooks: { beforeEach?: () => void; rebuild?: () => Promise<void> | void } = {},
): Promise<StartSeries> {
  const samples: StartSample[] = [];
  for (let attempts = 0; samples.length < runs; attempts++) {
    try {
      hooks.beforeEach?.();
      samples.push(await measureStart(options));
    } catch (error) {
      if (!(error instanceof StaleBuildError) || hooks.rebuild === undefined || attempts >= runs + 3) throw error;
      await hooks.rebuild();
    }
  }
  const cpu = samples.flatMap((s) => (s.cpuMs === null ? [] : [s.cpuMs]));
  const described = (state: string | null): string =>
    state === null ? 'the sources ran (no loader)' : state === 'none' ? 'no code cache' : `code cache ${state}`;
  const states = new Map<string, number>();
  for (const s of samples) states.set(described(s.codeCache), (states.get(described(s.codeCache)) ?? 0) + 1);
  const codeCache = [...states].map(([state, n]) => `${state} in ${n} of ${samples.length} starts`).join(', ');
  return {
    samples,
    listeningMs: median(samples.map((s) => s.listeningMs)),
    firstProduceMs: median(samples.map((s) => s.firstProduceMs)),
    cpuMs: cpu.length === 0 ? null : median(cpu),
    codeCache,
  };
}

/** The production build of the current sources into dist/, where bin/runnel.js finds it (removes the code cache). */
export function buildDist(root: string): void {
  execFileSync(process.execPath, ['tools/build.mjs'], { cwd: root, stdio: 'ignore', timeout: 120_000 });
}

/**
 * Writes what earlier sections left in the page cache to disk (`sync`), so that their
 * writeback (disk and CPU) is not under way while starts are timed. (With 2 GB dirty the
 * starts were not measurably slower at load 8: a precaution, not a correction.)
 */
export function syncDisks(): void {
  execFileSync('sync', [], { stdio: 'ignore', timeout: 120_000 });
}
