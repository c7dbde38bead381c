/**
 * Producer state of transactions: ongoing transactions hold the last stable offset, a
 * COMMIT/ABORT marker completes them (aborted ones for the txn index), marker epoch and
 * coordinator epoch checks, snapshots keep open transactions, old snapshots still load.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProducerStateManager } from '../../../src/broker/producer-state/producer-state.ts';
import { decodeSnapshot, encodeSnapshot } from '../../../src/broker/producer-state/snapshot.ts';
import { applyBatchesToState, TxnCompletions } from '../../../src/broker/producer-state/transactions.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { buildControlBatch, buildRecordBatch, ControlRecordType } from '../../../src/protocol/records/index.ts';

function txnBatch(producerId: bigint, baseOffset: number, baseSequence: number, count = 1, epoch = 0): Buffer {
  return buildRecordBatch({
    records: Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp: 1000 })),
    baseOffset,
    producerId,
    producerEpoch: epoch,
    baseSequence,
    transactional: true,
  });
}

function marker(producerId: bigint, baseOffset: number, committed: boolean, coordinatorEpoch = 0, epoch = 0): Buffer {
  return buildControlBatch({
    type: committed ? ControlRecordType.Commit : ControlRecordType.Abort,
    coordinatorEpoch,
    producerId,
    producerEpoch: epoch,
    timestamp: 2000,
    baseOffset,
  });
}

void describe('producer state: transactions', () => {
  void it('ongoing transactions hold the LSO until their marker is below the HW', () => {
    const state = new ProducerStateManager();
    const done = new TxnCompletions();
    applyBatchesToState(state, Buffer.concat([txnBatch(1n, 0, 0, 2), txnBatch(2n, 2, 0, 3)]), 0, done);
    assert.equal(state.firstUnstableOffset(), 0);
    assert.equal(done.lastStableOffset(state, 5), 0);
    const r = applyBatchesToState(state, marker(1n, 5, false), 0, done);
    assert.deepEqual(r.aborted, [{ producerId: 1n, firstOffset: 0, lastOffset: 5, isAborted: true }]);
    assert.equal(state.firstUnstableOffset(), 2);
    // The HW has not passed producer 1's marker: its transaction still holds the LSO.
    assert.equal(done.lastStableOffset(state, 5), 0);
    assert.equal(done.lastStableOffset(state, 6), 2);
    applyBatchesToState(state, marker(2n, 6, true), 0, done);
    assert.equal(state.firstUnstableOffset(), undefined);
    assert.equal(done.lastStableOffset(state, 6), 2);
    assert.equal(done.lastStableOffset(state, 7), 7);
    assert.equal(state.entry(2n)!.currentTxnFirstOffset, -1);
    assert.equal(state.entry(2n)!.coordinatorEpoch, 0);
  });

  void it('checks markers: producer epoch and coordinator epoch', () => {
    const state = new ProducerStateManager();
    applyBatchesToState(state, txnBatch(1n, 0, 0, 1, 3), 0, undefined);
    applyBatchesToState(state, marker(1n, 1, true, 5, 3), 0, undefined);
    assert.equal(state.checkMarker(1n, 3, 5).kind, 'new');
    assert.equal(state.checkMarker(1n, 4, 6).kind, 'new'); // a fencing coordinator bumps the epoch
    const stale = state.checkMarker(1n, 2, 5);
    assert.ok(stale.kind === 'error' && stale.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH);
    const fenced = state.checkMarker(1n, 3, 4);
    assert.ok(fenced.kind === 'error' && fenced.errorCode === ErrorCode.TRANSACTION_COORDINATOR_FENCED);
    assert.equal(state.checkMarker(9n, 0, 0).kind, 'new');
  });

  void it('a marker without data completes nothing; open transactions are never expired or dropped', () => {
    const state = new ProducerStateManager();
    assert.deepEqual(applyBatchesToState(state, marker(4n, 0, false), 0, undefined).aborted, []);
    applyBatchesToState(state, txnBatch(5n, 1, 0), 0, undefined);
    state.removeBelow(100);
    assert.equal(state.removeExpired(10_000_000, 1000), 1); // producer 4 only
    assert.equal(state.firstUnstableOffset(), 1);
    assert.ok(state.entry(5n));
  });

  void it('snapshots keep the open transaction and the coordinator epoch; RPS1 files still load', async () => {
    const state = new ProducerStateManager();
    applyBatchesToState(
      state,
      Buffer.concat([txnBatch(1n, 0, 0), marker(1n, 1, true, 7), txnBatch(1n, 2, 1, 2)]),
      0,
      undefined,
    );
    const snap = decodeSnapshot(encodeSnapshot(4, state.entries()));
    assert.ok(snap);
    const loaded = new ProducerStateManager();
    for (const e of snap.entries) loaded.put(e);
    assert.equal(loaded.firstUnstableOffset(), 2);
    assert.equal(loaded.entry(1n)!.coordinatorEpoch, 7);
    assert.deepEqual(loaded.entry(1n)!.batches, state.entry(1n)!.batches);
    // An RPS1 snapshot (written before transactions): no txn fields.
    const v1 = Buffer.alloc(20);
    v1.write('RPS1', 0, 'latin1');
    v1.writeBigInt64BE(0n, 4);
    v1.writeInt32BE(0, 12);
    const { crc32c } = await import('@node-rs/crc32');
    v1.writeUInt32BE(crc32c(v1.subarray(0, 16)) >>> 0, 16);
    assert.deepEqual(decodeSnapshot(v1), { offset: 0, entries: [] });
  });
});

void describe('producer state: batches without a sequence', () => {
  void it("the coordinator's transactional offset commits (no sequence) pass at a new epoch, not at an old one", () => {
    const state = new ProducerStateManager();
    const batch = (epoch: number) => ({ producerId: 3n, producerEpoch: epoch, baseSequence: -1, lastOffsetDelta: 0 });
    state.apply(batch(1), 0, 1000);
    assert.equal(state.check(batch(3)).kind, 'new');
    const old = state.check(batch(0));
    assert.ok(old.kind === 'error' && old.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH);
  });
});
