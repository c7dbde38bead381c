/**
 * The runtime on its own: operations of a shard run one at a time in order, the response
 * waits for the append, a failed append changes nothing, loading answers
 * COORDINATOR_LOAD_IN_PROGRESS, unloading answers parked requests and later ones with
 * NOT_COORDINATOR, timers run as operations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCoordinatorLog } from '../../src/coordinator/runtime/memory-log.ts';
import {
  CoordinatorRuntime,
  type CoordinatorShard,
  type LogAppendOutcome,
  type RecordSerde,
  type SerializedRecord,
  type ShardContext,
} from '../../src/coordinator/runtime/runtime.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { harness, TestClock } from './helpers.ts';

/** A counter: records are increments. */
class Counter implements CoordinatorShard<number> {
  value = 0;
  unloaded = false;
  constructor(readonly ctx: ShardContext<Counter, number>) {}
  replay(record: number): void {
    this.value += record;
  }
  onUnloaded(): void {
    this.unloaded = true;
  }
}

const serde: RecordSerde<number> = {
  serialize: (n) => ({ key: Buffer.from('k'), value: Buffer.from(String(n)) }),
  deserialize: (r: SerializedRecord) => Number(r.value!.toString()),
};

class SlowLog extends MemoryCoordinatorLog {
  gate: Promise<void> = Promise.resolve();
  override async append(partition: number, records: readonly SerializedRecord[]): Promise<LogAppendOutcome> {
    await this.gate;
    return super.append(partition, records);
  }
  override async readAll(partition: number, onRecord: (r: SerializedRecord, o: number) => void): Promise<void> {
    await this.gate;
    return super.readAll(partition, onRecord);
  }
}

function runtime(log: MemoryCoordinatorLog, clock = new TestClock()) {
  return new CoordinatorRuntime<Counter, number>({ clock, log, serde, newShard: (ctx) => new Counter(ctx) });
}

void describe('coordinator runtime', () => {
  void it('answers after the append, in order, each op seeing the ones before', async () => {
    const log = new SlowLog();
    const rt = runtime(log);
    await rt.load(0);
    let open!: () => void;
    log.gate = new Promise((r) => {
      open = r;
    });
    const seen: number[] = [];
    const ops = [1, 2, 3].map((n) =>
      rt.write(0, (s) => {
        seen.push(s.value);
        return { records: [n], response: n };
      }),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [0], 'the second op waits for the first append');
    open();
    const out = await Promise.all(ops);
    assert.deepEqual(
      out.map((o) => o.value),
      [1, 2, 3],
    );
    assert.deepEqual(seen, [0, 1, 3]);
    const read = await rt.read(0, (s) => s.value);
    assert.equal(read.value, 6);
  });

  void it('a failed append leaves the state as it was', async () => {
    const log = new MemoryCoordinatorLog();
    const rt = runtime(log);
    await rt.load(0);
    log.failAppendsWith = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    const failed = await rt.write(0, () => ({ records: [5], response: 'x' }));
    assert.equal(failed.errorCode, ErrorCode.NOT_COORDINATOR);
    log.failAppendsWith = undefined;
    assert.equal((await rt.read(0, (s) => s.value)).value, 0);
  });

  void it('loading answers COORDINATOR_LOAD_IN_PROGRESS; unknown shards NOT_COORDINATOR; reload replays', async () => {
    const log = new SlowLog();
    const rt = runtime(log);
    await rt.load(0);
    await rt.write(0, () => ({ records: [4, 5], response: null }));
    await rt.unload(0);
    assert.equal((await rt.read(0, (s) => s.value)).errorCode, ErrorCode.NOT_COORDINATOR);
    let open!: () => void;
    log.gate = new Promise((r) => {
      open = r;
    });
    const loading = rt.load(0);
    assert.equal((await rt.read(0, (s) => s.value)).errorCode, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    open();
    await loading;
    assert.equal((await rt.read(0, (s) => s.value)).value, 9);
  });

  void it('timers run as operations on the clock, and stop with the shard', async () => {
    const clock = new TestClock();
    const rt = runtime(new MemoryCoordinatorLog(), clock);
    await rt.load(0);
    await rt.read(0, (s) => s.ctx.schedule('t', 1000, () => ({ records: [10], response: null })));
    await clock.advance(999);
    assert.equal((await rt.read(0, (s) => s.value)).value, 0);
    await clock.advance(1);
    assert.equal((await rt.read(0, (s) => s.value)).value, 10);
    await rt.read(0, (s) => s.ctx.schedule('t', 1000, () => ({ records: [10], response: null })));
    await rt.unload(0);
    await clock.advance(5000);
    await rt.load(0);
    assert.equal((await rt.read(0, (s) => s.value)).value, 10);
  });

  void it('unloading a group shard answers parked JoinGroups with NOT_COORDINATOR', async () => {
    const h = await harness({ initialRebalanceDelayMs: 3000 });
    const c = h.coordinator;
    const parked = c.joinGroup({
      groupId: 'g',
      memberId: '',
      groupInstanceId: null,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
      clientId: 'c',
      clientHost: 'h',
      apiVersion: 3,
    });
    await new Promise((r) => setImmediate(r));
    await c.runtime.unload(c.partitionFor('g'));
    assert.equal((await parked).errorCode, ErrorCode.NOT_COORDINATOR);
    assert.equal(await c.heartbeat('g', 'x', null, 1), ErrorCode.NOT_COORDINATOR);
  });
});
