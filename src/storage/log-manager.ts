/**
 * LogManager: the partition logs under one data directory.
 *
 *   <dataDir>/<topic>-<partition>/   one FileLog each (see file-log.ts)
 *   <dataDir>/.runnel_cleanshutdown  written by close() after every log closed cleanly
 *
 * It opens existing logs at start (recovering them when the marker is absent), creates and
 * deletes logs, shares one bounded FilePool and IndexCache between them, and runs
 * retention, compaction and flush.ms on a schedule from the injected Clock. The marker is
 * removed at open, so a crash at any later point means recovery next time.
 */
import { posix } from 'node:path';
import type { Clock } from '../env/clock.ts';
import type { Disk } from '../env/disk.ts';
import { StorageError } from '../env/disk.ts';
import { defaultLogConfig, type LogConfig } from './config.ts';
import { FileLog } from './file-log.ts';
import { FilePool, IndexCache } from './file-pool.ts';

export const CLEAN_SHUTDOWN_FILE = '.runnel_cleanshutdown';

export interface LogManagerOptions {
  dataDir: string;
  disk: Disk;
  clock: Clock;
  /** Config of logs created without one (and of logs found at open). */
  defaultConfig?: LogConfig;
  /** Per-log configs of existing logs, by "topic-partition" (e.g. from metadata). */
  configFor?: (topic: string, partition: number) => LogConfig | undefined;
  /** Partition directories that are not logs of this manager (e.g. the Raft metadata log). */
  skip?: (topic: string, partition: number) => boolean;
  /** Bound on open file handles shared by all logs (default 1024). */
  maxOpenFiles?: number;
  /** Bound on index bytes cached in memory (default 64 MiB). */
  indexCacheBytes?: number;
  /** log.retention.check.interval.ms (default 5 minutes). */
  retentionCheckIntervalMs?: number;
  /** log.cleaner.backoff.ms (default 15 s). */
  cleanerBackoffMs?: number;
  /** How often flush.ms is checked (default 1 s). */
  flushCheckIntervalMs?: number;
  /** Operations allowed to wait on one log before 'overloaded' errors (default 1000). */
  maxPendingAppends?: number;
  /** Logs opened at once during start (default 16). */
  openConcurrency?: number;
  /** Background task failures (the broker logs them and may mark the directory offline). */
  onError?: (err: unknown, task: string) => void;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** Splits "<topic>-<partition>" (topics may contain '-'). */
export function parsePartitionDirName(name: string): TopicPartition | undefined {
  const m = /^(.+)-(\d+)$/.exec(name);
  if (!m) return undefined;
  return { topic: m[1]!, partition: Number(m[2]) };
}

export class LogManager {
  readonly pool: FilePool;
  readonly indexCache: IndexCache;
  private readonly logs = new Map<string, FileLog>();
  private readonly opening = new Map<string, Promise<FileLog>>();
  private readonly cancels: (() => void)[] = [];
  private running = new Set<Promise<unknown>>();
  private closed = false;
  private readonly defaultConfig: LogConfig;

  private constructor(private readonly options: LogManagerOptions) {
    this.pool = new FilePool(options.disk, options.maxOpenFiles ?? 1024);
    this.indexCache = new IndexCache(options.indexCacheBytes ?? 64 * 1024 * 1024);
    this.defaultConfig = options.defaultConfig ?? { ...defaultLogConfig };
  }

  /** Opens every log under dataDir (recovering them after an unclean stop). */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const manager = new LogManager(options);
    await manager.load();
    return manager;
  }

  private async load(): Promise<void> {
    const { disk, dataDir } = this.options;
    await disk.mkdirp(dataDir);
    const marker = posix.join(dataDir, CLEAN_SHUTDOWN_FILE);
    const cleanShutdown = (await disk.stat(marker)) !== undefined;
    const names = await disk.readdir(dataDir);
    const found: TopicPartition[] = [];
    for (const name of names) {
      if (name.endsWith('-delete')) {
        await disk.rmrf(posix.join(dataDir, name));
        continue;
      }
      const tp = parsePartitionDirName(name);
      if (tp && this.options.skip?.(tp.topic, tp.partition)) continue;
      if (tp && (await disk.stat(posix.join(dataDir, name)))?.isDirectory) found.push(tp);
    }
    await forEachLimited(found, this.options.openConcurrency ?? 16, async (tp) => {
      await this.openLog(tp.topic, tp.partition, this.options.configFor?.(tp.topic, tp.partition), cleanShutdown);
    });
    // From here on, a crash must trigger recovery.
    if (cleanShutdown) {
      await disk.unlink(marker);
      await disk.syncDir(dataDir);
    }
  }

  private key(topic: string, partition: number): string {
    return partitionDirName(topic, partition);
  }

  private async openLog(topic: string, partition: number, config: LogConfig | undefined, cleanShutdown: boolean) {
    const log = await FileLog.open({
      dir: posix.join(this.options.dataDir, partitionDirName(topic, partition)),
      topic,
      partition,
      config: config ?? this.defaultConfig,
      disk: this.options.disk,
      clock: this.options.clock,
      pool: this.pool,
      indexCache: this.indexCache,
      cleanShutdown,
      maxPendingAppends: this.options.maxPendingAppends,
      onBackgroundError: (err) => this.options.onError?.(err, `flush ${topic}-${partition}`),
    });
    this.logs.set(this.key(topic, partition), log);
    return log;
  }

