/**
 * What the workload driver needs from a system under test. One implementation per system and
 * client:
 * NATS JetStream and Redis Streams (bench/peers/), Kafka-protocol brokers through kafkajs,
 * @platformatic/kafka or the Runnel client (bench/workload/kafka.ts, runnel-client.ts).
 *
 * A "topic" has `partitions` independent ordered logs (Kafka partitions, JetStream subjects of
 * one stream, Redis stream keys). Records are opaque values; the driver puts its timestamps in
 * them.
 */
export interface WorkloadTarget {
  /** Short name for messages: "nats", "redis", "kafkajs". */
  readonly name: string;
  /**
   * How to make the same target in another process (bench/workload/targets.ts). Without one
   * (in-memory targets in tests), the latency phase runs both sides in this process.
   */
  readonly spec?: TargetSpec;
  connect(): Promise<void>;
  createTopic(topic: string, partitions: number): Promise<void>;
  /** Frees what the topic holds; best effort. */
  deleteTopic(topic: string): Promise<void>;
  /** Appends `values` to one partition; resolves once the system acknowledged all of them. */
  produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void>;
  /**
   * Reads every partition of `topic` from its start, calling `onRecords` as records arrive,
   * until stopped. Resolves once the consumer is positioned and fetching.
   */
  consume(topic: string, partitions: number, onRecords: (values: readonly Buffer[]) => void): Promise<ConsumerHandle>;
  close(): Promise<void>;
}

export interface ConsumerHandle {
  stop(): Promise<void>;
}

/** Kafka-protocol targets: the address and what topics are created with. */
export interface KafkaTargetOptions {
  readonly bootstrap: string;
  readonly replicationFactor: number;
  /** Topic configs given at creation (min.insync.replicas); Runnel client target only. */
  readonly topicConfigs?: Readonly<Record<string, string>>;
}

/** A target as data, so that a child process can connect the same client to the same system. */
export type TargetSpec =
  | { readonly kind: 'nats'; readonly port: number }
  | { readonly kind: 'redis'; readonly port: number }
  | ({ readonly kind: 'kafkajs' | 'platformatic' | 'runnel-client' } & KafkaTargetOptions);
