/**
 * Runnel's Kafka client: Producer, Consumer and Admin over one connection layer (Cluster,
 * BrokerConnection), typed errors and serializers. Partitioners and assignors are exported
 * for custom strategies.
 */
export * from './admin.ts';
export type { Assignor, TopicPartition } from './assignors/index.ts';
export {
  BUILT_IN_ASSIGNORS,
  cooperativeStickyAssignor,
  rangeAssignor,
  roundRobinAssignor,
  stickyAssignor,
} from './assignors/index.ts';
export { Cluster, type CommonClientOptions } from './cluster.ts';
export type { ConsumerRecord } from './completed-fetch.ts';
export { BrokerConnection } from './connection.ts';
export {
  Consumer,
  type ConsumerOptions,
  type PollOptions,
  type RebalanceListener,
  type RecordBatchView,
} from './consumer.ts';
export * from './errors.ts';
export {
  BuiltInPartitioner,
  murmur2,
  type Partitioner,
  partitionForKey,
  UNKNOWN_PARTITION,
} from './partitioner/index.ts';
export {
  type Acks,
  Producer,
  type ProducerHeaders,
  type ProducerOptions,
  type ProducerRecord,
  type RecordMetadata,
} from './producer.ts';
export * from './serde.ts';
export type { ConsumerGroupMetadata, TransactionOffset, TransactionState } from './transactions.ts';
