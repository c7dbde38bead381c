/** Small helpers shared by the producer, consumer and admin. Time always comes from a Clock. */
import type { Clock } from '../env/clock.ts';
import type { OffsetCommitRequestTopic } from '../protocol/generated/offset-commit-request.ts';
import { KafkaAbortError } from './errors.ts';

/** Resolves after `ms` on `clock`; rejects with KafkaAbortError when `signal` aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new KafkaAbortError());
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(new KafkaAbortError());
    };
    const cancel = clock.schedule(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** `host:port` -> parts. IPv6 literals in brackets are accepted. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s.trim());
  if (m === null) throw new RangeError(`bootstrap server "${s}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Key of a topic-partition in maps. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Groups offsets to commit by topic, as OffsetCommit carries them. */
export function offsetCommitTopics(
  offsets: readonly { topic: string; partition: number; offset: number; metadata?: string }[],
): OffsetCommitRequestTopic[] {
  const topics = new Map<string, OffsetCommitRequestTopic>();
  for (const o of offsets) {
    let t = topics.get(o.topic);
    if (t === undefined) {
      t = { name: o.topic, partitions: [] };
      topics.set(o.topic, t);
    }
    t.partitions.push({
      partitionIndex: o.partition,
      committedOffset: BigInt(o.offset),
      committedLeaderEpoch: -1,
      commitTimestamp: -1n,
      committedMetadata: o.metadata ?? '',
    });
  }
  return [...topics.values()];
}
