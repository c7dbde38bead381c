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
  type PipelinedAppendOutcome,
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

/**
 * A log with two-phase appends: records land at once, commits wait until the test calls
 * commitUpTo (like a high watermark) or failUncommitted (the uncommitted tail is truncated,
 * as when a leader loses its unreplicated records). Loading reads the committed records.
 */
class PipelinedLog extends MemoryCoordinatorLog {
  committedEnd = 0;
  private waiters: { lastOffset: number; resolve: (code: number) => void }[] = [];
  appendPipelined(partition: number, records: readonly SerializedRecord[]): Promise<PipelinedAppendOutcome> {
    return super.append(partition, records).then((o) => {
      if (o.errorCode !== 0) return { errorCode: o.errorCode };
      const lastOffset = o.lastOffset!;
      const committed = new Promise<number>((resolve) => {
        this.waiters.push({ lastOffset, resolve });
      });
      return { errorCode: 0, lastOffset, committed };
    });
  }
  commitUpTo(end: number): void {
    this.committedEnd = end;
    const done = this.waiters.filter((w) => w.lastOffset < end);
    this.waiters = this.waiters.filter((w) => w.lastOffset >= end);
    for (const w of done) w.resolve(ErrorCode.NONE);
  }
  failUncommitted(partition: number): void {
    this.partitions.get(partition)?.splice(this.committedEnd);
    const failed = this.waiters;
    this.waiters = [];
    for (const w of failed) w.resolve(ErrorCode.REQUEST_TIMED_OUT);
  }
  pending(): number {
    return this.waiters.length;
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

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

  void it('pipelines: later operations run before earlier commits; responses come in order after commit', async () => {
    const log = new PipelinedLog();
    const rt = runtime(log);
    await rt.load(0);
    const seen: number[] = [];
    const answered: number[] = [];
    const appended: number[] = [];
    const ops = [1, 2, 3].map((n) =>
      rt
        .write(0, (s) => {
          seen.push(s.value);
          return { records: [n], response: n, onAppended: (code) => code === 0 && appended.push(n) };
        })
        .then((o) => {
          answered.push(o.value!);
          return o;
        }),
    );
    // A write without records waits for the earlier commits; a read does not.
    const noRecords = rt
      .write(0, (s) => ({ records: [], response: s.value }))
      .then((o) => {
        answered.push(100 + o.value!);
      });
    const read = await rt.read(0, (s) => s.value);
    assert.equal(read.value, 6, 'the read sees the uncommitted writes without waiting');
    assert.deepEqual(seen, [0, 1, 3], 'each op ran on the state of the earlier ones, before any commit');
    assert.equal(log.pending(), 3);
    assert.deepEqual(answered, []);
    log.commitUpTo(2); // offsets 0 and 1: ops 1 and 2
    for (let i = 0; i < 5; i++) await tick();
    assert.deepEqual(answered, [1, 2]);
    assert.deepEqual(appended, [1, 2], 'onAppended runs once committed');
    log.commitUpTo(3);
    await Promise.all([...ops, noRecords]);
    assert.deepEqual(answered, [1, 2, 3, 106]);
    assert.deepEqual(appended, [1, 2, 3]);
  });

  void it('a failed commit fails the pending operations and reloads the committed state', async () => {
    const log = new PipelinedLog();
    const errors: unknown[] = [];
    const rt = new CoordinatorRuntime<Counter, number>({
      clock: new TestClock(),
      log,
      serde,
      newShard: (ctx) => new Counter(ctx),
      onError: (e) => errors.push(e),
    });
    await rt.load(0);
    const first = rt.write(0, () => ({ records: [1], response: 'a' }));
    await tick();
    log.commitUpTo(1);
    assert.equal((await first).errorCode, 0);
    const failedCodes: number[] = [];
    const pending = [10, 20].map((n) =>
      rt.write(0, () => ({ records: [n], response: n, onAppended: (code) => failedCodes.push(code) })),
    );
    assert.equal((await rt.read(0, (s) => s.value)).value, 31, 'uncommitted writes are in the state');
    log.failUncommitted(0);
    const out = await Promise.all(pending);
    for (const o of out) assert.notEqual(o.errorCode, 0);
    assert.equal(out[0]!.errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE, 'a commit timeout');
    assert.equal(out[1]!.errorCode, ErrorCode.NOT_COORDINATOR, 'behind a failed one');
    assert.equal(failedCodes.length, 2);
    // The shard reloads from the log: only the committed record remains.
    let value: number | undefined;
    for (let i = 0; i < 50 && value === undefined; i++) {
      const r = await rt.read(0, (s) => s.value);
      if (r.errorCode === 0) value = r.value;
      else await tick();
    }
    assert.equal(value, 1);
    assert.deepEqual(errors, []);
    // And it keeps working.
    const again = rt.write(0, () => ({ records: [5], response: 'b' }));
    await tick();
    log.commitUpTo(2);
    assert.equal((await again).errorCode, 0);
    assert.equal((await rt.read(0, (s) => s.value)).value, 6);
  });

  void it('an unload while writes are uncommitted answers them NOT_COORDINATOR and does not reload', async () => {
    const log = new PipelinedLog();
    const rt = runtime(log);
    await rt.load(0);
    const pending = rt.write(0, () => ({ records: [7], response: 'x' }));
    await tick();
    await rt.unload(0);
    log.commitUpTo(1);
    assert.equal((await pending).errorCode, ErrorCode.NOT_COORDINATOR);
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(rt.status(0), 'absent');
  });
});
