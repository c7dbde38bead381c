import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DelayedOperation, FetchPurgatory } from '../../../src/broker/fetch/purgatory.ts';
import { ManualClock } from '../../storage/helpers.ts';

function op(keys: string[], ready: () => boolean, log: string[], name: string): DelayedOperation {
  return { keys, tryComplete: ready, onComplete: (reason) => log.push(`${name}:${reason}`) };
}

void describe('fetch purgatory', () => {
  void it('completes a parked operation when its key is checked and it is satisfied', () => {
    const clock = new ManualClock();
    const p = new FetchPurgatory(clock);
    const log: string[] = [];
    let ready = false;
    assert.ok(
      p.park(
        op(['t-0', 't-1'], () => ready, log, 'a'),
        1000,
      ),
    );
    assert.equal(p.size, 1);
    assert.equal(p.checkAndComplete('t-1'), 0);
    ready = true;
    assert.equal(p.checkAndComplete('t-9'), 0);
    assert.equal(p.checkAndComplete('t-0'), 1);
    assert.deepEqual(log, ['a:satisfied']);
    assert.equal(p.size, 0);
    clock.advance(2000);
    assert.deepEqual(log, ['a:satisfied'], 'the timer was cancelled');
    assert.equal(p.checkAndComplete('t-1'), 0, 'removed from every key');
  });

  void it('expires on the clock, exactly once', () => {
    const clock = new ManualClock();
    const p = new FetchPurgatory(clock);
    const log: string[] = [];
    p.park(
      op(['k'], () => false, log, 'a'),
      500,
    );
    p.park(
      op(['k'], () => false, log, 'b'),
      1500,
    );
    clock.advance(499);
    assert.deepEqual(log, []);
    clock.advance(1);
    assert.deepEqual(log, ['a:expired']);
    p.checkAndComplete('k', true);
    assert.deepEqual(log, ['a:expired', 'b:forced']);
    clock.advance(5000);
    assert.equal(log.length, 2);
  });

  void it('is bounded: at the bound park() refuses', () => {
    const clock = new ManualClock();
    const p = new FetchPurgatory(clock, 2);
    const log: string[] = [];
    assert.ok(
      p.park(
        op(['k'], () => false, log, 'a'),
        100,
      ),
    );
    assert.ok(
      p.park(
        op(['k'], () => false, log, 'b'),
        100,
      ),
    );
    assert.equal(
      p.park(
        op(['k'], () => false, log, 'c'),
        100,
      ),
      false,
    );
    p.completeAll();
    assert.deepEqual(log.sort(), ['a:forced', 'b:forced']);
    assert.ok(
      p.park(
        op(['k'], () => false, log, 'd'),
        100,
      ),
    );
  });

  void it('expires by deadline whatever the order of parking, with one clock timer at a time', () => {
    const clock = new ManualClock();
    let scheduled = 0;
    let live = 0;
    const counting = {
      nowMs: () => clock.nowMs(),
      monotonicMs: () => clock.monotonicMs(),
      schedule(delayMs: number, fn: () => void) {
        scheduled++;
        live++;
        let done = false;
        const cancel = clock.schedule(delayMs, () => {
          done = true;
          live--;
          fn();
        });
        return () => {
          if (!done) {
            done = true;
            live--;
            cancel();
          }
        };
      },
    };
    const p = new FetchPurgatory(counting);
    const log: string[] = [];
    p.park(
      op(['k'], () => false, log, 'slow'),
      900,
    );
    p.park(
      op(['k'], () => false, log, 'fast'),
      100,
    );
    p.park(
      op(['k'], () => false, log, 'mid'),
      500,
    );
    assert.equal(live, 1, 'one timer, for the earliest deadline');
    clock.advance(100);
    assert.deepEqual(log, ['fast:expired']);
    clock.advance(400);
    assert.deepEqual(log, ['fast:expired', 'mid:expired']);
    clock.advance(399);
    assert.equal(log.length, 2);
    clock.advance(1);
    assert.deepEqual(log, ['fast:expired', 'mid:expired', 'slow:expired']);
    assert.equal(p.size, 0);

    // A consumer at the tail: park, be woken, park again, a thousand times.
    scheduled = 0;
    let ready = false;
    for (let i = 0; i < 1000; i++) {
      ready = false;
      assert.ok(
        p.park(
          op(['t-0'], () => ready, log, `w${i}`),
          500,
        ),
      );
      ready = true;
      assert.equal(p.checkAndComplete('t-0'), 1);
      clock.advance(1);
    }
    assert.ok(scheduled <= 4, `timers scheduled for 1000 parks: ${scheduled}`);
    assert.equal(log.filter((l) => l.endsWith(':satisfied')).length, 1000);
    assert.equal(live <= 1, true);

    // The one left waiting still expires on time, after all those completed early.
    p.park(
      op(['t-0'], () => false, log, 'last'),
      500,
    );
    clock.advance(499);
    assert.equal(log.at(-1), 'w999:satisfied');
    clock.advance(1);
    assert.equal(log.at(-1), 'last:expired');
    p.completeAll();
    assert.equal(live, 0, 'completeAll cancels the timer');
  });

  void it('keeps its deadline heap bounded while fetches complete early', () => {
    const clock = new ManualClock();
    const p = new FetchPurgatory(clock);
    const log: string[] = [];
    const parked: { ready: boolean }[] = [];
    // 10 fetches always waiting (long timeouts), 10,000 completing early around them.
    for (let i = 0; i < 10; i++)
      p.park(
        op([`s-${i}`], () => false, log, `s${i}`),
        60_000,
      );
    for (let i = 0; i < 10_000; i++) {
      const state = { ready: false };
      parked.push(state);
      p.park(
        op(['k'], () => state.ready, log, `e${i}`),
        30_000,
      );
      state.ready = true;
      p.checkAndComplete('k');
    }
    const heap = (p as unknown as { heap: unknown[] }).heap;
    assert.ok(heap.length <= 2 * 10 + 64 + 1, `heap holds ${heap.length}`);
    assert.equal(p.size, 10);
    clock.advance(60_000);
    assert.equal(log.filter((l) => l.endsWith(':expired')).length, 10);
  });
});
