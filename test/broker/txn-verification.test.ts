/**
 * KIP-890 part 1 on the produce path, with a fake transaction coordinator: a transactional
 * batch of a producer without an ongoing transaction is appended only when the
 * coordinator says its partition is in the transaction; coordinator errors map to
 * Kafka's produce errors; a marker written while the verification was out refuses the
 * late write (the hanging-transaction case). Then the broker-to-broker channel: batching
 * per coordinator node, one request in flight, epoch conflicts, network errors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleProduce } from '../../src/broker/replica/produce.ts';
import { produceErrorForVerification, txnVerification } from '../../src/broker/txn-verification.ts';
import { TxnVerificationChannel } from '../../src/coordinator/transaction/verification-channel.ts';
import type { MetadataCache } from '../../src/metadata/cache.ts';
import type { MetadataImage } from '../../src/metadata/image.ts';
import type { AddPartitionsToTxnRequest } from '../../src/protocol/generated/add-partitions-to-txn-request.ts';
import type { AddPartitionsToTxnResponse } from '../../src/protocol/generated/add-partitions-to-txn-response.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import type { ProduceRequest } from '../../src/protocol/generated/produce-request.ts';
import {
  buildControlBatch,
  buildRecordBatch,
  ControlRecordType,
  readBatchHeader,
} from '../../src/protocol/records/index.ts';
import { type Harness, harness, imageOf } from './replica/helpers.ts';

const PID = 7n;

function txnBatch(baseSequence: number, opts: { transactional?: boolean; epoch?: number } = {}): Buffer {
  return buildRecordBatch({
    records: [{ key: Buffer.from('k'), value: Buffer.from(`v${baseSequence}`), timestamp: 1_700_000_000_000 }],
    producerId: PID,
    producerEpoch: opts.epoch ?? 0,
    baseSequence,
    transactional: opts.transactional ?? true,
  });
}

function request(records: Buffer, transactionalId: string | null = 'tx'): ProduceRequest {
  return {
    transactionalId,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
  };
}

interface FakeCoordinator {
  calls: { id: string; pid: bigint; epoch: number; partitions: string[] }[];
  /** The next answers; a function is called when the question comes (may hold it). */
  answer: (() => number | Promise<number>) | number;
  verifyOnCoordinator(
    id: string,
    pid: bigint,
    epoch: number,
    partitions: readonly { topic: string; partition: number }[],
  ): Promise<number[]>;
}

function fakeCoordinator(): FakeCoordinator {
  const fake: FakeCoordinator = {
    calls: [],
    answer: ErrorCode.NONE,
    async verifyOnCoordinator(id, pid, epoch, partitions) {
      fake.calls.push({ id, pid, epoch, partitions: partitions.map((p) => `${p.topic}-${p.partition}`) });
      const a = fake.answer;
      const code = typeof a === 'number' ? a : await a();
      return partitions.map(() => code);
    },
  };
  return fake;
}

async function setup(
  enabled = true,
): Promise<{ h: Harness; coordinator: FakeCoordinator; produce: typeof produceOne }> {
  const h = await harness([{ name: 't', partitions: 1 }]);
  const coordinator = fakeCoordinator();
  const verify = txnVerification({
    enabled: () => enabled,
    verifyOnCoordinator: (...args) => coordinator.verifyOnCoordinator(...args),
    nowMs: () => h.clock.nowMs(),
  });
  async function produceOne(req: ProduceRequest) {
    const { response } = await handleProduce(req, 9, {
      replicas: h.replicas,
      nowMs: () => h.clock.nowMs(),
      txnVerification: verify,
    });
    return response.responses[0]!.partitionResponses[0]!;
  }
  return { h, coordinator, produce: produceOne };
}

async function appendMarker(h: Harness, committed: boolean): Promise<void> {
  const m = buildControlBatch({
    type: committed ? ControlRecordType.Commit : ControlRecordType.Abort,
    coordinatorEpoch: 0,
    producerId: PID,
    producerEpoch: 0,
    timestamp: 1_700_000_000_000,
  });
  const outcome = await h.replicas.getPartition('t', 0)!.appendAsLeader(m, [readBatchHeader(m, 0)]);
  assert.equal(outcome.kind, 'appended');
}

