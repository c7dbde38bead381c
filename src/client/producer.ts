/**
 * The producer. `send()` serializes, picks a partition and appends to that partition's open
 * batch (the accumulator); a batch leaves when it reaches `batch.size` or `linger.ms` passes.
 * The sender runs once per event-loop turn and fills each leader connection's free slots (up to
 * `max.in.flight.requests.per.connection` requests in flight) with Produce requests of at most
 * `max.request.size`, one batch per partition each.
 *
 * Idempotence (on by default): batches carry the producer id, epoch and a per-partition
 * sequence assigned once, at first send. A retriable failure puts the batch back at the head
 * of its partition's queue, in sequence order, and the partition is drained again only once
 * everything it had in flight has come back, so retries resend the same sequences in the
 * same order (the broker deduplicates a batch it already has). A sequence gap that cannot be
 * repaired (OUT_OF_ORDER_SEQUENCE_NUMBER on the next expected batch, a non-retriable failure
 * of a batch with a sequence) or UNKNOWN_PRODUCER_ID makes the producer bump its epoch
 * (InitProducerId with the current id and epoch, KIP-360) and restart sequences at 0.
 *
 * Transactions (`transactionalId`, implies idempotence): see transactions.ts. The sender drains a
 * partition only once it is in the transaction; batches carry the transactional bit and Produce
 * requests the transactional id; a batch that fails for good makes the transaction abortable.
 *
 * Memory: every appended record reserves its estimated size from `buffer.memory`; `send`
 * waits for room (FIFO) at most `max.block.ms`.
 */
import { Writer } from '../protocol/codec/writer.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { ProduceRequestTopicProduceData } from '../protocol/generated/produce-request.ts';
import type { ProduceResponse } from '../protocol/generated/produce-response.ts';
import { buildRecordBatch } from '../protocol/records/batch.ts';
import { BatchOffset, computeBatchCrc } from '../protocol/records/batch-header.ts';
import { type CompressionName, compressionTypeOf } from '../protocol/records/compression.ts';
import type { RecordInput } from '../protocol/records/record.ts';
import { Cluster, type CommonClientOptions, isStaleMetadataError, type TopicMetadata } from './cluster.ts';
import type { BrokerConnection } from './connection.ts';
import {
  backoffMs,
  isRetriable,
  KafkaAbortError,
  KafkaClientError,
  KafkaConfigError,
  KafkaProtocolError,
  KafkaTimeoutError,
  TransactionAbortableError,
  TransactionStateError,
} from './errors.ts';
import { BuiltInPartitioner, type Partitioner, UNKNOWN_PARTITION } from './partitioner/index.ts';
import { BatchBufferPool } from './producer-buffers.ts';
import { bytesSerializer, type Serializer } from './serde.ts';
import {
  type ConsumerGroupMetadata,
  TransactionManager,
  type TransactionOffset,
  type TransactionState,
  transactionError,
} from './transactions.ts';
import { type Deferred, deferred, sleep } from './util.ts';

export type Acks = 0 | 1 | -1 | 'all';

export interface ProducerOptions<K = ProducerBytes, V = ProducerBytes> extends CommonClientOptions {
  /** `acks`: 0 (no response), 1 (leader) or `'all'`/-1 (all in-sync replicas). Default `'all'`. */
  acks?: Acks;
  /** `linger.ms`: how long a batch waits for more records. Default 5. */
  lingerMs?: number;
  /** `batch.size`: target batch size in bytes. Default 16384. */
  batchSize?: number;
  /** `compression.type`: none, gzip, snappy, lz4, zstd. Default `'none'`. */
  compressionType?: CompressionName;
  /** `buffer.memory`: bytes of records waiting to be sent, at most. Default 33554432. */
  bufferMemory?: number;
  /** `max.block.ms`: how long `send` waits for metadata or buffer room. Default 60000. */
  maxBlockMs?: number;
  /** `delivery.timeout.ms`: bound on the time from `send` to success or failure. Default 120000. */
  deliveryTimeoutMs?: number;
  /** `max.in.flight.requests.per.connection`. Default 5 (at most 5 with idempotence). */
  maxInFlightRequestsPerConnection?: number;
  /** `max.request.size`: largest Produce request in bytes. Default 1048576. */
  maxRequestSize?: number;
  /** `enable.idempotence`. Default true (turned off quietly if acks is not all and it was not set). */
  enableIdempotence?: boolean;
  /** `partitioner.class`: a custom partitioner; returning UNKNOWN_PARTITION (-1) falls back to sticky. */
  partitioner?: Partitioner;
  /** `partitioner.ignore.keys`. Default false. */
  partitionerIgnoreKeys?: boolean;
  /** `partitioner.adaptive.partitioning.enable`. Default true. */
  partitionerAdaptivePartitioningEnable?: boolean;
  /** `partitioner.availability.timeout.ms`. Default 0. */
  partitionerAvailabilityTimeoutMs?: number;
  /** `key.serializer`. Default: Buffer / Uint8Array / string (UTF-8) / null as bytes. */
  keySerializer?: Serializer<K>;
  /** `value.serializer`. Default as for keys. */
  valueSerializer?: Serializer<V>;
  /** `transactional.id`: enables the transactions API (and idempotence). Default none. */
  transactionalId?: string;
  /** `transaction.timeout.ms`: the coordinator aborts a transaction open longer than this. Default 60000. */
  transactionTimeoutMs?: number;
}

export type ProducerBytes = Buffer | Uint8Array | string | null | undefined;

export type ProducerHeaders = Record<string, string | Buffer | null> | { key: string; value: string | Buffer | null }[];

