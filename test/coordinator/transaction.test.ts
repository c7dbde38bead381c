/**
 * The transaction coordinator over an in-memory log and a manual clock: InitProducerId
 * epochs and fencing, the Ongoing -> Prepare* -> Complete* path with markers sent through
 * a fake channel, timeouts, expiration, failover resuming markers, describe/list, and the
 * group coordinator's transactional offset commits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCoordinatorLog } from '../../src/coordinator/runtime/memory-log.ts';
import {
  DEFAULT_TXN_CONFIG,
  TransactionCoordinator,
  type TxnCoordinatorConfig,
} from '../../src/coordinator/transaction/coordinator.ts';
import { type MarkerSender, TxnMarkerChannel } from '../../src/coordinator/transaction/marker-channel.ts';
import { deserializeTxnRecord, serializeTxnRecord } from '../../src/coordinator/transaction/records.ts';
import { TxnState } from '../../src/coordinator/transaction/shard.ts';
import type { MetadataCache } from '../../src/metadata/cache.ts';
import { emptyImage, type MetadataImage, type PartitionImage, type TopicImage } from '../../src/metadata/image.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import type { WriteTxnMarkersRequest } from '../../src/protocol/generated/write-txn-markers-request.ts';
import { harness as groupHarness, settle, TestClock } from './helpers.ts';

const NODE = 1;

function imageWith(topics: Record<string, number>): MetadataImage {
  const base = emptyImage('test-cluster');
  const byName = new Map<string, TopicImage>();
  for (const [name, count] of Object.entries(topics)) {
    const partitions = new Map<number, PartitionImage>();
    for (let i = 0; i < count; i++) {
      partitions.set(i, {
        partitionId: i,
        replicas: [NODE],
        isr: [NODE],
        removingReplicas: [],
        addingReplicas: [],
        leader: NODE,
        leaderEpoch: 3,
        partitionEpoch: 0,
        leaderRecoveryState: 0,
      } as unknown as PartitionImage);
    }
    byName.set(name, { name, topicId: `id-${name}`, partitions });
  }
  return {
    ...base,
    topicsByName: byName,
    brokers: new Map([
      [
        NODE,
        {
          nodeId: NODE,
          incarnationId: 'x',
          brokerEpoch: 0,
          endpoints: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 1, securityProtocol: 0 }],
          rack: null,
          fenced: false,
          inControlledShutdown: false,
          logDirs: [],
        },
      ],
    ]),
  } as MetadataImage;
}

/** Records every WriteTxnMarkers request; answers `failWith` for every partition while it is set. */
class FakeBrokers {
  readonly requests: WriteTxnMarkersRequest[] = [];
  failWith: number = ErrorCode.NONE;
  sender(): MarkerSender {
    return {
      writeTxnMarkers: (request) => {
        this.requests.push(request);
        return Promise.resolve({
          markers: request.markers.map((m) => ({
            producerId: m.producerId,
            topics: m.topics.map((t) => ({
              name: t.name,
              partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: this.failWith })),
            })),
          })),
        });
      },
      close: () => {},
    };
  }
  /** The markers written so far: "topic-partition:COMMIT/ABORT@epoch" per partition. */
  written(): string[] {
    const out: string[] = [];
    for (const r of this.requests) {
      for (const m of r.markers) {
        for (const t of m.topics) {
          for (const p of t.partitionIndexes) {
            out.push(`${t.name}-${p}:${m.transactionResult ? 'COMMIT' : 'ABORT'}@${m.producerEpoch}`);
          }
        }
      }
    }
    return out;
  }
}

interface Harness {
  clock: TestClock;
  log: MemoryCoordinatorLog;
  brokers: FakeBrokers;
  tc: TransactionCoordinator;
  config: TxnCoordinatorConfig;
  restart(): Promise<TransactionCoordinator>;
}

