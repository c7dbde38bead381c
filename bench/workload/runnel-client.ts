/**
 * The workload through the Runnel client (src/client, docs/client.md): the Node-to-Node
 * comparison with the peers, which are driven from Node too (nats.js, ioredis).
 *
 * Producer: acks=all with the client's defaults (idempotence on) except `linger.ms` 0 (the
 * driver hands over 64 records per call already, as the other targets' sends do) and
 * `batch.size` 256 KiB (so that one call of 64 KB stays one batch; bench/client.ts says why).
 * Consumer: assign() of every partition from the earliest offset, without a group (as the
 * @platformatic/kafka target), `fetch.max.wait.ms` 100 as the other Kafka targets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '../../src/client/admin.ts';
import { Consumer } from '../../src/client/consumer.ts';
import { Producer } from '../../src/client/producer.ts';
import type { ConsumerHandle, KafkaTargetOptions, TargetSpec, WorkloadTarget } from './target.ts';

const CLIENT_ID = 'runnel-bench';
const BATCH_BYTES = 256 * 1024;
const FETCH_MAX_WAIT_MS = 100;
const EMPTY = Buffer.alloc(0);
/** How long a new topic may take to have a leader (and, with RF>1, a full ISR) on every partition. */
const TOPIC_READY_TIMEOUT_MS = 60_000;

export class RunnelClientTarget implements WorkloadTarget {
  readonly name = 'runnel-client';
  readonly spec: TargetSpec;
  private admin: Admin | undefined;
  private producer: Producer | undefined;

  constructor(private readonly options: KafkaTargetOptions) {
    this.spec = { kind: 'runnel-client', ...options };
  }

  async connect(): Promise<void> {
    this.admin = new Admin({ bootstrapServers: this.options.bootstrap, clientId: CLIENT_ID });
    this.producer = new Producer({
      bootstrapServers: this.options.bootstrap,
      clientId: CLIENT_ID,
      acks: 'all',
      lingerMs: 0,
      batchSize: BATCH_BYTES,
    });
    await this.admin.describeCluster();
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    await this.createTopics([topic], partitions);
    await this.waitForLeaders([topic], partitions);
  }

  /**
   * Creates topics in one CreateTopics request, retrying while the cluster is still forming (too
   * few brokers registered yet).
   */
  async createTopics(topics: readonly string[], partitions: number): Promise<void> {
    const rf = this.options.replicationFactor;
    const deadline = performance.now() + TOPIC_READY_TIMEOUT_MS;
    for (;;) {
      try {
        await this.admin!.createTopics(
          topics.map((topic) => ({
            topic,
            numPartitions: partitions,
            replicationFactor: rf,
            configs: { ...this.options.topicConfigs },
          })),
          { timeoutMs: TOPIC_READY_TIMEOUT_MS },
        );
        return;
      } catch (error) {
        // TOPIC_ALREADY_EXISTS: an earlier attempt got through after all.
        if (/TOPIC_ALREADY_EXISTS/.test(String(error))) return;
        if (performance.now() > deadline) throw error;
        await sleep(200);
      }
    }
  }

  /** Waits until every partition of `topics` has a leader and an ISR of the replication factor. */
  async waitForLeaders(topics: readonly string[], partitions: number): Promise<void> {
    const rf = this.options.replicationFactor;
    const deadline = performance.now() + TOPIC_READY_TIMEOUT_MS;
    for (;;) {
      const descriptions = await this.admin!.describeTopics([...topics]).catch(() => []);
      const ready =
        descriptions.length === topics.length &&
        descriptions.every(
          (d) => d.partitions.length === partitions && d.partitions.every((p) => p.leader >= 0 && p.isr.length >= rf),
        );
      if (ready) return;
      if (performance.now() > deadline) throw new Error(`${topics[0]}...: partitions without a leader or full ISR`);
      await sleep(100);
    }
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.admin!.deleteTopics([topic]);
  }

  async produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void> {
    await this.producer!.send(values.map((value) => ({ topic, partition, value })));
  }

  async consume(
    topic: string,
    partitions: number,
    onRecords: (values: readonly Buffer[]) => void,
  ): Promise<ConsumerHandle> {
    const consumer = new Consumer({
      bootstrapServers: this.options.bootstrap,
      clientId: CLIENT_ID,
      autoOffsetReset: 'earliest',
      enableAutoCommit: false,
      fetchMaxWaitMs: FETCH_MAX_WAIT_MS,
    });
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
    const loop = (async () => {
      for await (const batch of consumer.batches()) onRecords(batch.records.map((record) => record.value ?? EMPTY));
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    return {
      async stop() {
        await consumer.close();
        const failure = await loop;
        if (failure !== undefined) throw failure;
      },
    };
  }

  async close(): Promise<void> {
    await this.producer?.close();
    await this.admin?.close();
  }
}
