/**
 * The transaction coordinator of a broker (`services.transactions`): routes each
 * transactional id to its shard (the __transaction_state partition
 * `abs(String.hashCode(id)) % transaction.state.log.num.partitions`), creates
 * __transaction_state (compacted) on first use, loads or unloads shards as this node
 * gains or loses leadership of its partitions, hands out producer ids, and drives the
 * markers of finished transactions (marker-channel.ts) before completing them.
 */
import type { Clock } from '../../env/clock.ts';
import type { MetadataCache, MetadataUpdate } from '../../metadata/cache.ts';
import type { MetadataImage } from '../../metadata/image.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { TopicCreator } from '../group/coordinator.ts';
import { partitionFor } from '../runtime/hash.ts';
import { type CoordinatorLocation, locateCoordinator } from '../runtime/locate.ts';
import { type CoordinatorLog, CoordinatorRuntime } from '../runtime/runtime.ts';
import type { TxnMarkerChannel } from './marker-channel.ts';
import { type TxnRecord, txnRecordSerde } from './records.ts';
import {
  type DescribedTxn,
  type InitResult,
  type ListedTxn,
  type PreparedTxn,
  type TopicPartitionRef,
  TXN_STATE_NAMES,
  TxnShard,
  type TxnShardConfig,
} from './shard.ts';
import { TxnVerificationChannel } from './verification-channel.ts';

export const TRANSACTION_STATE_TOPIC = '__transaction_state';

export interface TxnCoordinatorConfig extends TxnShardConfig {
  /** transaction.state.log.num.partitions */
  numPartitions: number;
  /** transaction.state.log.replication.factor */
  replicationFactor: number;
  /** transaction.state.log.min.isr */
  minIsr: number;
  /** transaction.state.log.segment.bytes */
  segmentBytes: number;
}

export const DEFAULT_TXN_CONFIG: TxnCoordinatorConfig = {
  numPartitions: 50,
  replicationFactor: 1,
  minIsr: 1,
  segmentBytes: 104857600,
  maxTimeoutMs: 900_000,
  idExpirationMs: 604_800_000,
  abortIntervalMs: 10_000,
  removeExpiredIntervalMs: 3_600_000,
};

/** Reads the transaction.* settings through a property getter (the broker config). */
export function txnConfigFrom(get: (name: string) => string | null | undefined): TxnCoordinatorConfig {
  const num = (name: string, fallback: number): number => {
    const v = get(name);
    const n = v === null || v === undefined ? Number.NaN : Number(v);
    return Number.isFinite(n) ? n : fallback;
  };
  const d = DEFAULT_TXN_CONFIG;
  return {
    numPartitions: num('transaction.state.log.num.partitions', d.numPartitions),
    replicationFactor: num('transaction.state.log.replication.factor', d.replicationFactor),
    minIsr: num('transaction.state.log.min.isr', d.minIsr),
    segmentBytes: num('transaction.state.log.segment.bytes', d.segmentBytes),
    maxTimeoutMs: num('transaction.max.timeout.ms', d.maxTimeoutMs),
    idExpirationMs: num('transactional.id.expiration.ms', d.idExpirationMs),
    abortIntervalMs: num('transaction.abort.timed.out.transaction.cleanup.interval.ms', d.abortIntervalMs),
    removeExpiredIntervalMs: num(
      'transaction.remove.expired.transaction.cleanup.interval.ms',
      d.removeExpiredIntervalMs,
    ),
  };
}

export interface TxnCoordinatorOptions {
  nodeId: number;
  clock: Clock;
  config: TxnCoordinatorConfig;
  log: CoordinatorLog;
  /** Fresh producer ids (the broker's ProducerIdManager). */
  producerIds: { nextProducerId(): Promise<bigint> };
  markers: TxnMarkerChannel;
  /** The __consumer_offsets partition of a group (AddOffsetsToTxn). */
  groupPartitionFor: (groupId: string) => number;
  groupTopic: string;
  metadata?: MetadataCache;
  controller?: TopicCreator;
  onError?: (err: unknown, task: string) => void;
}

export interface InitProducerIdOutcome {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
}