async function harness(overrides: Partial<TxnCoordinatorConfig> = {}): Promise<Harness> {
  const clock = new TestClock();
  const log = new MemoryCoordinatorLog();
  const brokers = new FakeBrokers();
  const config: TxnCoordinatorConfig = { ...DEFAULT_TXN_CONFIG, numPartitions: 3, ...overrides };
  const image = imageWith({ t: 2, __consumer_offsets: 5 });
  const metadata = { image: () => image, subscribe: () => () => {} } as unknown as MetadataCache;
  let nextPid = 1000n;
  const make = async (): Promise<TransactionCoordinator> => {
    const tc = new TransactionCoordinator({
      nodeId: NODE,
      clock,
      config,
      log,
      producerIds: { nextProducerId: () => Promise.resolve(nextPid++) },
      markers: new TxnMarkerChannel({ clock, metadata, connect: () => brokers.sender(), retryBackoffMs: 100 }),
      groupPartitionFor: (g) => g.length % 5,
      groupTopic: '__consumer_offsets',
    });
    for (let p = 0; p < config.numPartitions; p++) await tc.loadShard(p);
    return tc;
  };
  const h: Harness = {
    clock,
    log,
    brokers,
    config,
    tc: await make(),
    async restart() {
      await h.tc.close();
      h.tc = await make();
      return h.tc;
    },
  };
  return h;
}

async function stateOf(h: Harness, id: string): Promise<string> {
  return (await h.tc.describe(id)).transactionState;
}

