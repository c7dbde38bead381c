/**
 * NATS JetStream as a peer: a nats-server of our own in a temporary directory, one file-storage
 * stream per topic whose subjects `<topic>.<partition>` stand in for partitions. Producing is
 * JetStream publish (each message acknowledged by the server), consuming an ordered pull
 * consumer from the first message.
 */
import {
  connect,
  createInbox,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from 'nats';
import { LOOPBACK, type Server, startServer, withTimeout } from '../harness/process.ts';
import type { Figure } from '../harness/results.ts';
import { runWorkload, WIDE_PARTITIONS, type WorkloadOptions } from '../workload/driver.ts';
import type { ConsumerHandle, TargetSpec, WorkloadTarget } from '../workload/target.ts';

export const NATS_SERVER = '/usr/sbin/nats-server';

export class NatsTarget implements WorkloadTarget {
  readonly name = 'nats';
  readonly spec: TargetSpec;
  private connection: NatsConnection | undefined;
  private manager: JetStreamManager | undefined;
  private client: JetStreamClient | undefined;
  private readonly inbox = createInbox();
  private nextBatchId = 0;
  private readonly pending = new Map<number, { remaining: number; resolve: () => void; reject: (e: Error) => void }>();

  constructor(private readonly port: number) {
    this.spec = { kind: 'nats', port };
  }

  async connect(): Promise<void> {
    this.connection = await connect({ servers: `${LOOPBACK}:${this.port}`, reconnect: false });
    this.manager = await this.connection.jetstreamManager();
    this.client = this.connection.jetstream();
    this.connection.subscribe(`${this.inbox}.*`, {
      callback: (_error, message) => this.onAck(message.subject, message.data),
    });
  }

  async createTopic(topic: string, _partitions: number): Promise<void> {
    await this.manager!.streams.add({
      name: topic,
      subjects: [`${topic}.*`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: 1,
    });
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.manager!.streams.delete(topic);
  }

  /**
   * Publishes every value with a reply subject naming this batch, and resolves once JetStream
   * acknowledged them all on our inbox subscription: the pipelined "async publish" that NATS
   * clients offer, without a promise and a timer per message.
   */
  async produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void> {
    const subject = `${topic}.${partition}`;
    const batchId = this.nextBatchId++;
    const acked = new Promise<void>((resolve, reject) => {
      this.pending.set(batchId, { remaining: values.length, resolve, reject });
    });
    const reply = `${this.inbox}.${batchId}`;
    for (const value of values) this.connection!.publish(subject, value, { reply });
    await acked;
  }

  private onAck(subject: string, data: Uint8Array): void {
    const batchId = Number(subject.slice(this.inbox.length + 1));
    const batch = this.pending.get(batchId);
    if (batch === undefined) return;
    // A JetStream publish acknowledgement is {"stream":..,"seq":..}; a refusal carries "error".
    if (data.length > 0 && Buffer.from(data.buffer, data.byteOffset, data.length).includes('"error"')) {
      this.pending.delete(batchId);
      batch.reject(new Error(`JetStream refused a publish: ${Buffer.from(data).toString()}`));
    } else if (--batch.remaining === 0) {
      this.pending.delete(batchId);
      batch.resolve();
    }
  }

  async consume(
    topic: string,
    _partitions: number,
    onRecords: (values: readonly Buffer[]) => void,
  ): Promise<ConsumerHandle> {
    // An ordered consumer starts at the first message by default (asking for DeliverPolicy.All explicitly
    // stalls it against nats-server 2.9).
    const consumer = await this.client!.consumers.get(topic);
    const messages = await consumer.consume({
      max_messages: 4096,
      callback: (message) =>
        onRecords([Buffer.from(message.data.buffer, message.data.byteOffset, message.data.length)]),
    });
    return {
      async stop() {
        await messages.close();
      },
    };
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}

/** Starts `nats-server -js` on a free loopback port with its store in a new temporary directory. */
export async function startNatsServer(): Promise<Server> {
  return await startServer(
    'nats',
    NATS_SERVER,
    (port, dir) => ['-js', '-sd', dir, '-p', String(port), '-a', LOOPBACK],
    /Version:\s+(\S+)/,
  );
}

/** `wide`: the 100-partition max-rate workload too (full mode). */
export async function runNatsBench(
  options: WorkloadOptions,
  wide: boolean,
): Promise<{ figures: Figure[]; setup: string }> {
  const server = await startNatsServer();
  const target = new NatsTarget(server.port);
  try {
    await withTimeout(target.connect(), 10_000, 'nats connect');
    const labels = { section: 'nats', source: 'NATS JS', kind: 'peer' as const };
    const figures = await runWorkload(target, options, labels);
    if (wide) figures.push(...(await runWorkload(target, { ...options, partitions: WIDE_PARTITIONS }, labels, 'p100')));
    return {
      figures,
      setup:
        `NATS JS: nats-server ${server.version} -js, file storage in a temp dir, 1 stream per topic with one subject ` +
        'per partition, default sync (no fsync per message); nats.js 2 client, JetStream publish pipelined (acks on one inbox, as async publish does) + ordered pull consumer',
    };
  } finally {
    await target.close().catch(() => undefined);
    await server.stop();
  }
}