/** What handlers see (BrokerServices.transactions). */
export interface TransactionCoordinatorService {
  readonly config: TxnCoordinatorConfig;
  partitionFor(transactionalId: string): number;
  /** NONE and this node, the leader of the id's partition elsewhere, or COORDINATOR_NOT_AVAILABLE. */
  findCoordinator(transactionalId: string): Promise<{ errorCode: number; nodeId: number }>;
  initProducerId(
    transactionalId: string,
    txnTimeoutMs: number,
    expectedProducerId: bigint,
    expectedEpoch: number,
  ): Promise<InitProducerIdOutcome>;
  addPartitions(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number>;
  verifyPartitions(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number[]>;
  /**
   * A partition leader's question (KIP-890 part 1): are these partitions in the
   * producer's transaction? Asked of the id's coordinator, wherever it is, with
   * AddPartitionsToTxn verifyOnly (verification-channel.ts); one code per partition.
   */
  verifyOnCoordinator(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number[]>;
  addOffsets(transactionalId: string, producerId: bigint, producerEpoch: number, groupId: string): Promise<number>;
  endTxn(transactionalId: string, producerId: bigint, producerEpoch: number, committed: boolean): Promise<number>;
  describe(transactionalId: string): Promise<DescribedTxn>;
  list(
    states: readonly string[],
    producerIds: readonly bigint[],
    durationMs: number,
  ): Promise<{ errorCode: number; unknownStates: string[]; transactions: ListedTxn[] }>;
  close(): Promise<void>;
}

export class TransactionCoordinator implements TransactionCoordinatorService {
  readonly runtime: CoordinatorRuntime<TxnShard, TxnRecord>;
  readonly config: TxnCoordinatorConfig;
  private readonly loads = new Map<number, Promise<void>>();
  /** Marker sends in flight, by transactional id (one per transaction end). */
  private readonly inFlight = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private creating: Promise<void> | undefined;
  private closed = false;
  private readonly retryTimers = new Set<() => void>();
  private readonly verification: TxnVerificationChannel | undefined;

  constructor(private readonly options: TxnCoordinatorOptions) {
    this.config = options.config;
    const { metadata, markers } = options;
    if (metadata !== undefined) {
      this.verification = new TxnVerificationChannel({
        metadata,
        topic: TRANSACTION_STATE_TOPIC,
        partitionFor: (id) => this.partitionFor(id),
        senderFor: (nodeId) => {
          const sender = markers.senderFor(nodeId);
          const send = sender?.addPartitionsToTxn;
          return send === undefined ? undefined : { addPartitionsToTxn: (request) => send.call(sender, request) };
        },
        onNetworkError: (nodeId) => markers.dropSender(nodeId),
      });
    }
    this.runtime = new CoordinatorRuntime<TxnShard, TxnRecord>({
      clock: options.clock,
      log: options.log,
      serde: txnRecordSerde,
      newShard: (ctx) =>
        new TxnShard(ctx, options.config, {
          sendMarkers: (partition, txn) => this.sendMarkers(partition, txn),
        }),
      ...(options.onError !== undefined ? { onError: options.onError } : {}),
    });
  }

  /** Follows the metadata: loads the partitions of __transaction_state this node leads. */
  start(): void {
    const metadata = this.options.metadata;
    if (metadata === undefined) return;
    this.unsubscribe = metadata.subscribe((update: MetadataUpdate) => {
      this.applyImage(update.image);
    });
    this.applyImage(metadata.image());
  }

  private applyImage(image: MetadataImage): void {
    if (this.closed) return;
    const topic = image.topicsByName.get(TRANSACTION_STATE_TOPIC);
    const led = new Set<number>();
    for (const p of topic?.partitions.values() ?? []) if (p.leader === this.options.nodeId) led.add(p.partitionId);
    for (const partition of led) {
      if (this.runtime.status(partition) === 'absent' && !this.loads.has(partition)) {
        this.loadShard(partition).catch((err: unknown) => this.options.onError?.(err, `load txn ${partition}`));
      }
    }
    for (const partition of this.runtime.partitions()) {
      if (!led.has(partition)) void this.runtime.unload(partition);
    }
  }

  /** Loads one shard (replay of its partition); also used by tests without metadata. */
  loadShard(partition: number): Promise<void> {
    const existing = this.loads.get(partition);
    if (existing !== undefined) return existing;
    const run = this.runtime.load(partition).finally(() => this.loads.delete(partition));
    this.loads.set(partition, run);
    return run;
  }

  partitionFor(transactionalId: string): number {
    return partitionFor(transactionalId, this.config.numPartitions);
  }

  /** The coordinator epoch of a shard: the leader epoch of its partition. */
  private coordinatorEpoch(partition: number): number {
    const p = this.options.metadata?.image().topicsByName.get(TRANSACTION_STATE_TOPIC)?.partitions.get(partition);
    return p?.leaderEpoch ?? 0;
  }

  private async ensureTopic(): Promise<void> {
    const { metadata, controller } = this.options;
    if (metadata === undefined || controller === undefined) return;
    if (metadata.image().topicsByName.has(TRANSACTION_STATE_TOPIC)) return;
    this.creating ??= (async () => {
      try {
        const [result] = await controller.createTopics(
          [
            {
              name: TRANSACTION_STATE_TOPIC,
              numPartitions: this.config.numPartitions,
              replicationFactor: this.config.replicationFactor,
              assignments: [],
              configs: [
                { name: 'cleanup.policy', value: 'compact' },
                { name: 'compression.type', value: 'uncompressed' },
                { name: 'min.insync.replicas', value: String(this.config.minIsr) },
                { name: 'segment.bytes', value: String(this.config.segmentBytes) },
                { name: 'unclean.leader.election.enable', value: 'false' },
              ],
            },
          ],
          false,
        );
        if (result !== undefined && result.errorCode !== 0 && result.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
          this.options.onError?.(
            new Error(result.errorMessage ?? `error ${result.errorCode}`),
            `create ${TRANSACTION_STATE_TOPIC}`,
          );
        }
      } catch (err) {
        this.options.onError?.(err, `create ${TRANSACTION_STATE_TOPIC}`);
      } finally {
        this.creating = undefined;
      }
    })();
    await this.creating;
  }

  async findCoordinator(transactionalId: string): Promise<CoordinatorLocation> {
    await this.ensureTopic();
    const partition = this.partitionFor(transactionalId);
    const metadata = this.options.metadata;
    return locateCoordinator({
      topic: TRANSACTION_STATE_TOPIC,
      partition,
      nodeId: this.options.nodeId,
      clock: this.options.clock,
      load: this.loads.get(partition),
      isActive: () => this.runtime.status(partition) === 'active',
      image: metadata === undefined ? undefined : () => metadata.image(),
    });
  }

  async initProducerId(
    transactionalId: string,
    txnTimeoutMs: number,
    expectedProducerId: bigint,
    expectedEpoch: number,
  ): Promise<InitProducerIdOutcome> {
    const partition = this.partitionFor(transactionalId);
    let newProducerId: bigint | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const out = await this.runtime.write(partition, (s, now) =>
        s.initProducerId(transactionalId, txnTimeoutMs, expectedProducerId, expectedEpoch, newProducerId, now),
      );
      if (out.errorCode !== 0) return { errorCode: out.errorCode, producerId: -1n, producerEpoch: -1 };
      const r: InitResult = out.value!;
      if (r.kind === 'done')
        return { errorCode: r.errorCode, producerId: r.producerId, producerEpoch: r.producerEpoch };
      try {
        newProducerId = await this.options.producerIds.nextProducerId();
      } catch {
        return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, producerId: -1n, producerEpoch: -1 };
      }
    }
    return { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1n, producerEpoch: -1 };
  }

  async addPartitions(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number> {
    const out = await this.runtime.write(this.partitionFor(transactionalId), (s, now) =>
      s.addPartitions(transactionalId, producerId, producerEpoch, partitions, now),
    );
    return out.errorCode !== 0 ? out.errorCode : out.value!;
  }

  async verifyPartitions(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number[]> {
    const out = await this.runtime.read(this.partitionFor(transactionalId), (s) =>
      s.verifyPartitions(transactionalId, producerId, producerEpoch, partitions),
    );
    return out.errorCode !== 0 ? partitions.map(() => out.errorCode) : out.value!;
  }

  async verifyOnCoordinator(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number[]> {
    // This node is the id's coordinator (or there is no metadata: tests of one
    // coordinator): asked in process, with the channel's adjustments; else over the network.
    if (this.verification === undefined || this.runtime.status(this.partitionFor(transactionalId)) === 'active') {
      const codes = await this.verifyPartitions(transactionalId, producerId, producerEpoch, partitions);
      return codes.map((c) => (c === ErrorCode.PRODUCER_FENCED ? ErrorCode.INVALID_PRODUCER_EPOCH : c));
    }
    return this.verification.verify(transactionalId, producerId, producerEpoch, partitions);
  }

  addOffsets(transactionalId: string, producerId: bigint, producerEpoch: number, groupId: string): Promise<number> {
    return this.addPartitions(transactionalId, producerId, producerEpoch, [
      { topic: this.options.groupTopic, partition: this.options.groupPartitionFor(groupId) },
    ]);
  }

  async endTxn(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    committed: boolean,
  ): Promise<number> {
    const out = await this.runtime.write(this.partitionFor(transactionalId), (s, now) =>
      s.endTxn(transactionalId, producerId, producerEpoch, committed, now),
    );
    return out.errorCode !== 0 ? out.errorCode : out.value!;
  }

  async describe(transactionalId: string): Promise<DescribedTxn> {
    const out = await this.runtime.read(this.partitionFor(transactionalId), (s) => s.describe(transactionalId));
    if (out.errorCode !== 0) {
      return {
        errorCode: out.errorCode,
        transactionalId,
        transactionState: '',
        transactionTimeoutMs: 0,
        transactionStartTimeMs: -1n,
        producerId: -1n,
        producerEpoch: -1,
        topics: [],
      };
    }
    return out.value!;
  }

  async list(
    states: readonly string[],
    producerIds: readonly bigint[],
    durationMs: number,
  ): Promise<{ errorCode: number; unknownStates: string[]; transactions: ListedTxn[] }> {
    const known = new Set(TXN_STATE_NAMES);
    const unknownStates = states.filter((s) => !known.has(s));
    const stateSet = new Set(states.filter((s) => known.has(s)));
    if (states.length > 0 && stateSet.size === 0) return { errorCode: 0, unknownStates, transactions: [] };
    const pidSet = new Set(producerIds);
    let errorCode = 0;
    const transactions: ListedTxn[] = [];
    const partitions = new Set([...this.runtime.partitions(), ...this.loads.keys()]);
    for (const partition of partitions) {
      const out = await this.runtime.read(partition, (s, now) => s.list(stateSet, pidSet, durationMs, now));
      if (out.errorCode !== 0) errorCode ||= out.errorCode;
      else transactions.push(...out.value!);
    }
    return { errorCode, unknownStates, transactions };
  }

  /**
   * Sends the markers of a prepared transaction, then writes Complete*; on failure (the
   * channel full) tries again after a backoff while this node still owns the shard.
   */
  private sendMarkers(partition: number, txn: PreparedTxn): void {
    if (this.closed || this.inFlight.has(txn.transactionalId)) return;
    const stillOwned = (): boolean => !this.closed && this.runtime.status(partition) === 'active';
    const run = (async () => {
      const sent = await this.options.markers.send(txn, this.coordinatorEpoch(partition), stillOwned);
      if (!sent) {
        if (stillOwned()) this.retryLater(partition, txn);
        return;
      }
      const out = await this.runtime.write(partition, (s, now) => s.completeTransaction(txn, now));
      if (out.errorCode !== 0 && stillOwned() && out.errorCode !== ErrorCode.NOT_COORDINATOR) {
        this.retryLater(partition, txn);
      }
    })()
      .catch((err: unknown) => this.options.onError?.(err, `markers of ${txn.transactionalId}`))
      .finally(() => {
        if (this.inFlight.get(txn.transactionalId) === run) this.inFlight.delete(txn.transactionalId);
      });
    this.inFlight.set(txn.transactionalId, run);
  }

  private retryLater(partition: number, txn: PreparedTxn): void {
    const cancel = this.options.clock.schedule(this.options.markers.retryBackoffMs, () => {
      this.retryTimers.delete(cancel);
      if (this.inFlight.get(txn.transactionalId) !== undefined) {
        // The failed attempt is still finishing; wait for it before the next one.
        void this.inFlight.get(txn.transactionalId)!.then(() => this.sendMarkers(partition, txn));
        return;
      }
      this.sendMarkers(partition, txn);
    });
    this.retryTimers.add(cancel);
  }

  /** Waits for the marker sends in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight.values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    for (const cancel of this.retryTimers) cancel();
    this.retryTimers.clear();
    this.verification?.close();
    this.options.markers.close();
    await Promise.all([...this.inFlight.values()]);
    await this.runtime.close();
  }
}