export interface ProducerRecord<K = ProducerBytes, V = ProducerBytes> {
  topic: string;
  key?: K;
  value: V;
  headers?: ProducerHeaders;
  /** An explicit partition wins over the partitioner. */
  partition?: number;
  /** Create time in ms; default now. */
  timestamp?: number;
}

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks=0. */
  offset: number;
  /** Create time, or the broker's append time on LogAppendTime topics. */
  timestamp: number;
}

/** One `send` call: its records resolve together. */
interface SendHandle {
  results: RecordMetadata[];
  remaining: number;
  failed: boolean;
  resolve(v: RecordMetadata[]): void;
  reject(e: unknown): void;
}

/** Encoded batches of at least this many bytes are written by reference, not copied (see sendTo). */
const GATHER_MIN_BYTES = 1024;

class ProducerBatch {
  records: RecordInput[] = [];
  handles: SendHandle[] = [];
  indexes: number[] = [];
  /** Estimated encoded bytes (reserved from buffer.memory). */
  sizeBytes = 0;
  closed = false;
  encoded: Buffer | null = null;
  /** The pooled buffer `encoded` is a view of, given back when the batch is done. */
  pooled: Buffer | null = null;
  /** Create timestamps, kept for RecordMetadata after the records are encoded and dropped. */
  timestamps: number[] = [];
  inFlight = false;
  done = false;
  /** Position among the partition's sent batches (retries go back in this order). */
  sendOrder = -1;
  baseSequence = -1;
  producerEpoch = -1;
  /** The producer's id generation the batch was encoded under. */
  generation = -1;
  attempts = 0;
  recordCount = 0;

  constructor(
    readonly state: PartitionState,
    readonly createdMs: number,
  ) {}
}

interface PartitionState {
  topic: string;
  partition: number;
  queue: ProducerBatch[];
  inFlight: number;
  nextSequence: number;
  lastAckedSequence: number;
  /** Set after a retriable failure: drain again only once nothing is in flight, after the backoff. */
  retrying: boolean;
  retryAtMs: number;
  retryAttempt: number;
  sendCounter: number;
}

/** A partition's batches that may go in this run: queue[next..end), in sequence order. */
interface PartitionDrain {
  state: PartitionState;
  next: number;
  end: number;
}

interface MemoryWaiter {
  bytes: number;
  resolve(): void;
  reject(e: unknown): void;
  cancel: () => void;
}

/** Free encoded-batch buffers kept for reuse, at most (producer-buffers.ts). */
const MAX_FREE_BATCH_BUFFER_BYTES = 8 * 1024 * 1024;
const RECORD_OVERHEAD = 21; // length, attributes, deltas, key/value lengths, header count (varints, typical)
const BATCH_OVERHEAD = 61;

export class Producer<K = ProducerBytes, V = ProducerBytes> {
  readonly cluster: Cluster;
  private readonly acks: number;
  private readonly lingerMs: number;
  private readonly batchSize: number;
  private readonly compression: number;
  private readonly bufferMemory: number;
  private readonly maxBlockMs: number;
  private readonly deliveryTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly maxRequestSize: number;
  readonly idempotent: boolean;
  private readonly partitioner: BuiltInPartitioner;
  private readonly customPartitioner: Partitioner | null;
  private readonly keySerializer: Serializer<K>;
  private readonly valueSerializer: Serializer<V>;
  private readonly partitions = new Map<string, PartitionState[]>();
  private bufferUsed = 0;
  private readonly batchBuffers: BatchBufferPool;
  private readonly memoryWaiters: MemoryWaiter[] = [];
  private incompleteBatches = 0;
  /** send() calls still putting records into batches, and who waits for them to finish. */
  private appending = 0;
  private appendWaiters: (() => void)[] = [];
  private flushWaiters: Deferred<void>[] = [];
  private flushing = 0;
  private producerId = -1n;
  private producerEpoch = -1;
  private initializing: Promise<void> | null = null;
  private needsEpochBump = false;
  private generation = 0;
  private wakeTimer: (() => void) | null = null;
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private runScheduled = false;
  /** Which partition a node's next drain starts at (rotates, so that none is always last). */
  private drainRotation = 0;
  private refreshingMetadata = false;
  private totalInFlight = 0;
  private closed = false;
  private fatal: Error | null = null;
  private readonly txn: TransactionManager | null;

