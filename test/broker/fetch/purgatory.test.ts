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
});
