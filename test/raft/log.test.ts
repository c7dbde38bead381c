import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RaftLog } from '../../src/raft/log.ts';
import type { LogBatch } from '../../src/raft/types.ts';

function batch(baseOffset: number, epoch: number, n = 1): LogBatch {
  return {
    baseOffset,
    epoch,
    records: Array.from({ length: n }, (_, i) => Buffer.from(`${epoch}-${baseOffset + i}`)),
    control: false,
  };
}

void describe('RaftLog', () => {
  // Offsets: [0,2) e1, [2,3) e1, [3,6) e3, [6,7) e5
  const make = (): RaftLog => RaftLog.from(undefined, [batch(0, 1, 2), batch(2, 1), batch(3, 3, 3), batch(6, 5)]);

  void it('endOffsetForEpoch answers the largest epoch at or below and where it ends', () => {
    const log = make();
    assert.deepEqual(log.endOffsetForEpoch(1), { epoch: 1, endOffset: 3 });
    assert.deepEqual(log.endOffsetForEpoch(2), { epoch: 1, endOffset: 3 });
    assert.deepEqual(log.endOffsetForEpoch(3), { epoch: 3, endOffset: 6 });
    assert.deepEqual(log.endOffsetForEpoch(4), { epoch: 3, endOffset: 6 });
    assert.deepEqual(log.endOffsetForEpoch(5), { epoch: 5, endOffset: 7 });
    assert.deepEqual(log.endOffsetForEpoch(9), { epoch: 5, endOffset: 7 });
    assert.deepEqual(log.endOffsetForEpoch(0), { epoch: -1, endOffset: 0 });
  });

  void it('a snapshot stands for its epoch at the log start', () => {
    const log = make();
    log.installSnapshot({ endOffset: 3, epoch: 1 }, false);
    assert.equal(log.startOffset(), 3);
    assert.deepEqual(log.endOffsetForEpoch(2), { epoch: 1, endOffset: 3 });
    assert.deepEqual(log.endOffsetForEpoch(0), { epoch: -1, endOffset: 3 });
    assert.equal(log.batchesFrom(3, 10).length, 2);
    log.installSnapshot({ endOffset: 7, epoch: 5 }, true);
    assert.equal(log.endOffset(), 7);
    assert.equal(log.lastEpoch(), 5);
  });

  void it('truncates at batch boundaries and finds the boundary at or below an offset', () => {
    const log = make();
    assert.equal(log.boundaryAtOrBelow(4), 3);
    assert.equal(log.boundaryAtOrBelow(3), 3);
    assert.equal(log.boundaryAtOrBelow(1), 0);
    assert.equal(log.boundaryAtOrBelow(99), 7);
    assert.throws(() => log.truncateTo(4), /boundary/);
    log.truncateTo(3);
    assert.equal(log.endOffset(), 3);
    assert.equal(log.lastEpoch(), 1);
    assert.equal(log.dirtyFrom, 3);
    assert.throws(() => log.append(batch(4, 1)), /append at 4/);
    assert.throws(() => log.append(batch(3, 0)), /epoch 0 below 1/);
  });
});
