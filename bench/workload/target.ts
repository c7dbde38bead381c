/**
 * What the workload driver needs from a system under test. One implementation per system:
 * NATS JetStream and Redis Streams (bench/peers/), Kafka-protocol brokers through kafkajs or
 * @platformatic/kafka (bench/workload/kafka.ts), which is how Runnel is measured.
 *
 * A "topic" has `partitions` independent ordered logs (Kafka partitions, JetStream subjects of
 * one stream, Redis stream keys). Records are opaque values; the driver puts its timestamps in
 * them.
 */
export interface WorkloadTarget {
  /** Short name for messages: "nats", "redis", "kafkajs". */
  readonly name: string;
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
