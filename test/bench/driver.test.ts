/**
 * The workload driver against an in-memory target: every phase yields its figures, records are
 * counted once, and a failing target gives notes instead of figures. Runs for about a second.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWorkload, type WorkloadOptions, workloadOptions } from '../../bench/workload/driver.ts';
import type { ConsumerHandle, WorkloadTarget } from '../../bench/workload/target.ts';

/** Partitions as arrays; consumers poll them every millisecond from the start. */
class MemoryTarget implements WorkloadTarget {
  readonly name = 'memory';
  readonly topics = new Map<string, Buffer[][]>();
  produced = 0;
  failProduce = false;

  async connect(): Promise<void> {}
  async createTopic(topic: string, partitions: number): Promise<void> {
    this.topics.set(
      topic,
      Array.from({ length: partitions }, () => []),
    );
  }
  async deleteTopic(topic: string): Promise<void> {
    this.topics.delete(topic);
  }
  async produce(topic: string, partition: number, values: readonly Buffer[]): Promise<void> {
    if (this.failProduce) throw new Error('broker on fire');
    this.topics.get(topic)![partition]!.push(...values);
    this.produced += values.length;
  }
  async consume(
    topic: string,
    partitions: number,
    onRecords: (values: readonly Buffer[]) => void,
  ): Promise<ConsumerHandle> {
    const logs = this.topics.get(topic)!;
    const positions = Array.from({ length: partitions }, () => 0);
    const timer = setInterval(() => {
      logs.forEach((log, p) => {
        if (positions[p]! < log.length) {
          onRecords(log.slice(positions[p]));
          positions[p] = log.length;
        }
      });
    }, 1);
    return {
      async stop() {
        clearInterval(timer);
      },
    };
  }
  async close(): Promise<void> {}
}

const options: WorkloadOptions = {
  ...workloadOptions(true, 5),
  partitions: 4,
  maxRateSeconds: 0.2,
  maxRateBytes: 8 << 20,
  warmupSeconds: 0.2,
  fixedRateSeconds: 0.3,
  drainTimeoutMs: 2000,
};

const labels = { section: 'test', source: 'memory', kind: 'peer' as const };

void describe('workload driver', () => {
  void it('measures every phase of a working target', async () => {
    const target = new MemoryTarget();
    const figures = await runWorkload(target, options, labels);
    const value = (metric: string) => figures.find((f) => f.metric === metric)?.value;
    for (const f of figures) assert.equal(f.note, undefined, `${f.metric}: ${f.note}`);
    assert.ok(value('produce-MBps')! > 0);
    assert.ok(value('consume-rps')! > 0);
    // 5 MB/s of 1 KB records for 0.3 s is about 1465 records, all sent; the rate is counted over
    // the run or until the last acknowledgement, so a stalled machine can only lower it.
    const rate = value('e2e-rate-MBps')!;
    assert.ok(rate > 2.5 && rate < 5.5, `rate ${rate}`);
    assert.ok(value('e2e-p50-ms')! >= 0 && value('e2e-p50-ms')! <= value('e2e-p99-ms')!);
    assert.ok(value('e2e-p99-ms')! <= value('e2e-max-ms')!);
    // Topics are deleted after use.
    assert.equal(target.topics.size, 0);
  });

  void it('reports a failing target in notes and still runs the later phases', async () => {
    const target = new MemoryTarget();
    target.failProduce = true;
    const figures = await runWorkload(target, options, labels);
    const produce = figures.find((f) => f.metric === 'produce-MBps')!;
    assert.equal(produce.value, null);
    assert.match(produce.note ?? '', /failed \(max-rate produce\): broker on fire/);
    const p99 = figures.find((f) => f.metric === 'e2e-p99-ms')!;
    assert.equal(p99.value, null);
    assert.match(p99.note ?? '', /failed \(fixed rate\)/);
  });
});