  constructor(opts: ProducerOptions<K, V>) {
    const maxInFlight = opts.maxInFlightRequestsPerConnection ?? 5;
    this.cluster = new Cluster(opts, maxInFlight);
    const acks = opts.acks ?? 'all';
    this.acks = acks === 'all' ? -1 : acks;
    if (![0, 1, -1].includes(this.acks)) throw new KafkaConfigError(`acks must be 0, 1 or all, got ${String(acks)}`);
    this.lingerMs = opts.lingerMs ?? 5;
    this.batchSize = opts.batchSize ?? 16384;
    this.compression = compressionTypeOf(opts.compressionType ?? 'none');
    if (this.compression < 0) throw new KafkaConfigError(`compression.type ${String(opts.compressionType)}`);
    this.bufferMemory = opts.bufferMemory ?? 33554432;
    this.maxBlockMs = opts.maxBlockMs ?? 60000;
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 120000;
    this.maxInFlight = maxInFlight;
    this.maxRequestSize = opts.maxRequestSize ?? 1048576;
    const idempotenceAllowed = this.acks === -1 && maxInFlight <= 5 && this.cluster.retry.retries > 0;
    if (opts.enableIdempotence === true && !idempotenceAllowed) {
      throw new KafkaConfigError('enable.idempotence needs acks=all, retries > 0 and max.in.flight <= 5');
    }
    if (opts.transactionalId !== undefined) {
      if (opts.enableIdempotence === false || !idempotenceAllowed) {
        throw new KafkaConfigError('transactional.id needs idempotence (acks=all, retries > 0, max.in.flight <= 5)');
      }
      if (opts.transactionalId === '') throw new KafkaConfigError('transactional.id must not be empty');
    }
    this.idempotent = opts.transactionalId !== undefined || (opts.enableIdempotence ?? idempotenceAllowed);
    if (this.lingerMs < 0 || this.batchSize < 1 || this.bufferMemory < 1 || maxInFlight < 1) {
      throw new KafkaConfigError('linger.ms, batch.size, buffer.memory and max.in.flight must be positive');
    }
    this.partitioner = new BuiltInPartitioner(
      {
        batchSize: this.batchSize,
        ignoreKeys: opts.partitionerIgnoreKeys ?? false,
        adaptivePartitioningEnable: opts.partitionerAdaptivePartitioningEnable ?? true,
        availabilityTimeoutMs: opts.partitionerAvailabilityTimeoutMs ?? 0,
      },
      this.cluster.random,
    );
    // Free buffers kept: a quarter of buffer.memory, at most 8 MiB.
    this.batchBuffers = new BatchBufferPool(
      Math.min(this.bufferMemory / 4, MAX_FREE_BATCH_BUFFER_BYTES),
      this.maxRequestSize,
    );
    this.customPartitioner = opts.partitioner ?? null;
    this.keySerializer = opts.keySerializer ?? (bytesSerializer as Serializer<K>);
    this.valueSerializer = opts.valueSerializer ?? (bytesSerializer as Serializer<V>);
    this.txn =
      opts.transactionalId === undefined
        ? null
        : new TransactionManager(
            {
              cluster: this.cluster,
              idAndEpoch: () => this.producerIdAndEpoch,
              setProducerIdAndEpoch: (id, epoch) => this.setProducerIdAndEpoch(id, epoch),
              scheduleRun: () => this.scheduleRun(),
              scheduleWake: (ms) => this.scheduleWake(ms),
            },
            opts.transactionalId,
            opts.transactionTimeoutMs ?? 60000,
          );
  }

  /** Connects and (when idempotent) gets a producer id. Optional: `send` does it too. */
  async connect(): Promise<void> {
    await this.cluster.ensureMetadata();
    if (this.idempotent && this.txn === null) await this.ensureProducerId();
  }

  // ---- transactions ---------------------------------------------------------------------

  private requireTxn(what: string): TransactionManager {
    if (this.txn === null) throw new TransactionStateError(`${what} needs a transactionalId`);
    if (this.closed) throw new KafkaAbortError('producer is closed');
    return this.txn;
  }

  /**
   * Registers the transactional id with its coordinator: gets the producer id and epoch, fences
   * older producers with the same id and completes (aborts) a transaction they left open.
   */
  async initTransactions(): Promise<void> {
    const txn = this.requireTxn('initTransactions()');
    await this.cluster.ensureMetadata();
    await txn.init(this.maxBlockMs);
  }

  /** Starts a transaction: every `send` until commit or abort belongs to it. */
  beginTransaction(): void {
    this.requireTxn('beginTransaction()').begin();
  }

  /**
   * Adds consumed offsets to the transaction: they are committed for the group if and only if
   * the transaction commits (consume-transform-produce). `group` is the consumer's
   * `groupMetadata()` (or just a group id, with no generation fencing).
   */
  async sendOffsetsToTransaction(
    offsets: readonly TransactionOffset[],
    group: ConsumerGroupMetadata | string,
  ): Promise<void> {
    const txn = this.requireTxn('sendOffsetsToTransaction()');
    const metadata = typeof group === 'string' ? { groupId: group } : group;
    await txn.sendOffsets([...offsets], metadata, this.maxBlockMs);
  }

  /** Sends everything, waits for it, then commits. Throws TransactionAbortableError when a record failed. */
  async commitTransaction(): Promise<void> {
    const txn = this.requireTxn('commitTransaction()');
    txn.beginCommit();
    await this.flush();
    await txn.commit(this.maxBlockMs);
  }

  /** Fails the records not sent yet, waits for those in flight, then aborts. */
  async abortTransaction(): Promise<void> {
    const txn = this.requireTxn('abortTransaction()');
    txn.beginAbort();
    await this.appendsDone();
    this.failUnsent(new TransactionAbortableError('the transaction was aborted'));
    await this.flush();
    await txn.abort(this.maxBlockMs);
  }

  /** Where the transactional producer stands (`'none'` without a transactionalId). */
  get transactionState(): TransactionState | 'none' {
    return this.txn?.state ?? 'none';
  }

  private setProducerIdAndEpoch(producerId: bigint, producerEpoch: number): void {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    this.needsEpochBump = false;
    this.resetSequences();
  }

  /** Fails every batch not on the wire (an aborted or failed transaction). */
  private failUnsent(e: Error): void {
    for (const states of this.partitions.values()) {
      for (const s of states) {
        if (s === undefined || s.queue.length === 0) continue;
        const keep: ProducerBatch[] = [];
        for (const b of s.queue) {
          if (b.inFlight) keep.push(b);
          else this.failBatch(b, e);
        }
        s.queue = keep;
        s.retrying = false;
      }
    }
  }