void describe('transaction coordinator', () => {
  void it('stores TransactionLogValue records as Kafka does (key v0, value v0) and reads them back', () => {
    const rec = {
      transactionalId: 'tx',
      value: {
        producerId: 7n,
        previousProducerId: -1n,
        nextProducerId: -1n,
        producerEpoch: 2,
        transactionTimeoutMs: 60000,
        transactionStatus: TxnState.Ongoing,
        transactionPartitions: [{ topic: 't', partitionIds: [0, 1] }],
        transactionLastUpdateTimestampMs: 5n,
        transactionStartTimestampMs: 4n,
        clientTransactionVersion: 0,
      },
    };
    const bytes = serializeTxnRecord(rec);
    assert.equal(bytes.key.readInt16BE(0), 0);
    assert.equal(bytes.value!.readInt16BE(0), 0);
    assert.deepEqual(deserializeTxnRecord(bytes), rec);
    assert.deepEqual(deserializeTxnRecord({ key: bytes.key, value: null }), { transactionalId: 'tx', value: null });
  });

  void it('InitProducerId: a new id gets a producer id at epoch 0, each later init bumps the epoch', async () => {
    const h = await harness();
    const a = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    assert.deepEqual(a, { errorCode: 0, producerId: 1000n, producerEpoch: 0 });
    const b = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    assert.deepEqual(b, { errorCode: 0, producerId: 1000n, producerEpoch: 1 });
    const other = await h.tc.initProducerId('other', 60_000, -1n, -1);
    assert.equal(other.producerId, 1001n);
    assert.equal(
      (await h.tc.initProducerId('tx', h.config.maxTimeoutMs + 1, -1n, -1)).errorCode,
      ErrorCode.INVALID_TRANSACTION_TIMEOUT,
    );
    assert.equal((await h.tc.initProducerId('tx', 0, -1n, -1)).errorCode, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    // KIP-360: the current producer re-initialising keeps its id; a stranger's id is fenced.
    assert.deepEqual(await h.tc.initProducerId('tx', 60_000, 1000n, 1), {
      errorCode: 0,
      producerId: 1000n,
      producerEpoch: 2,
    });
    assert.equal((await h.tc.initProducerId('tx', 60_000, 555n, 0)).errorCode, ErrorCode.PRODUCER_FENCED);
    assert.equal((await h.tc.initProducerId('tx', 60_000, 1000n, 0)).errorCode, ErrorCode.PRODUCER_FENCED);
    await h.tc.close();
  });

  void it('commit: partitions join (Ongoing), EndTxn writes PrepareCommit, markers go out, then CompleteCommit', async () => {
    const h = await harness();
    const { producerId, producerEpoch } = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    assert.equal(await stateOf(h, 'tx'), 'Empty');
    assert.equal(
      await h.tc.addPartitions('tx', producerId, producerEpoch, [
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ]),
      0,
    );
    assert.equal(await h.tc.addOffsets('tx', producerId, producerEpoch, 'grp'), 0);
    const d = await h.tc.describe('tx');
    assert.equal(d.transactionState, 'Ongoing');
    assert.deepEqual(
      d.topics.sort((a, b) => a.topic.localeCompare(b.topic)),
      [
        { topic: '__consumer_offsets', partitions: [3] },
        { topic: 't', partitions: [0, 1] },
      ],
    );
    assert.ok(d.transactionStartTimeMs > 0n);
    // Wrong producer id / epoch.
    assert.equal(await h.tc.addPartitions('tx', 1n, producerEpoch, []), ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    assert.equal(await h.tc.addPartitions('tx', producerId, producerEpoch + 1, []), ErrorCode.PRODUCER_FENCED);
    assert.deepEqual(
      await h.tc.verifyPartitions('tx', producerId, producerEpoch, [
        { topic: 't', partition: 0 },
        { topic: 't', partition: 5 },
      ]),
      [0, ErrorCode.INVALID_TXN_STATE],
    );
    // A partition leader's question (KIP-890), answered in process here: PRODUCER_FENCED
    // comes back as INVALID_PRODUCER_EPOCH, what producers expect on produce.
    assert.deepEqual(
      await h.tc.verifyOnCoordinator('tx', producerId, producerEpoch + 1, [{ topic: 't', partition: 0 }]),
      [ErrorCode.INVALID_PRODUCER_EPOCH],
    );

    h.brokers.failWith = ErrorCode.NOT_LEADER_OR_FOLLOWER; // hold the markers back a moment
    assert.equal(await h.tc.endTxn('tx', producerId, producerEpoch, true), 0);
    await settle();
    assert.equal(await stateOf(h, 'tx'), 'PrepareCommit');
    // While the markers are out: the next transaction waits.
    assert.equal(await h.tc.endTxn('tx', producerId, producerEpoch, true), ErrorCode.CONCURRENT_TRANSACTIONS);
    assert.deepEqual(await h.tc.verifyOnCoordinator('tx', producerId, producerEpoch, [{ topic: 't', partition: 0 }]), [
      ErrorCode.CONCURRENT_TRANSACTIONS,
    ]);
    assert.equal(await h.tc.endTxn('tx', producerId, producerEpoch, false), ErrorCode.INVALID_TXN_STATE);
    assert.equal(
      await h.tc.addPartitions('tx', producerId, producerEpoch, [{ topic: 't', partition: 0 }]),
      ErrorCode.CONCURRENT_TRANSACTIONS,
    );
    assert.equal((await h.tc.initProducerId('tx', 60_000, -1n, -1)).errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    h.brokers.failWith = ErrorCode.NONE;
    await h.clock.advance(100);
    await h.tc.idle();
    assert.equal(await stateOf(h, 'tx'), 'CompleteCommit');
    assert.deepEqual((await h.tc.describe('tx')).topics, []);
    const written = h.brokers.written();
    for (const tp of ['t-0', 't-1', '__consumer_offsets-3']) assert.ok(written.includes(`${tp}:COMMIT@0`), tp);
    // Without metadata the coordinator epoch is 0 (with it: the __transaction_state partition's leader epoch).
    assert.ok(h.brokers.requests.every((r) => r.markers[0]!.coordinatorEpoch === 0));
    // A retried EndTxn after completion is fine; the other outcome is not.
    assert.equal(await h.tc.endTxn('tx', producerId, producerEpoch, true), 0);
    assert.equal(await h.tc.endTxn('tx', producerId, producerEpoch, false), ErrorCode.INVALID_TXN_STATE);
    // The next transaction on the same epoch (transaction version 1).
    assert.equal(await h.tc.addPartitions('tx', producerId, producerEpoch, [{ topic: 't', partition: 1 }]), 0);
    assert.equal(await h.tc.endTxn('tx', producerId, producerEpoch, false), 0);
    await h.tc.idle();
    assert.equal(await stateOf(h, 'tx'), 'CompleteAbort');
    assert.ok(h.brokers.written().includes('t-1:ABORT@0'));
    // EndTxn for an id the coordinator does not know.
    assert.equal(await h.tc.endTxn('never', 1n, 0, true), ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    await h.tc.close();
  });

  void it('a new incarnation fences the old producer: its open transaction is aborted at a bumped epoch', async () => {
    const h = await harness();
    const old = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    await h.tc.addPartitions('tx', old.producerId, old.producerEpoch, [{ topic: 't', partition: 0 }]);
    const first = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    assert.equal(first.errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
    await h.tc.idle();
    assert.ok(h.brokers.written().includes('t-0:ABORT@1'));
    assert.equal(await stateOf(h, 'tx'), 'CompleteAbort');
    const fresh = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    assert.deepEqual(fresh, { errorCode: 0, producerId: old.producerId, producerEpoch: 2 });
    // The zombie.
    assert.equal(await h.tc.endTxn('tx', old.producerId, old.producerEpoch, true), ErrorCode.PRODUCER_FENCED);
    assert.equal(
      await h.tc.addPartitions('tx', old.producerId, old.producerEpoch, [{ topic: 't', partition: 0 }]),
      ErrorCode.PRODUCER_FENCED,
    );
    await h.tc.close();
  });

  void it('aborts a transaction open past its timeout, fencing its producer; KIP-360 recovery gets the new epoch', async () => {
    const h = await harness({ abortIntervalMs: 1000 });
    const p = await h.tc.initProducerId('tx', 5000, -1n, -1);
    await h.tc.addPartitions('tx', p.producerId, p.producerEpoch, [{ topic: 't', partition: 1 }]);
    await h.clock.advance(4000);
    assert.equal(await stateOf(h, 'tx'), 'Ongoing');
    await h.clock.advance(2000);
    await h.tc.idle();
    assert.equal(await stateOf(h, 'tx'), 'CompleteAbort');
    assert.ok(h.brokers.written().includes('t-1:ABORT@1'));
    assert.equal(await h.tc.endTxn('tx', p.producerId, p.producerEpoch, true), ErrorCode.PRODUCER_FENCED);
    // The timed-out producer re-initialises with its id and old epoch: it gets the epoch the abort made.
    assert.deepEqual(await h.tc.initProducerId('tx', 5000, p.producerId, p.producerEpoch), {
      errorCode: 0,
      producerId: p.producerId,
      producerEpoch: 1,
    });
    await h.tc.close();
  });

  void it('removes transactional ids unused for transactional.id.expiration.ms', async () => {
    const h = await harness({ idExpirationMs: 10_000, removeExpiredIntervalMs: 1000 });
    await h.tc.initProducerId('idle', 60_000, -1n, -1);
    const busy = await h.tc.initProducerId('busy', 60_000, -1n, -1);
    await h.tc.addPartitions('busy', busy.producerId, busy.producerEpoch, [{ topic: 't', partition: 0 }]);
    await h.clock.advance(11_000);
    assert.equal((await h.tc.describe('idle')).errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    assert.equal((await h.tc.describe('busy')).errorCode, 0, 'an ongoing transaction is not expired');
    await h.tc.close();
  });

  void it('after a failover the new coordinator resumes the markers of prepared transactions', async () => {
    const h = await harness();
    const p = await h.tc.initProducerId('tx', 60_000, -1n, -1);
    await h.tc.addPartitions('tx', p.producerId, p.producerEpoch, [{ topic: 't', partition: 0 }]);
    h.brokers.failWith = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    assert.equal(await h.tc.endTxn('tx', p.producerId, p.producerEpoch, true), 0);
    await settle();
    const tc2 = await h.restart();
    assert.equal(await stateOf(h, 'tx'), 'PrepareCommit');
    h.brokers.failWith = ErrorCode.NONE;
    await h.clock.advance(100);
    await tc2.idle();
    assert.equal(await stateOf(h, 'tx'), 'CompleteCommit');
    // Loading rebuilt the rest too: the next transaction works on the same epoch.
    assert.equal(await tc2.addPartitions('tx', p.producerId, p.producerEpoch, [{ topic: 't', partition: 1 }]), 0);
    await tc2.close();
  });

  void it('ListTransactions filters by state, producer id and duration; DescribeTransactions by id', async () => {
    const h = await harness();
    const a = await h.tc.initProducerId('a', 60_000, -1n, -1);
    const b = await h.tc.initProducerId('b', 60_000, -1n, -1);
    await h.tc.addPartitions('b', b.producerId, b.producerEpoch, [{ topic: 't', partition: 0 }]);
    await h.clock.advance(5000);
    const ids = async (states: string[], pids: bigint[] = [], duration = -1) =>
      (await h.tc.list(states, pids, duration)).transactions.map((t) => t.transactionalId).sort();
    assert.deepEqual(await ids([]), ['a', 'b']);
    assert.deepEqual(await ids(['Ongoing']), ['b']);
    assert.deepEqual(await ids([], [a.producerId]), ['a']);
    assert.deepEqual(await ids([], [], 4000), ['b']);
    assert.deepEqual(await ids([], [], 6000), []);
    const unknown = await h.tc.list(['Bogus'], [], -1);
    assert.deepEqual(unknown.unknownStates, ['Bogus']);
    assert.deepEqual(unknown.transactions, []);
    assert.equal((await h.tc.describe('nope')).errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    await h.tc.close();
  });
});

void describe('group coordinator: transactional offset commits', () => {
  const commit = (producerId: bigint, offset: number) => ({
    transactionalId: 'tx',
    groupId: 'g',
    producerId,
    producerEpoch: 0,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: 't',
        partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }],
      },
    ],
  });
  const fetched = async (g: Awaited<ReturnType<typeof groupHarness>>) =>
    (await g.coordinator.fetchOffsets('g', [{ name: 't', partitionIndexes: [0] }])).topics[0]!.partitions[0]!
      .committedOffset;

  void it('offsets stay pending until the COMMIT marker, are dropped on ABORT, and survive a reload', async () => {
    const g = await groupHarness();
    const partition = g.coordinator.partitionFor('g');
    const out = await g.coordinator.txnOffsetCommit(commit(7n, 10));
    assert.equal(out.errorCode, 0);
    assert.equal(out.topics[0]!.partitions[0]!.errorCode, 0);
    assert.equal(await fetched(g), -1);
    // require_stable (KIP-447): the pending partition answers UNSTABLE_OFFSET_COMMIT, others as usual.
    const stable = await g.coordinator.fetchOffsets('g', [{ name: 't', partitionIndexes: [0, 1] }], null, -1, true);
    assert.deepEqual(
      stable.topics[0]!.partitions.map((p) => p.errorCode),
      [ErrorCode.UNSTABLE_OFFSET_COMMIT, 0],
    );
    assert.equal(
      await g.coordinator.writeTxnMarker(partition, {
        producerId: 7n,
        producerEpoch: 0,
        committed: true,
        coordinatorEpoch: 0,
      }),
      0,
    );
    assert.equal(await fetched(g), 10);
    const settled = await g.coordinator.fetchOffsets('g', [{ name: 't', partitionIndexes: [0] }], null, -1, true);
    assert.equal(settled.topics[0]!.partitions[0]!.errorCode, 0);
    await g.coordinator.txnOffsetCommit(commit(7n, 20));
    await g.coordinator.writeTxnMarker(partition, {
      producerId: 7n,
      producerEpoch: 0,
      committed: false,
      coordinatorEpoch: 0,
    });
    assert.equal(await fetched(g), 10);
    // A pending commit and its later marker, replayed from the log after a restart.
    await g.coordinator.txnOffsetCommit(commit(8n, 30));
    await g.restart();
    assert.equal(await fetched(g), 10);
    await g.coordinator.writeTxnMarker(partition, {
      producerId: 8n,
      producerEpoch: 0,
      committed: true,
      coordinatorEpoch: 0,
    });
    assert.equal(await fetched(g), 30);
    await g.restart();
    assert.equal(await fetched(g), 30);
    await g.coordinator.close();
  });
});