void describe('transaction verification on the produce path (KIP-890 part 1)', () => {
  void it('asks the coordinator before the first transactional batch only; appends when verified', async () => {
    const { h, coordinator, produce } = await setup();
    const r1 = await produce(request(txnBatch(0)));
    assert.equal(r1.errorCode, ErrorCode.NONE);
    assert.deepEqual(coordinator.calls, [{ id: 'tx', pid: PID, epoch: 0, partitions: ['t-0'] }]);
    // The transaction is ongoing: no second question.
    const r2 = await produce(request(txnBatch(1)));
    assert.equal(r2.errorCode, ErrorCode.NONE);
    assert.equal(r2.baseOffset, 1n);
    assert.equal(coordinator.calls.length, 1);
    // After the marker the next transaction is verified again.
    await appendMarker(h, true);
    assert.equal((await produce(request(txnBatch(2)))).errorCode, ErrorCode.NONE);
    assert.equal(coordinator.calls.length, 2);
    assert.equal(h.replicas.getPartition('t', 0)!.producers.verificationCount, 0);
  });

  void it('refuses a partition not in the transaction: INVALID_TXN_STATE, nothing appended', async () => {
    const { h, coordinator, produce } = await setup();
    coordinator.answer = ErrorCode.INVALID_TXN_STATE;
    const r = await produce(request(txnBatch(0)));
    assert.equal(r.errorCode, ErrorCode.INVALID_TXN_STATE);
    assert.equal(r.baseOffset, -1n);
    const p = h.replicas.getPartition('t', 0)!;
    assert.equal(p.log.logEndOffset(), 0);
    assert.equal(p.producers.hasOngoingTxn(PID), false);
    assert.equal(p.lastStableOffset(), 0);
  });

  void it("maps the coordinator's errors as Kafka does", async () => {
    const { coordinator, produce } = await setup();
    const retriable = [
      ErrorCode.COORDINATOR_NOT_AVAILABLE,
      ErrorCode.NOT_COORDINATOR,
      ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
      ErrorCode.CONCURRENT_TRANSACTIONS,
      ErrorCode.NETWORK_EXCEPTION,
    ];
    for (const code of retriable) {
      coordinator.answer = code;
      const r = await produce(request(txnBatch(0)));
      assert.equal(r.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS, `coordinator ${code}`);
      assert.match(r.errorMessage ?? '', /could not verify/);
    }
    coordinator.answer = ErrorCode.INVALID_PRODUCER_EPOCH;
    assert.equal((await produce(request(txnBatch(0)))).errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
    coordinator.answer = () => Promise.reject(new Error('lost'));
    assert.equal((await produce(request(txnBatch(0)))).errorCode, ErrorCode.NOT_ENOUGH_REPLICAS);
    assert.deepEqual(produceErrorForVerification(ErrorCode.INVALID_TXN_STATE).errorCode, ErrorCode.INVALID_TXN_STATE);
    // After all the refusals, a verified one still appends at offset 0.
    coordinator.answer = ErrorCode.NONE;
    const ok = await produce(request(txnBatch(0)));
    assert.equal(ok.errorCode, ErrorCode.NONE);
    assert.equal(ok.baseOffset, 0n);
  });

  void it('a late write verified before a marker is refused after it (hanging transaction)', async () => {
    const { h, coordinator, produce } = await setup();
    let release: (code: number) => void = () => {};
    coordinator.answer = () =>
      new Promise<number>((resolve) => {
        release = resolve;
      });
    const late = produce(request(txnBatch(0)));
    // Wait for the question to reach the coordinator.
    for (let i = 0; i < 100 && coordinator.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(coordinator.calls.length, 1);
    // The coordinator aborts the transaction meanwhile: its marker reaches the partition.
    await appendMarker(h, false);
    release(ErrorCode.NONE);
    const r = await late;
    assert.equal(r.errorCode, ErrorCode.INVALID_TXN_STATE);
    const p = h.replicas.getPartition('t', 0)!;
    assert.equal(p.log.logEndOffset(), 1); // the marker only
    assert.equal(p.producers.hasOngoingTxn(PID), false);
    assert.equal(p.lastStableOffset(), p.highWatermark());
  });

  void it("keeps a producer's pipelined batches in order behind its verification, asking once", async () => {
    const { h, coordinator, produce } = await setup();
    let release: (code: number) => void = () => {};
    coordinator.answer = () =>
      new Promise<number>((resolve) => {
        release = resolve;
      });
    const first = produce(request(txnBatch(0)));
    for (let i = 0; i < 100 && coordinator.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
    // Sent while the first one's verification is out: they wait behind it.
    const second = produce(request(txnBatch(1)));
    const third = produce(request(txnBatch(2)));
    await new Promise((r) => setImmediate(r));
    assert.equal(h.replicas.getPartition('t', 0)!.log.logEndOffset(), 0);
    release(ErrorCode.NONE);
    const results = await Promise.all([first, second, third]);
    assert.deepEqual(
      results.map((r) => [r.errorCode, r.baseOffset]),
      [
        [ErrorCode.NONE, 0n],
        [ErrorCode.NONE, 1n],
        [ErrorCode.NONE, 2n],
      ],
    );
    assert.equal(coordinator.calls.length, 1);
  });

  void it('a stale guard does not pass: only the latest verification of the producer counts', async () => {
    const { h } = await setup();
    const producers = h.replicas.getPartition('t', 0)!.producers;
    const first = producers.startVerification(PID, 0, 0)!;
    assert.equal(producers.startVerification(PID, 0, 0), first, 'joins the entry while it lasts');
    await appendMarker(h, false);
    const second = producers.startVerification(PID, 0, 0)!;
    assert.notEqual(second, first);
    const header = readBatchHeader(txnBatch(0), 0);
    assert.equal(producers.check(header, [], first).kind, 'error');
    assert.equal(producers.check(header, [], second).kind, 'new');
  });

  void it('asks nothing when disabled, without a transactional id, or for non-transactional batches', async () => {
    const off = await setup(false);
    assert.equal((await off.produce(request(txnBatch(0)))).errorCode, ErrorCode.NONE);
    assert.equal(off.coordinator.calls.length, 0);
    const on = await setup();
    on.coordinator.answer = ErrorCode.INVALID_TXN_STATE;
    assert.equal((await on.produce(request(txnBatch(0, { transactional: false })))).errorCode, ErrorCode.NONE);
    assert.equal(on.coordinator.calls.length, 0);
    // Kafka skips verification without a transactional id in the request.
    assert.equal((await on.produce(request(txnBatch(0), null))).errorCode, ErrorCode.NONE);
    assert.equal(on.coordinator.calls.length, 0);
  });
});

// ---- the broker-to-broker channel -------------------------------------------------------

function metadataWithCoordinator(leader: number): MetadataCache {
  const base = imageOf([{ name: '__transaction_state', partitions: 4, leader }]);
  const image: MetadataImage = { ...base, brokers: new Map([[leader, {} as never]]) };
  return { image: () => image, subscribe: () => () => {} } as unknown as MetadataCache;
}

interface FakeSender {
  requests: AddPartitionsToTxnRequest[];
  pending: { resolve: (r: AddPartitionsToTxnResponse) => void; reject: (e: Error) => void }[];
  addPartitionsToTxn(request: AddPartitionsToTxnRequest): Promise<AddPartitionsToTxnResponse>;
}

function fakeSender(): FakeSender {
  const s: FakeSender = {
    requests: [],
    pending: [],
    addPartitionsToTxn(request) {
      s.requests.push(request);
      return new Promise((resolve, reject) => s.pending.push({ resolve, reject }));
    },
  };
  return s;
}

/** The coordinator's answer to a request: `codeOf` per transactional id and partition. */
function respond(request: AddPartitionsToTxnRequest, codeOf: (id: string, p: number) => number) {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    resultsByTopicV3AndBelow: [],
    resultsByTransaction: request.transactions.map((t) => ({
      transactionalId: t.transactionalId,
      topicResults: t.topics.map((topic) => ({
        name: topic.name,
        resultsByPartition: topic.partitions.map((p) => ({
          partitionIndex: p,
          partitionErrorCode: codeOf(t.transactionalId, p),
        })),
      })),
    })),
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond());
}

void describe('TxnVerificationChannel', () => {
  void it('batches the questions of one tick per coordinator, one request in flight, the rest after', async () => {
    const sender = fakeSender();
    let networkErrors = 0;
    const channel = new TxnVerificationChannel({
      metadata: metadataWithCoordinator(2),
      topic: '__transaction_state',
      partitionFor: () => 0,
      senderFor: (node) => (node === 2 ? sender : undefined),
      onNetworkError: () => networkErrors++,
    });
    const a = channel.verify('a', 1n, 0, [{ topic: 't', partition: 0 }]);
    const a2 = channel.verify('a', 1n, 0, [{ topic: 't', partition: 1 }]);
    const b = channel.verify('b', 2n, 3, [{ topic: 't', partition: 0 }]);
    await until(() => sender.requests.length === 1);
    const first = sender.requests[0]!;
    assert.deepEqual(
      first.transactions.map((t) => [t.transactionalId, t.verifyOnly, t.topics[0]!.partitions]),
      [
        ['a', true, [0, 1]],
        ['b', true, [0]],
      ],
    );
    // Asked while a request is in flight: waits for the next one.
    const c = channel.verify('c', 3n, 0, [{ topic: 't', partition: 2 }]);
    await new Promise((r) => setImmediate(r));
    assert.equal(sender.requests.length, 1);
    sender.pending[0]!.resolve(
      respond(first, (id, p) =>
        id === 'a' && p === 1 ? ErrorCode.INVALID_TXN_STATE : id === 'b' ? ErrorCode.PRODUCER_FENCED : 0,
      ),
    );
    assert.deepEqual(await a, [ErrorCode.NONE]);
    assert.deepEqual(await a2, [ErrorCode.INVALID_TXN_STATE]);
    assert.deepEqual(await b, [ErrorCode.INVALID_PRODUCER_EPOCH]);
    await until(() => sender.requests.length === 2);
    sender.pending[1]!.reject(new Error('connection lost'));
    assert.deepEqual(await c, [ErrorCode.NETWORK_EXCEPTION]);
    assert.equal(networkErrors, 1);
    assert.equal(channel.queuedTxns, 0);
    channel.close();
    assert.deepEqual(await channel.verify('d', 1n, 0, [{ topic: 't', partition: 0 }]), [
      ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ]);
  });

  void it('epoch conflicts in the queue; no coordinator; a top-level error', async () => {
    const sender = fakeSender();
    const channel = new TxnVerificationChannel({
      metadata: metadataWithCoordinator(1),
      topic: '__transaction_state',
      partitionFor: () => 0,
      senderFor: () => sender,
    });
    // Occupy the node so the next questions queue.
    const busy = channel.verify('x', 9n, 0, [{ topic: 't', partition: 0 }]);
    await until(() => sender.requests.length === 1);
    const old = channel.verify('a', 1n, 1, [{ topic: 't', partition: 0 }]);
    const newer = channel.verify('a', 1n, 2, [{ topic: 't', partition: 0 }]);
    const older = channel.verify('a', 1n, 0, [{ topic: 't', partition: 0 }]);
    assert.deepEqual(await old, [ErrorCode.INVALID_PRODUCER_EPOCH]);
    assert.deepEqual(await older, [ErrorCode.INVALID_PRODUCER_EPOCH]);
    sender.pending[0]!.resolve({
      ...respond(sender.requests[0]!, () => 0),
      errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    });
    assert.deepEqual(await busy, [ErrorCode.INVALID_TXN_STATE]);
    await until(() => sender.requests.length === 2);
    assert.equal(sender.requests[1]!.transactions[0]!.producerEpoch, 2);
    sender.pending[1]!.resolve(respond(sender.requests[1]!, () => 0));
    assert.deepEqual(await newer, [ErrorCode.NONE]);

    const nowhere = new TxnVerificationChannel({
      metadata: metadataWithCoordinator(1),
      topic: '__transaction_state',
      partitionFor: () => 0,
      senderFor: () => undefined,
    });
    assert.deepEqual(await nowhere.verify('a', 1n, 0, [{ topic: 't', partition: 0 }]), [
      ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ]);
    const noTopic = new TxnVerificationChannel({
      metadata: { image: () => imageOf([]), subscribe: () => () => {} } as unknown as MetadataCache,
      topic: '__transaction_state',
      partitionFor: () => 0,
      senderFor: () => sender,
    });
    assert.deepEqual(await noTopic.verify('a', 1n, 0, [{ topic: 't', partition: 0 }]), [
      ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ]);
  });
});
