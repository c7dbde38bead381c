/**
 * One side of the fixed-rate latency phase, in a process of its own (forked by driver.ts with
 * an IPC channel), so that the producer and the consumer do not share an event loop or a heap:
 *
 *   node --import tsx bench/workload/latency-child.ts producer|consumer '<LatencyChildArgs as JSON>'
 *
 * Both read the machine's monotonic clock (process.hrtime, CLOCK_MONOTONIC: one clock for
 * every process), so the due time the producer writes into a record and the arrival time the
 * consumer reads are comparable.
 *
 * Messages (parent <-> child):
 * - consumer: -> ready (consuming); -> probe (the first probe record arrived);
 *   <- measure-from { micros }; <- finish { expected, timeoutMs, stallMs }; -> result { histogram, received }
 * - producer: -> ready (connected); <- probe (send probes until go); <- go;
 *   -> measure-from { micros }; -> done { measuredSent, achievedMBps }
 * - either: -> error { message } when something failed; it then exits with code 1.
 * A child exits when its work is done, when the channel to the parent closes, or after
 * LIFETIME_MS at most.
 */
import { type ChildMessage, withTimeout } from '../harness/process.ts';
import { Payloads, PROBE_DUE_MICROS, type WorkloadOptions } from './driver.ts';
import { LatencyRecorder, produceAtFixedRate } from './fixed-rate.ts';
import type { TargetSpec, WorkloadTarget } from './target.ts';
import { makeTarget } from './targets.ts';

export interface LatencyChildArgs {
  readonly spec: TargetSpec;
  readonly topic: string;
  readonly options: WorkloadOptions;
}

const LIFETIME_MS = 15 * 60_000;

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve();
      return;
    }
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Messages from the parent, waited for by type. */
class Inbox {
  private readonly messages: ChildMessage[] = [];
  private readonly waiters = new Set<() => void>();
  constructor() {
    process.on('message', (message: ChildMessage) => {
      if (this.messages.length < 1000) this.messages.push(message);
      for (const waiter of this.waiters) waiter();
      this.waiters.clear();
    });
  }
  async next(type: string, timeoutMs: number): Promise<ChildMessage> {
    const found = async (): Promise<ChildMessage> => {
      for (;;) {
        const index = this.messages.findIndex((m) => m.type === type);
        if (index >= 0) return this.messages.splice(index, 1)[0]!;
        await new Promise<void>((resolve) => this.waiters.add(resolve));
      }
    };
    return await withTimeout(found(), timeoutMs, `waiting for "${type}" from the parent`);
  }
}

async function runConsumer(target: WorkloadTarget, args: LatencyChildArgs, inbox: Inbox): Promise<void> {
  const recorder = new LatencyRecorder(() => void send({ type: 'probe' }));
  const consumer = await withTimeout(
    target.consume(args.topic, args.options.partitions, (values) => recorder.add(values)),
    30_000,
    `${target.name}: consumer start`,
  );
  try {
    await send({ type: 'ready' });
    const from = await inbox.next('measure-from', 5 * 60_000);
    recorder.measureFromMicros = from.micros as number;
    const finish = await inbox.next('finish', 10 * 60_000);
    await recorder.waitFor(finish.expected as number, finish.timeoutMs as number, finish.stallMs as number);
  } finally {
    await withTimeout(consumer.stop(), 15_000, 'consumer stop').catch(() => undefined);
  }
  await send({ type: 'result', histogram: recorder.histogram.toJSON(), received: recorder.received });
}

async function runProducer(target: WorkloadTarget, args: LatencyChildArgs, inbox: Inbox): Promise<void> {
  const { options, topic } = args;
  const payloads = new Payloads(options.recordBytes);
  await send({ type: 'ready' });
  await inbox.next('probe', 5 * 60_000);
  // Probe until the parent says one came back through the consumer, so the warm-up starts on a live path.
  for (let go = false; !go; ) {
    await withTimeout(target.produce(topic, 0, [payloads.make(PROBE_DUE_MICROS)]), 10_000, `${target.name}: probe`);
    go = await inbox.next('go', 500).then(
      () => true,
      () => false,
    );
  }
  const sent = await produceAtFixedRate(target, topic, options, payloads, (micros) =>
    send({ type: 'measure-from', micros }),
  );
  await send({ type: 'done', ...sent });
}

async function main(): Promise<void> {
  const [role, json] = process.argv.slice(2);
  if ((role !== 'producer' && role !== 'consumer') || json === undefined) {
    throw new Error('usage: latency-child.ts producer|consumer <args JSON>');
  }
  const args = JSON.parse(json) as LatencyChildArgs;
  const inbox = new Inbox();
  const target = makeTarget(args.spec);
  try {
    await withTimeout(target.connect(), 30_000, `${target.name}: connect`);
    if (role === 'consumer') await runConsumer(target, args, inbox);
    else await runProducer(target, args, inbox);
  } finally {
    await withTimeout(target.close(), 15_000, `${target.name}: close`).catch(() => undefined);
  }
}

process.on('disconnect', () => process.exit(2));
setTimeout(() => process.exit(3), LIFETIME_MS).unref();
main().then(
  () => process.exit(0),
  async (error: unknown) => {
    await send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
