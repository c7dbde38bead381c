/**
 * Leader appends without producer state are handed to the log before the appends ahead of
 * them are written (so the log can write them as one group); appends with a producer id
 * still wait for everything ahead to be written, and at most MAX_PIPELINED_APPENDS plain
 * appends are handed over at once. A log whose appends complete only when the test says so
 * shows what was handed over when.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AppendOutcome, MAX_PIPELINED_APPENDS, Partition } from '../../../src/broker/replica/partition.ts';
import { readBatchHeader } from '../../../src/protocol/records/batch-header.ts';
import { logConfig } from '../../../src/storage/config.ts';
import { MemoryLog } from '../../../src/storage/memory-log.ts';
import type { PartitionLog } from '../../../src/storage/partition-log.ts';
import { batch, ManualClock } from './helpers.ts';

const clock = new ManualClock();

/** A MemoryLog whose appends wait for release(); `handedOver` counts the append calls. */
function gatedLog(): { log: PartitionLog; handedOver: () => number; release: () => void } {
  const inner = new MemoryLog({ topic: 't', partition: 0, config: logConfig(), clock });
  let calls = 0;
  let open!: () => void;
  let gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const append: PartitionLog['append'] = (batches, options) => {
    calls++;
    return gate.then(() => inner.append(batches, options));
  };
  const log = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'append') return append;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as PartitionLog;
  return {
    log,
    handedOver: () => calls,
    release: () => {
      open();
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
  };
}

function leaderPartition(log: PartitionLog): Partition {
  const config = {
    log: logConfig(),
    maxMessageBytes: 1_048_588,
    minInsyncReplicas: 1,
    timestampBeforeMaxMs: Number.POSITIVE_INFINITY,
    timestampAfterMaxMs: Number.POSITIVE_INFINITY,
  };
  const p = new Partition(1, 't', 0, 'topic-id', log, config, clock);
  p.updateRole({ leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], partitionEpoch: 0 });
  return p;
}

function plain(p: Partition, value: string): Promise<AppendOutcome> {
  const buf = batch([{ value }]);
  return p.appendAsLeader(buf, [readBatchHeader(buf, 0)]);
}

function idempotent(p: Partition, seq: number): Promise<AppendOutcome> {
  const buf = batch([{ value: 'i' }], { producerId: 7n, producerEpoch: 0, baseSequence: seq });
  return p.appendAsLeader(buf, [readBatchHeader(buf, 0)]);
}

/** Lets every queued promise callback run (microtasks drain before an immediate). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

void describe('pipelined leader appends', () => {
  void it('hands plain appends over before the ones ahead are written; offsets stay in order', async () => {
    const g = gatedLog();
    const p = leaderPartition(g.log);
    const outcomes = [plain(p, 'a'), plain(p, 'b'), plain(p, 'c')];
    await settle();
    assert.equal(g.handedOver(), 3, 'all three handed to the log while none is written');
    g.release();
    const done = await Promise.all(outcomes);
    assert.deepEqual(
      done.map((o) => (o.kind === 'appended' ? o.baseOffset : o.kind)),
      [0, 1, 2],
    );
    assert.equal(p.highWatermark(), 3);
  });

  void it('an append with a producer id waits until everything ahead is written', async () => {
    const g = gatedLog();
    const p = leaderPartition(g.log);
    const first = plain(p, 'a');
    const withState = idempotent(p, 0);
    const after = plain(p, 'b');
    await settle();
    assert.equal(g.handedOver(), 1, 'the idempotent append (and what follows it) waits');
    g.release();
    assert.equal((await first).kind, 'appended');
    await settle();
    assert.equal(g.handedOver(), 2);
    g.release();
    const o = await withState;
    assert.equal(o.kind === 'appended' ? o.baseOffset : o.kind, 1);
    await settle();
    assert.equal(g.handedOver(), 3);
    g.release();
    const b = await after;
    assert.equal(b.kind === 'appended' ? b.baseOffset : b.kind, 2);
  });

  void it(`hands over at most ${MAX_PIPELINED_APPENDS} plain appends at once`, async () => {
    const g = gatedLog();
    const p = leaderPartition(g.log);
    const outcomes: Promise<AppendOutcome>[] = [];
    for (let i = 0; i < MAX_PIPELINED_APPENDS + 3; i++) outcomes.push(plain(p, `v${i}`));
    await settle();
    assert.equal(g.handedOver(), MAX_PIPELINED_APPENDS);
    // Released again whenever more were handed over, until all are written.
    while (g.handedOver() < outcomes.length) {
      g.release();
      await settle();
    }
    g.release();
    const done = await Promise.all(outcomes);
    assert.deepEqual(
      done.map((o) => (o.kind === 'appended' ? o.baseOffset : -1)),
      outcomes.map((_, i) => i),
    );
  });
});