  /** Sends one record; resolves when it is acknowledged per `acks`. */
  send(record: ProducerRecord<K, V>, signal?: AbortSignal): Promise<RecordMetadata>;
  /** Sends records; resolves with their metadata in the same order. */
  send(records: readonly ProducerRecord<K, V>[], signal?: AbortSignal): Promise<RecordMetadata[]>;
  async send(
    input: ProducerRecord<K, V> | readonly ProducerRecord<K, V>[],
    signal?: AbortSignal,
  ): Promise<RecordMetadata | RecordMetadata[]> {
    const single = !Array.isArray(input);
    const records = (single ? [input] : input) as readonly ProducerRecord<K, V>[];
    if (records.length === 0) return [];
    if (this.closed) throw new KafkaAbortError('producer is closed');
    if (this.fatal !== null) throw this.fatal;
    this.txn?.checkSend();
    const d = deferred<RecordMetadata[]>();
    const handle: SendHandle = {
      results: new Array<RecordMetadata>(records.length),
      remaining: records.length,
      failed: false,
      resolve: d.resolve,
      reject: d.reject,
    };
    const startMs = this.cluster.clock.monotonicMs();
    // Until every record is in a batch (metadata and buffer room may take a while), flush() and
    // commitTransaction() wait for this call too: they cover every send made before them.
    this.appending++;
    // The create time of records without one: read once per call, and again after a wait.
    let createMs = -1;
    try {
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        let meta = this.cluster.topics.get(r.topic);
        if (meta === undefined) {
          meta = await this.waitForTopic(r.topic, startMs, signal);
          createMs = -1;
        }
        const key = this.keySerializer(r.key as K, r.topic);
        const value = this.valueSerializer(r.value, r.topic);
        const headers = r.headers === undefined ? undefined : normalizeHeaders(r.headers);
        const size = estimateSize(key, value, headers);
        if (size + BATCH_OVERHEAD > this.maxRequestSize || size > this.bufferMemory) {
          throw new KafkaProtocolError(ErrorCode.MESSAGE_TOO_LARGE, `record of ${size} bytes`);
        }
        if (this.bufferUsed + size > this.bufferMemory || this.memoryWaiters.length > 0) {
          await this.reserveMemory(size, startMs, signal);
          createMs = -1;
        } else {
          this.bufferUsed += size;
        }
        let timestamp = r.timestamp;
        if (timestamp === undefined) {
          if (createMs < 0) createMs = this.cluster.clock.nowMs();
          timestamp = createMs;
        }
        const rec: RecordInput = { key, value, headers, timestamp };
        this.append(meta, r.partition, rec, size, handle, i);
      }
    } catch (e) {
      // Records of this call already appended are still sent; the call itself fails with `e`.
      this.failHandle(handle, e);
      d.promise.catch(() => {});
      throw e;
    } finally {
      if (--this.appending === 0) for (const w of this.appendWaiters.splice(0)) w();
    }
    const out = await d.promise;
    return single ? out[0]! : out;
  }

  private async waitForTopic(topic: string, startMs: number, signal?: AbortSignal): Promise<TopicMetadata> {
    this.cluster.addTopics([topic]);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.cluster.ensureMetadata();
      } catch (e) {
        if (!isRetriable(e)) throw e;
      }
      const meta = this.cluster.topics.get(topic);
      if (meta !== undefined && meta.partitions.length > 0) return meta;
      const left = this.maxBlockMs - (this.cluster.clock.monotonicMs() - startMs);
      if (left <= 0) throw new KafkaTimeoutError(`topic ${topic} not present in metadata after ${this.maxBlockMs} ms`);
      this.cluster.requestUpdate();
      const c = this.cluster.retry;
      await sleep(
        this.cluster.clock,
        Math.min(left, backoffMs(attempt, c.retryBackoffMs, c.retryBackoffMaxMs, 0.5)),
        signal,
      );
    }
  }

  private reserveMemory(bytes: number, startMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const left = this.maxBlockMs - (this.cluster.clock.monotonicMs() - startMs);
      const w: MemoryWaiter = { bytes, resolve, reject, cancel: () => {} };
      const remove = (): void => {
        const i = this.memoryWaiters.indexOf(w);
        if (i >= 0) this.memoryWaiters.splice(i, 1);
      };
      const onAbort = (): void => {
        remove();
        w.cancel();
        reject(new KafkaAbortError());
      };
      const cancelTimer = this.cluster.clock.schedule(Math.max(0, left), () => {
        remove();
        signal?.removeEventListener('abort', onAbort);
        reject(new KafkaTimeoutError(`no room in buffer.memory for ${bytes} bytes after ${this.maxBlockMs} ms`));
        this.releaseMemory(0);
      });
      w.cancel = () => {
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.memoryWaiters.push(w);
      // Full buffer: everything queued is ready to go now, linger or not.
      this.scheduleRun();
    });
  }

  private releaseMemory(bytes: number): void {
    this.bufferUsed -= bytes;
    while (this.memoryWaiters.length > 0) {
      const w = this.memoryWaiters[0]!;
      if (this.bufferUsed + w.bytes > this.bufferMemory) break;
      this.memoryWaiters.shift();
      this.bufferUsed += w.bytes;
      w.cancel();
      w.resolve();
    }
  }

  private partitionState(topic: string, partition: number): PartitionState {
    let states = this.partitions.get(topic);
    if (states === undefined) {
      states = [];
      this.partitions.set(topic, states);
    }
    let s = states[partition];
    if (s === undefined) {
      s = {
        topic,
        partition,
        queue: [],
        inFlight: 0,
        nextSequence: 0,
        lastAckedSequence: -1,
        retrying: false,
        retryAtMs: 0,
        retryAttempt: 0,
        sendCounter: 0,
      };
      states[partition] = s;
    }
    return s;
  }

  private append(
    meta: TopicMetadata,
    explicitPartition: number | undefined,
    rec: RecordInput,
    size: number,
    handle: SendHandle,
    index: number,
  ): void {
    const numPartitions = meta.partitions.length;
    let partition = explicitPartition ?? UNKNOWN_PARTITION;
    if (partition !== UNKNOWN_PARTITION && (partition < 0 || partition >= numPartitions)) {
      this.bufferUsed -= size;
      this.failHandle(
        handle,
        new KafkaProtocolError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${meta.name} has no partition ${partition}`),
      );
      return;
    }
    const key = rec.key as Buffer | null;
    if (partition === UNKNOWN_PARTITION && this.customPartitioner !== null) {
      partition = this.customPartitioner.partition(meta.name, key, rec.value as Buffer | null, numPartitions, {
        partitionsForTopic: (t) => this.cluster.topics.get(t)?.leaders ?? [],
      });
    }
    let sticky = null;
    if (partition === UNKNOWN_PARTITION) {
      let choice = this.partitioner.choose(meta.name, key, numPartitions, meta.leaders);
      sticky = choice.sticky;
      if (sticky !== null && this.queueFull(meta.name, choice.partition)) {
        if (this.partitioner.onAppend(meta.name, sticky, 0, meta.leaders, true)) {
          choice = this.partitioner.choose(meta.name, key, numPartitions, meta.leaders);
          sticky = choice.sticky;
        }
      }
      partition = choice.partition;
    }
    const state = this.partitionState(meta.name, partition);
    const queue = state.queue;
    let batch = queue.length > 0 ? queue[queue.length - 1]! : undefined;
    if (batch === undefined || batch.closed || batch.sizeBytes + size > this.batchSize) {
      if (batch !== undefined) batch.closed = true;
      batch = new ProducerBatch(state, this.cluster.clock.monotonicMs());
      queue.push(batch);
      this.incompleteBatches++;
      if (this.lingerMs === 0) this.scheduleRun();
      else this.scheduleWake(this.lingerMs);
    }
    batch.records.push(rec);
    batch.timestamps.push(rec.timestamp);
    batch.handles.push(handle);
    batch.indexes.push(index);
    batch.sizeBytes += size;
    batch.recordCount++;
    if (batch.sizeBytes >= this.batchSize) {
      batch.closed = true;
      this.scheduleRun();
    }
    if (sticky !== null) this.partitioner.onAppend(meta.name, sticky, size, meta.leaders, batch.closed);
  }

  private queueFull(topic: string, partition: number): boolean {
    const q = this.partitions.get(topic)?.[partition]?.queue;
    if (q === undefined || q.length === 0) return true;
    return q[q.length - 1]!.closed;
  }

  /** Resolves once every send() called so far has put its records into batches. */
  private async appendsDone(): Promise<void> {
    while (this.appending > 0) await new Promise<void>((resolve) => this.appendWaiters.push(resolve));
  }

  /** Sends everything queued now and resolves once every send made so far has completed. */
  async flush(): Promise<void> {
    await this.appendsDone();
    if (this.incompleteBatches === 0) return;
    const d = deferred<void>();
    this.flushWaiters.push(d);
    this.flushing++;
    this.scheduleRun();
    try {
      await d.promise;
    } finally {
      this.flushing--;
    }
  }

  /** Flushes (unless `force`), then closes connections. Pending sends fail when forced. */
  async close(opts: { force?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    if (!opts.force) await this.flush();
    this.closed = true;
    this.wakeTimer?.();
    const e = new KafkaAbortError('producer closed');
    for (const states of this.partitions.values()) {
      for (const s of states) {
        if (s === undefined) continue;
        for (const b of s.queue) this.failBatch(b, e);
        s.queue.length = 0;
      }
    }
    for (const w of this.memoryWaiters.splice(0)) {
      w.cancel();
      w.reject(e);
    }
    this.cluster.close();
  }

  // ---- sender -------------------------------------------------------------------------

  private scheduleWake(delayMs: number): void {
    const at = this.cluster.clock.monotonicMs() + delayMs;
    if (this.wakeTimer !== null && this.wakeAtMs <= at) return;
    this.wakeTimer?.();
    this.wakeAtMs = at;
    this.wakeTimer = this.cluster.clock.schedule(delayMs, () => {
      this.wakeTimer = null;
      this.wakeAtMs = Number.POSITIVE_INFINITY;
      this.run();
    });
  }

  private scheduleRun(): void {
    if (this.runScheduled) return;
    this.runScheduled = true;
    setImmediate(() => {
      this.runScheduled = false;
      this.run();
    });
  }

  private run(): void {
    if (this.closed) return;
    const txn = this.txn;
    if (txn !== null) {
      if (this.producerId < 0n) return; // send() refuses records before initTransactions()
      if (txn.hasAbortableError || txn.fatalError !== null) {
        // Nothing more of this transaction goes out; what is queued fails now (abort or commit waits for it).
        this.failUnsent(txn.fatalError ?? new TransactionAbortableError('an earlier record of the transaction failed'));
      }
    } else if (this.idempotent && (this.producerId < 0n || this.needsEpochBump)) {
      if (this.needsEpochBump && this.totalInFlight > 0) return; // responses will call run again
      this.ensureProducerId().then(
        () => this.scheduleRun(),
        (e: unknown) => this.failAll(e),
      );
      return;
    }
    const now = this.cluster.clock.monotonicMs();
    const exhausted = this.memoryWaiters.length > 0 || this.flushing > 0;
    let nextWake = Number.POSITIVE_INFINITY;
    let needMetadata = false;
    const perNode = new Map<number, { conn: BrokerConnection; drains: PartitionDrain[] }>();
    for (const states of this.partitions.values()) {
      for (const s of states) {
        if (s === undefined || s.queue.length === 0) continue;
        const head = s.queue[0]!;
        if (!head.inFlight && head.createdMs + this.deliveryTimeoutMs <= now) {
          this.expire(s, now);
          if (s.queue.length === 0) continue;
        }
        if (s.retrying) {
          if (s.inFlight > 0) continue;
          if (s.retryAtMs > now) {
            nextWake = Math.min(nextWake, s.retryAtMs);
            continue;
          }
          s.retrying = false;
        }
        if (s.inFlight >= this.maxInFlight) continue;
        const first = s.inFlight === 0 ? 0 : firstNotInFlight(s.queue);
        const batch = s.queue[first];
        if (batch === undefined) continue;
        const readyAt = batch.createdMs + this.lingerMs;
        if (!batch.closed && !exhausted && readyAt > now) {
          nextWake = Math.min(nextWake, readyAt);
          continue;
        }
        if (txn !== null && !txn.canSend(s.topic, s.partition)) continue;
        const leader = this.cluster.leaderFor(s.topic, s.partition);
        if (leader < 0) {
          needMetadata = true;
          continue;
        }
        const conn = this.cluster.connectedNode(leader);
        if (conn === null) {
          this.cluster.connection(leader).then(
            () => this.scheduleRun(),
            () => {
              this.cluster.requestUpdate();
              this.scheduleWake(this.cluster.retry.retryBackoffMs);
            },
          );
          continue;
        }
        if (conn.inFlightCount >= this.maxInFlight) continue;
        // The partition's batches that may go now, in sequence order: the first ready one and
        // those queued behind it (closed, or past linger), up to its in-flight limit.
        const end = Math.min(s.queue.length, first + this.maxInFlight - s.inFlight);
        let last = first + 1;
        while (last < end) {
          const b = s.queue[last]!;
          if (!b.closed && !exhausted && b.createdMs + this.lingerMs > now) {
            nextWake = Math.min(nextWake, b.createdMs + this.lingerMs);
            break;
          }
          last++;
        }
        let node = perNode.get(leader);
        if (node === undefined) {
          node = { conn, drains: [] };
          perNode.set(leader, node);
        }
        node.drains.push({ state: s, next: first, end: last });
      }
    }
    for (const { conn, drains } of perNode.values()) this.sendToNode(conn, drains);
    txn?.addPendingPartitions();
    if (needMetadata) this.cluster.requestUpdate();
    if ((needMetadata || this.cluster.needsUpdate) && !this.refreshingMetadata) {
      this.refreshingMetadata = true;
      this.cluster
        .ensureMetadata()
        .finally(() => {
          this.refreshingMetadata = false;
        })
        .then(
          // A partition still without a leader is looked up again after retry.backoff.ms, not at once.
          () => this.scheduleWake(needMetadata ? this.cluster.retry.retryBackoffMs : 0),
          () => this.scheduleWake(this.cluster.retry.retryBackoffMs),
        );
    }
    if (nextWake < Number.POSITIVE_INFINITY) this.scheduleWake(Math.max(0, nextWake - now));
  }

  /**
   * Sends what `drains` hold to one broker as Produce requests of at most `max.request.size`,
   * while its connection has room for another request (max.in.flight.requests.per.connection).
   * A request carries at most one batch per partition (Produce v3+ allows one), so a
   * partition's later batches go in later requests, in sequence order. The drain starts at a
   * partition that rotates from run to run, so that no partition is always last.
   */
  private sendToNode(conn: BrokerConnection, drains: PartitionDrain[]): void {
    const n = drains.length;
    const start = this.drainRotation++ % n;
    while (conn.inFlightCount < this.maxInFlight) {
      const batches: ProducerBatch[] = [];
      let requestBytes = 0;
      for (let k = 0; k < n; k++) {
        const d = drains[(start + k) % n]!;
        if (d.next >= d.end) continue;
        const b = d.state.queue[d.next]!;
        this.encode(b);
        // Its records are in `encoded` now: later records go to a new batch, sent or not.
        b.closed = true;
        if (batches.length > 0 && requestBytes + b.encoded!.length > this.maxRequestSize) {
          // Sequence assigned but not sent: it stays at its place in the queue, sent next.
          continue;
        }
        requestBytes += b.encoded!.length;
        batches.push(b);
        d.next++;
      }
      if (batches.length === 0) return;
      this.sendRequest(conn, batches);
    }
  }

  private sendRequest(conn: BrokerConnection, batches: ProducerBatch[]): void {
    const topicData: ProduceRequestTopicProduceData[] = [];
    const byTopic = new Map<string, ProduceRequestTopicProduceData>();
    for (const b of batches) {
      const s = b.state;
      b.inFlight = true;
      if (b.sendOrder < 0) b.sendOrder = s.sendCounter++;
      b.attempts++;
      s.inFlight++;
      this.totalInFlight++;
      let t = byTopic.get(s.topic);
      if (t === undefined) {
        t = { name: s.topic, partitionData: [] };
        byTopic.set(s.topic, t);
        topicData.push(t);
      }
      t.partitionData.push({ index: s.partition, records: b.encoded });
    }
    const expectResponse = this.acks !== 0;
    // Encoded batches of GATHER_MIN_BYTES and more go to the socket by reference, not copied
    // into the request's frame: a batch's buffer stays untouched until the batch is done,
    // which (acks != 0) is after its request was answered or failed.
    let gathered = 0;
    if (expectResponse) {
      for (const b of batches) if (b.encoded!.length >= GATHER_MIN_BYTES) gathered += b.encoded!.length;
    }
    conn
      .request(
        ApiKey.Produce,
        {
          transactionalId: this.txn?.transactionalId ?? null,
          acks: this.acks,
          timeoutMs: this.cluster.requestTimeoutMs,
          topicData,
        },
        { expectResponse, gather: { minBytes: GATHER_MIN_BYTES, bytes: gathered } },
      )
      .then(
        (res) => this.onProduceResponse(batches, res as ProduceResponse | undefined),
        (e: unknown) => {
          this.cluster.requestUpdate();
          for (const b of batches) this.onBatchError(b, e);
          this.scheduleRun();
        },
      );
  }

  /** Encodes the batch on first send (assigning its sequence), or patches producer fields after an epoch bump. */
  private encode(b: ProducerBatch): void {
    const s = b.state;
    if (this.idempotent && b.baseSequence < 0) {
      b.baseSequence = s.nextSequence;
      s.nextSequence = (s.nextSequence + b.recordCount) % 2147483648;
    }
    if (b.encoded === null) {
      b.producerEpoch = this.producerEpoch;
      b.generation = this.generation;
      // Uncompressed batches go into a reused buffer when the estimate fits one.
      const into = this.compression === 0 ? this.batchBuffers.take(b.sizeBytes + BATCH_OVERHEAD) : undefined;
      b.encoded = buildRecordBatch({
        into,
        records: b.records,
        compression: this.compression,
        producerId: this.idempotent ? this.producerId : -1n,
        producerEpoch: this.idempotent ? this.producerEpoch : -1,
        baseSequence: this.idempotent ? b.baseSequence : -1,
        transactional: this.txn !== null,
      });
      if (into !== undefined) {
        if (b.encoded.buffer === into.buffer) b.pooled = into;
        else this.batchBuffers.give(into);
      }
      b.records = EMPTY_RECORDS;
      return;
    }
    if (this.idempotent && b.generation !== this.generation) {
      const buf = b.encoded;
      const w = new Writer(buf, BatchOffset.ProducerId);
      w.writeInt64(this.producerId);
      w.writeInt16(this.producerEpoch);
      w.writeInt32(b.baseSequence);
      buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), BatchOffset.Crc);
      b.producerEpoch = this.producerEpoch;
      b.generation = this.generation;
    }
  }

  private onProduceResponse(sent: ProducerBatch[], res: ProduceResponse | undefined): void {
    sent = sent.filter((b) => !b.done);
    if (res === undefined) {
      for (const b of sent) this.completeBatch(b, -1, -1);
      this.scheduleRun();
      return;
    }
    const found = new Set<ProducerBatch>();
    for (const t of res.responses) {
      for (const p of t.partitionResponses) {
        const b = sent.find((x) => x.state.topic === t.name && x.state.partition === p.index);
        if (b === undefined || found.has(b)) continue;
        found.add(b);
        if (p.errorCode === 0 || p.errorCode === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) {
          this.completeBatch(b, Number(p.baseOffset), Number(p.logAppendTimeMs));
        } else {
          if (isStaleMetadataError(p.errorCode)) this.cluster.requestUpdate();
          this.onBatchError(
            b,
            new KafkaProtocolError(
              p.errorCode,
              `produce to ${t.name}-${p.index}`,
              p.errorMessage ?? p.recordErrors[0]?.batchIndexErrorMessage,
            ),
          );
        }
      }
    }
    for (const b of sent) {
      if (!found.has(b)) {
        this.onBatchError(b, new KafkaProtocolError(ErrorCode.UNKNOWN_SERVER_ERROR, 'partition missing in response'));
      }
    }
    this.scheduleRun();
  }

  private completeBatch(b: ProducerBatch, baseOffset: number, logAppendTimeMs: number): void {
    const s = b.state;
    b.inFlight = false;
    s.inFlight--;
    this.totalInFlight--;
    s.retryAttempt = 0;
    if (this.idempotent) s.lastAckedSequence = b.baseSequence + b.recordCount - 1;
    const i = s.queue.indexOf(b);
    if (i >= 0) s.queue.splice(i, 1);
    const topic = s.topic;
    const partition = s.partition;
    const timestamps = b.timestamps;
    for (let j = 0; j < b.recordCount; j++) {
      const h = b.handles[j]!;
      if (h.failed) continue;
      h.results[b.indexes[j]!] = {
        topic,
        partition,
        offset: baseOffset < 0 ? -1 : baseOffset + j,
        timestamp: logAppendTimeMs >= 0 ? logAppendTimeMs : timestamps[j]!,
      };
      if (--h.remaining === 0) h.resolve(h.results);
    }
    this.finishBatch(b);
  }

  private finishBatch(b: ProducerBatch): void {
    if (b.done) return;
    b.done = true;
    // Nothing refers to the bytes any more once the batch's request was answered or failed
    // (it may have written them by reference). A batch failed while still in flight (close
    // with force, a fatal error) leaves its buffer to the garbage collector.
    b.encoded = null;
    if (b.pooled !== null && !b.inFlight) {
      this.batchBuffers.give(b.pooled);
      b.pooled = null;
    }
    this.releaseMemory(b.sizeBytes);
    b.sizeBytes = 0;
    if (--this.incompleteBatches === 0) {
      for (const d of this.flushWaiters.splice(0)) d.resolve();
    }
  }

  private onBatchError(b: ProducerBatch, e: unknown): void {
    if (b.done) return;
    // A transactional producer whose epoch is refused was fenced by a newer one.
    if (this.txn !== null && e instanceof KafkaProtocolError)
      e = transactionError(e.code, e.context ?? '', e.brokerMessage);
    const s = b.state;
    b.inFlight = false;
    s.inFlight--;
    this.totalInFlight--;
    const now = this.cluster.clock.monotonicMs();
    let retriable = isRetriable(e);
    let bump = false;
    if (this.idempotent && e instanceof KafkaProtocolError) {
      if (e.code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER) {
        // A gap behind an earlier batch that is being retried heals by itself; on the next expected batch it cannot.
        retriable = b.baseSequence !== (s.lastAckedSequence + 1) % 2147483648;
        bump = !retriable;
      } else if (e.code === ErrorCode.UNKNOWN_PRODUCER_ID) {
        retriable = true;
        bump = true;
      }
    }
    const expired = b.createdMs + this.deliveryTimeoutMs <= now;
    if (retriable && !expired && b.attempts <= this.cluster.retry.retries && !this.closed) {
      // Back to the queue in sequence order; the partition waits for its other in-flight batches.
      const i = s.queue.indexOf(b);
      if (i >= 0) s.queue.splice(i, 1);
      let at = 0;
      while (at < s.queue.length && s.queue[at]!.sendOrder >= 0 && s.queue[at]!.sendOrder < b.sendOrder) at++;
      s.queue.splice(at, 0, b);
      s.retrying = true;
      const c = this.cluster.retry;
      s.retryAtMs =
        now + backoffMs(s.retryAttempt++, c.retryBackoffMs, c.retryBackoffMaxMs, this.cluster.random.next());
      if (bump) this.requestEpochBump(e);
      return;
    }
    const i = s.queue.indexOf(b);
    if (i >= 0) s.queue.splice(i, 1);
    const err = expired
      ? new KafkaTimeoutError(`batch for ${s.topic}-${s.partition} expired after ${this.deliveryTimeoutMs} ms`)
      : e;
    if (this.idempotent && b.baseSequence >= 0) this.requestEpochBump(err);
    else this.txn?.abortable(err);
    this.failBatch(b, err);
  }

  /**
   * Sequences must restart under a new epoch. Idempotent only: at once. Transactional: the
   * transaction becomes abortable and the abort bumps the epoch.
   */
  private requestEpochBump(cause: unknown): void {
    if (this.txn !== null) this.txn.abortable(cause, true);
    else this.needsEpochBump = true;
  }

  private expire(s: PartitionState, now: number): void {
    while (s.queue.length > 0) {
      const b = s.queue[0]!;
      if (b.inFlight || b.createdMs + this.deliveryTimeoutMs > now) break;
      s.queue.shift();
      // A batch that already had a sequence leaves a gap: sequences restart under a new epoch.
      const e = new KafkaTimeoutError(`batch for ${s.topic}-${s.partition} expired after ${this.deliveryTimeoutMs} ms`);
      if (this.idempotent && b.baseSequence >= 0) this.requestEpochBump(e);
      else this.txn?.abortable(e);
      this.failBatch(b, e);
    }
  }

  private failBatch(b: ProducerBatch, e: unknown): void {
    for (let j = 0; j < b.handles.length; j++) this.failHandle(b.handles[j]!, e);
    b.handles = [];
    this.finishBatch(b);
  }

  private failHandle(h: SendHandle, e: unknown): void {
    if (h.failed) return;
    h.failed = true;
    h.reject(e);
  }

  private failAll(e: unknown): void {
    if (!(e instanceof KafkaClientError) || !e.retriable) {
      this.fatal = e instanceof Error ? e : new Error(String(e));
      for (const states of this.partitions.values()) {
        for (const s of states) {
          if (s === undefined) continue;
          for (const b of s.queue) this.failBatch(b, e);
          s.queue.length = 0;
        }
      }
      return;
    }
    this.scheduleWake(this.cluster.retry.retryBackoffMs);
  }

  /** InitProducerId: a new id, or (KIP-360) a new epoch for the current one. */
  private ensureProducerId(): Promise<void> {
    if (this.producerId >= 0n && !this.needsEpochBump) return Promise.resolve();
    this.initializing ??= this.cluster
      .withRetries(async () => {
        const conn = await this.cluster.anyConnection();
        const bumping = this.producerId >= 0n && conn.versionFor(ApiKey.InitProducerId) >= 3;
        const res = await conn.request(ApiKey.InitProducerId, {
          transactionalId: null,
          transactionTimeoutMs: 60000,
          producerId: bumping ? this.producerId : -1n,
          producerEpoch: bumping ? this.producerEpoch : -1,
        });
        if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'InitProducerId');
        this.producerId = res.producerId;
        this.producerEpoch = res.producerEpoch;
        this.needsEpochBump = false;
        this.resetSequences();
      })
      .finally(() => {
        this.initializing = null;
      });
    return this.initializing;
  }

  /** After a new id or epoch: sequences restart at 0; batches waiting for a retry get new ones, in order. */
  private resetSequences(): void {
    this.generation++;
    for (const states of this.partitions.values()) {
      for (const s of states) {
        if (s === undefined) continue;
        s.nextSequence = 0;
        s.lastAckedSequence = -1;
        for (const b of s.queue) {
          if (b.encoded === null) continue;
          b.baseSequence = s.nextSequence;
          s.nextSequence += b.recordCount;
        }
      }
    }
  }

  /** Current producer id and epoch (-1 before the first send with idempotence). */
  get producerIdAndEpoch(): { producerId: bigint; producerEpoch: number } {
    return { producerId: this.producerId, producerEpoch: this.producerEpoch };
  }
}

const EMPTY_RECORDS: RecordInput[] = [];

function firstNotInFlight(queue: ProducerBatch[]): number {
  for (let i = 0; i < queue.length; i++) if (!queue[i]!.inFlight) return i;
  return queue.length;
}

function estimateSize(
  key: Buffer | null,
  value: Buffer | null,
  headers: { key: string; value: Buffer | null }[] | undefined,
): number {
  let size = RECORD_OVERHEAD + (key === null ? 0 : key.length) + (value === null ? 0 : value.length);
  if (headers !== undefined) {
    for (const h of headers) size += 10 + Buffer.byteLength(h.key) + (h.value === null ? 0 : h.value.length);
  }
  return size;
}

function normalizeHeaders(h: ProducerHeaders): { key: string; value: Buffer | null }[] {
  const toBuf = (v: string | Buffer | null): Buffer | null =>
    v === null ? null : typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  if (Array.isArray(h)) return h.map((x) => ({ key: x.key, value: toBuf(x.value) }));
  return Object.entries(h).map(([key, value]) => ({ key, value: toBuf(value as string | Buffer | null) }));
}
