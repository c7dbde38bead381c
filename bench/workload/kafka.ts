/**
 * The workload over the Kafka protocol, against any Kafka-compatible bootstrap address: one
 * target per client library users would pick, kafkajs and @platformatic/kafka. Runnel is
 * measured through these; so could Apache Kafka or Redpanda be.
 *
 * Both produce with acks=all (-1) and no compression, to an explicit partition. kafkajs consumes
 * through a consumer group of its own that starts at the earliest offset and never commits;
 * @platformatic/kafka fetches assigned partitions directly, without a group.
 */
import { Admin, Consumer, Producer } from '@platformatic/kafka';
import { Kafka, type Consumer as KafkajsConsumer, type Producer as KafkajsProducer, logLevel } from 'kafkajs';
import type { ConsumerHandle, KafkaTargetOptions, TargetSpec, WorkloadTarget } from './target.ts';

const CLIENT_ID = 'runnel-bench';
const ACKS_ALL = -1;
const MAX_WAIT_MS = 100;
const MAX_BYTES_PER_PARTITION = 1 << 20;
const EMPTY = Buffer.alloc(0);

export class KafkajsTarget implements WorkloadTarget {
  readonly name = 'kafkajs';
  readonly spec: TargetSpec;
  private readonly kafka: Kafka;
  private readonly admin;
  private producer: KafkajsProducer | undefined;

  constructor(private readonly options: KafkaTargetOptions) {
    this.spec = { kind: 'kafkajs', ...options };
    this.kafka = new Kafka({
      clientId: CLIENT_ID,
      brokers: [options.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 3 },
    });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<void> {
    await this.admin.connect();
    await this.openProducer();
  }

  private async openProducer(): Promise<void> {
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
    await this.producer.connect();
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    await this.admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: this.options.replicationFactor }],
      waitForLeaders: true,
    });
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.admin.deleteTopics({ topics: [topic] });
    // A kafkajs producer keeps refreshing metadata for every topic it ever sent to, and fails
    // all later sends with UNKNOWN_TOPIC_OR_PARTITION once one of them is gone: start afresh.
    await this.producer?.disconnect();
    await this.openProducer();
  }

  async produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void> {
    await this.producer!.send({ topic, acks: ACKS_ALL, messages: values.map((value) => ({ partition, value })) });
  }

  async consume(
    topic: string,
    _partitions: number,
    onRecords: (values: readonly Buffer[]) => void,
  ): Promise<ConsumerHandle> {
    const consumer: KafkajsConsumer = this.kafka.consumer({
      groupId: `${CLIENT_ID}-${topic}`,
      maxWaitTimeInMs: MAX_WAIT_MS,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      allowAutoTopicCreation: false,
      retry: { retries: 2, restartOnFailure: async () => false },
    });
    // Joined, or crashed (a broker without consumer groups fails here): whichever comes first.
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve());
      consumer.on(consumer.events.CRASH, (event) => reject(event.payload.error));
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          onRecords(batch.messages.map((message) => message.value ?? EMPTY));
        },
      });
      await joined;
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return {
      async stop() {
        await consumer.disconnect();
      },
    };
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
    await this.admin.disconnect();
  }
}

/** Closes a consumer without waiting for in-flight fetches (the promise form of `close(true, callback)`). */
function forceClose(consumer: Consumer): Promise<void> {
  return new Promise((resolve, reject) => {
    consumer.close(true, (error) => (error ? reject(error) : resolve()));
  });
}

export class PlatformaticTarget implements WorkloadTarget {
  readonly name = '@platformatic/kafka';
  readonly spec: TargetSpec;
  private readonly admin: Admin;
  private readonly producer: Producer;

  constructor(private readonly options: KafkaTargetOptions) {
    this.spec = { kind: 'platformatic', ...options };
    this.admin = new Admin({ clientId: CLIENT_ID, bootstrapBrokers: [options.bootstrap] });
    this.producer = new Producer({
      clientId: CLIENT_ID,
      bootstrapBrokers: [options.bootstrap],
      acks: ACKS_ALL,
      autocreateTopics: false,
    });
  }

  async connect(): Promise<void> {
    // The clients connect on first use; asking for metadata checks the address now.
    await this.admin.metadata({ topics: [] });
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    await this.admin.createTopics({ topics: [topic], partitions, replicas: this.options.replicationFactor });
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.admin.deleteTopics({ topics: [topic] });
  }

  async produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void> {
    await this.producer.send({ messages: values.map((value) => ({ topic, partition, value })) });
  }

  /**
   * Reads the partitions it is given, without a consumer group (as the Java client's assign()):
   * one fetch loop per leader, each fetch asking for every partition that leader holds from the
   * offset after the last batch received. Measures the broker's fetch path without group
   * coordination; the kafkajs target covers the group path.
   */
  async consume(
    topic: string,
    partitions: number,
    onRecords: (values: readonly Buffer[]) => void,
  ): Promise<ConsumerHandle> {
    const consumer = new Consumer({
      clientId: CLIENT_ID,
      groupId: `${CLIENT_ID}-${topic}`,
      bootstrapBrokers: [this.options.bootstrap],
    });
    try {
      const metadata = await consumer.metadata({ topics: [topic] });
      const info = metadata.topics.get(topic);
      if (info === undefined) throw new Error(`no metadata for ${topic}`);
      const byLeader = new Map<number, number[]>();
      for (let partition = 0; partition < partitions; partition++) {
        const leader = info.partitions[partition]?.leader;
        if (leader === undefined || leader < 0) throw new Error(`${topic}-${partition} has no leader`);
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
      }
      const nextOffsets = Array.from({ length: partitions }, () => 0n);
      let stopped = false;
      const fetchLoop = async (node: number, owned: number[]) => {
        while (!stopped) {
          const response = await consumer.fetch({
            node,
            maxWaitTime: MAX_WAIT_MS,
            minBytes: 1,
            maxBytes: owned.length * MAX_BYTES_PER_PARTITION,
            topics: [
              {
                topicId: info.id,
                partitions: owned.map((partition) => ({
                  partition,
                  currentLeaderEpoch: -1,
                  fetchOffset: nextOffsets[partition]!,
                  lastFetchedEpoch: -1,
                  partitionMaxBytes: MAX_BYTES_PER_PARTITION,
                })),
              },
            ],
          });
          for (const topicResponse of response.responses) {
            for (const partition of topicResponse.partitions) {
              if (partition.errorCode !== 0) {
                throw new Error(`fetch ${topic}-${partition.partitionIndex}: error code ${partition.errorCode}`);
              }
              for (const batch of partition.records ?? []) {
                const end = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
                if (end <= nextOffsets[partition.partitionIndex]!) continue;
                nextOffsets[partition.partitionIndex] = end;
                onRecords(batch.records.map((record) => record.value ?? EMPTY));
              }
            }
          }
        }
      };
      // Keep a failing loop from going unhandled; stop() reports the first failure.
      const loops = [...byLeader].map(([node, owned]) =>
        fetchLoop(node, owned).then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
      return {
        async stop() {
          stopped = true;
          const failures = (await Promise.all(loops)).filter((error) => error !== undefined);
          await forceClose(consumer);
          if (failures.length > 0) throw failures[0];
        },
      };
    } catch (error) {
      await forceClose(consumer).catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.producer.close();
    await this.admin.close();
  }
}
