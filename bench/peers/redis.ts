/**
 * Redis Streams as a peer: a redis-server of our own in a temporary directory, one stream key
 * per partition (`<topic>:<partition>`). Producing is pipelined XADD (one pipeline per batch),
 * consuming a blocking XREAD over all partitions' keys on its own connection.
 *
 * Run twice: without persistence (Redis's fastest, nothing survives a restart) and with the
 * append-only file synced every second, the closer match to a log that keeps what it accepted.
 */
import { Redis } from 'ioredis';
import { LOOPBACK, type Server, startServer, withTimeout } from '../harness/process.ts';
import type { Figure } from '../harness/results.ts';
import { runWorkload, WIDE_PARTITIONS, type WorkloadOptions } from '../workload/driver.ts';
import type { ConsumerHandle, TargetSpec, WorkloadTarget } from '../workload/target.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';

const keyOf = (topic: string, partition: number) => `${topic}:${partition}`;

type XReadReply = [key: Buffer, entries: [id: Buffer, fields: Buffer[]][]][] | null;

export class RedisTarget implements WorkloadTarget {
  readonly name = 'redis';
  readonly spec: TargetSpec;
  private writer: Redis | undefined;
  private readonly partitionsOf = new Map<string, number>();

  constructor(private readonly port: number) {
    this.spec = { kind: 'redis', port };
  }

  private open(): Redis {
    return new Redis({ host: LOOPBACK, port: this.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  }

  async connect(): Promise<void> {
    this.writer = this.open();
    await this.writer.connect();
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    // Streams come into being with their first XADD; start from empty keys.
    this.partitionsOf.set(topic, partitions);
    await this.deleteTopic(topic);
  }

  async deleteTopic(topic: string): Promise<void> {
    const partitions = this.partitionsOf.get(topic) ?? 0;
    if (partitions > 0) await this.writer!.del(...Array.from({ length: partitions }, (_, p) => keyOf(topic, p)));
  }

  async produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void> {
    const key = keyOf(topic, partition);
    const pipeline = this.writer!.pipeline();
    for (const value of values) pipeline.xadd(key, '*', 'v', value);
    const replies = await pipeline.exec();
    const failed = replies?.find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0];
  }

  async consume(
    topic: string,
    partitions: number,
    onRecords: (values: readonly Buffer[]) => void,
  ): Promise<ConsumerHandle> {
    const reader = this.open();
    await reader.connect();
    const keys = Array.from({ length: partitions }, (_, p) => keyOf(topic, p));
    const indexOf = new Map(keys.map((key, index) => [key, index]));
    const lastIds = keys.map(() => '0-0');
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const reply = (await reader.xreadBuffer(
          'COUNT',
          1000,
          'BLOCK',
          100,
          'STREAMS',
          ...keys,
          ...lastIds,
        )) as XReadReply;
        if (reply === null) continue;
        for (const [key, entries] of reply) {
          if (entries.length === 0) continue;
          lastIds[indexOf.get(key.toString())!] = entries.at(-1)![0].toString();
          onRecords(entries.map(([, fields]) => fields[1]!));
        }
      }
    })();
    // Keep a failing loop from going unhandled; stop() reports it.
    const outcome = loop.then(
      () => undefined,
      (error: unknown) => error,
    );
    return {
      async stop() {
        stopped = true;
        const error = await withTimeout(outcome, 5_000, 'redis consumer loop').catch((e: unknown) => e);
        reader.disconnect();
        if (error !== undefined) throw error;
      },
    };
  }

  async close(): Promise<void> {
    this.writer?.disconnect();
  }
}

/** Starts redis-server on a free loopback port, working in a new temporary directory. */
export async function startRedisServer(persistence: 'none' | 'aof-everysec'): Promise<Server> {
  const persistenceArgs =
    persistence === 'none' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'everysec'];
  return await startServer(
    'redis',
    REDIS_SERVER,
    (port, dir) => ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--dir', dir, ...persistenceArgs],
    /version=([^,\s]+)/,
  );
}

export async function runRedisBench(
  options: WorkloadOptions,
  persistence: 'none' | 'aof-everysec',
  /** The 100-partition max-rate workload too (full mode). */
  wide: boolean,
): Promise<{ figures: Figure[]; setup: string }> {
  const server = await startRedisServer(persistence);
  const target = new RedisTarget(server.port);
  const source = persistence === 'none' ? 'Redis' : 'Redis AOF';
  try {
    await withTimeout(target.connect(), 10_000, 'redis connect');
    const section = persistence === 'none' ? 'redis' : 'redis-aof';
    const labels = { section, source, kind: 'peer' as const };
    const figures = await runWorkload(target, options, labels);
    if (wide) figures.push(...(await runWorkload(target, { ...options, partitions: WIDE_PARTITIONS }, labels, 'p100')));
    const how =
      persistence === 'none'
        ? 'persistence OFF (--save "" --appendonly no): nothing survives a restart'
        : 'persistence ON (--appendonly yes --appendfsync everysec, --save "")';
    return {
      figures,
      setup: `${source}: redis-server ${server.version}, ${how}; ioredis 5, pipelined XADD per batch, blocking XREAD over the partition keys`,
    };
  } finally {
    await target.close().catch(() => undefined);
    await server.stop();
  }
}