  getLog(topic: string, partition: number): FileLog | undefined {
    return this.logs.get(this.key(topic, partition));
  }

  allLogs(): FileLog[] {
    return [...this.logs.values()];
  }

  /** Returns the log, creating an empty one when missing. */
  async getOrCreateLog(topic: string, partition: number, config?: LogConfig): Promise<FileLog> {
    if (this.closed) throw new StorageError('closed', 'log manager closed');
    const existing = this.getLog(topic, partition);
    if (existing) {
      if (config) existing.updateConfig(config);
      return existing;
    }
    // Two callers creating the same log at once share one open.
    const key = this.key(topic, partition);
    let opening = this.opening.get(key);
    if (!opening) {
      opening = (async () => {
        try {
          const log = await this.openLog(topic, partition, config, false);
          await this.options.disk.syncDir(this.options.dataDir);
          return log;
        } finally {
          this.opening.delete(key);
        }
      })();
      this.opening.set(key, opening);
    }
    const log = await opening;
    if (config) log.updateConfig(config);
    return log;
  }

  /** Deletes a partition's log and its directory. */
  async deleteLog(topic: string, partition: number): Promise<void> {
    const log = this.getLog(topic, partition);
    if (!log) return;
    this.logs.delete(this.key(topic, partition));
    log.abandon();
    const dir = posix.join(this.options.dataDir, partitionDirName(topic, partition));
    // Rename first so a crash mid-delete leaves a directory load() finishes deleting.
    const doomed = `${dir}.${this.options.clock.nowMs()}-delete`;
    await this.options.disk.rename(dir, doomed);
    await this.options.disk.rmrf(doomed);
  }

  // ---- background work ---------------------------------------------------------------

  /** Starts retention, compaction and flush.ms on the Clock's schedule. */
  startBackgroundTasks(): void {
    const o = this.options;
    this.every(o.retentionCheckIntervalMs ?? 300_000, 'retention', () => this.runRetention());
    this.every(o.cleanerBackoffMs ?? 15_000, 'compaction', () => this.runCompaction());
    this.every(o.flushCheckIntervalMs ?? 1000, 'flush', () => this.runFlush());
  }

  private every(intervalMs: number, task: string, fn: () => Promise<unknown>): void {
    let cancel = (): void => {};
    const arm = (): void => {
      cancel = this.options.clock.schedule(intervalMs, () => {
        if (this.closed) return;
        const p = fn()
          .catch((err) => this.options.onError?.(err, task))
          .finally(() => {
            this.running.delete(p);
            if (!this.closed) arm();
          });
        this.running.add(p);
      });
    };
    arm();
    this.cancels.push(() => cancel());
  }

  /** Resolves when the background tasks running now have finished (tests, shutdown). */
  async whenIdle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** Retention over every log; returns the number of segments deleted. */
  async runRetention(): Promise<number> {
    const now = this.options.clock.nowMs();
    let deleted = 0;
    for (const log of this.allLogs()) {
      try {
        deleted += await log.deleteOldSegments(now);
      } catch (err) {
        this.options.onError?.(err, `retention ${log.topic}-${log.partition}`);
      }
    }
    return deleted;
  }

  /** One compaction pass over every compacted log; returns segments cleaned. */
  async runCompaction(): Promise<number> {
    const now = this.options.clock.nowMs();
    let cleaned = 0;
    for (const log of this.allLogs()) {
      if (!log.config.cleanupPolicy.compact) continue;
      try {
        cleaned += (await log.compact(now)).segmentsCleaned;
      } catch (err) {
        this.options.onError?.(err, `compaction ${log.topic}-${log.partition}`);
      }
    }
    return cleaned;
  }

  async runFlush(): Promise<void> {
    const now = this.options.clock.nowMs();
    for (const log of this.allLogs()) {
      try {
        await log.maybeFlush(now);
      } catch (err) {
        this.options.onError?.(err, `flush ${log.topic}-${log.partition}`);
      }
    }
  }

  /** Stops background work, closes every log and writes the clean-shutdown marker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const cancel of this.cancels) cancel();
    await Promise.allSettled([...this.running]);
    let failure: unknown;
    await forEachLimited(this.allLogs(), this.options.openConcurrency ?? 16, async (log) => {
      try {
        await log.close();
      } catch (err) {
        failure ??= err;
      }
    });
    if (failure !== undefined) throw failure;
    const { disk, dataDir } = this.options;
    const marker = posix.join(dataDir, CLEAN_SHUTDOWN_FILE);
    const file = await disk.open(marker, { create: true });
    try {
      await file.sync();
    } finally {
      await file.close();
    }
    await disk.syncDir(dataDir);
  }

  /** Drops every log without flushing or writing the marker (simulated crash in tests). */
  abandon(): void {
    this.closed = true;
    for (const cancel of this.cancels) cancel();
    for (const log of this.logs.values()) log.abandon();
  }
}

/** Runs fn over items, at most `limit` at a time. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
