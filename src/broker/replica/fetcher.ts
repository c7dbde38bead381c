/**
 * Replica fetchers: one per source broker (num.replica.fetchers = 1), each a long-poll
 * Fetch loop over one connection to that broker, for every partition this node follows
 * there. What to ask and what to do with the answer is the replication core's
 * (src/replication/follower.ts, fetch-request.ts); this file is the I/O around it.
 *
 * Bounded: one request in flight per fetcher, partition and response byte limits from
 * replica.fetch.max.bytes / replica.fetch.response.max.bytes; a failed request (connection
 * lost, timeout) drops the connection and backs off replica.fetch.backoff.ms. Waiting
 * (nothing ready, backoff) goes through the injected Clock. stop() ends the loop after
 * the request in flight; abandon() drops the connection at once.
 */

import { BrokerConnection } from '../../client/connection.ts';
import type { Clock } from '../../env/clock.ts';
import { ZERO_UUID } from '../../protocol/codec/uuid.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { FetchRequest } from '../../protocol/generated/fetch-request.ts';
import type { FetchResponse } from '../../protocol/generated/fetch-response.ts';
import { buildReplicaFetch, followerKey, type ReplicaFetchSettings } from '../../replication/fetch-request.ts';
import type { Partition } from './partition.ts';

export interface FetcherOptions {
  nodeId: number;
  clock: Clock;
  settings: ReplicaFetchSettings & { backoffMs: number };
  /** The broker epoch this node registered with (-1 when unknown). */
  brokerEpoch: () => number;
  /** Host and port of a broker on the inter-broker listener, or undefined. */
  endpointOf: (brokerId: number) => { host: string; port: number } | undefined;
  requestTimeoutMs: number;
  /** Called when a follower partition's high watermark or log moved (wake consumers). */
  onProgress: (partition: Partition) => void;
  onError?: (err: unknown, task: string) => void;
  /** Sends the Fetch some other way than a TCP connection (in-process tests, the simulator). */
  transport?: (sourceId: number, request: FetchRequest, version: number) => Promise<FetchResponse>;
}

/**
 * Fetch versions the fetchers write: 15 (topic ids, ReplicaState with the broker epoch,
 * KIP-903) when every partition's topic id is known, else 12 (topic names); both carry
 * LastFetchedEpoch and CurrentLeaderEpoch.
 */
export const REPLICA_FETCH_VERSION = 15;
export const REPLICA_FETCH_VERSION_BY_NAME = 12;

export class ReplicaFetcher {
  private readonly partitions = new Map<string, Partition>();
  private connection: BrokerConnection | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    readonly sourceId: number,
    private readonly options: FetcherOptions,
  ) {}

  get size(): number {
    return this.partitions.size;
  }

  add(partition: Partition): void {
    this.partitions.set(followerKey(partition.topic, partition.partition), partition);
    this.loop ??= this.run().catch((err: unknown) => this.options.onError?.(err, `fetcher ${this.sourceId}`));
    this.wake?.();
  }

  remove(partition: Partition): void {
    this.partitions.delete(followerKey(partition.topic, partition.partition));
  }

  /** Ends the loop after the request in flight (clean close). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.connection?.close();
    await this.loop;
  }

  /** Drops the connection now (crash). */
  abandon(): void {
    this.stopped = true;
    this.wake?.();
    this.connection?.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const cancel = this.options.clock.schedule(Math.max(1, ms), () => {
        this.wake = undefined;
        resolve();
      });
      this.wake = () => {
        cancel();
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const { clock, settings } = this.options;
    while (!this.stopped) {
      if (this.partitions.size === 0) {
        // Nothing followed on this broker any more: no connection held open while idle.
        this.connection?.close();
        this.connection = undefined;
        await this.sleep(settings.backoffMs);
        continue;
      }
      const now = clock.monotonicMs();
      const built = buildReplicaFetch(
        [...this.partitions.values()].flatMap((p) => (p.followerState === undefined ? [] : [p.followerState])),
        { replicaId: this.options.nodeId, brokerEpoch: this.options.brokerEpoch() },
        settings,
        now,
      );
      if (built === undefined) {
        let next = now + settings.backoffMs;
        for (const p of this.partitions.values()) {
          const f = p.followerState;
          if (f?.state === 'delayed') next = Math.min(next, f.readyAtMs);
        }
        await this.sleep(next - now);
        continue;
      }
      const byId = built.request.topics.every((t) => t.topicId !== '' && t.topicId !== ZERO_UUID);
      const version = byId ? REPLICA_FETCH_VERSION : REPLICA_FETCH_VERSION_BY_NAME;
      const names = new Map(built.request.topics.map((t) => [t.topicId, t.topic]));
      let response: FetchResponse;
      try {
        const transport = this.options.transport;
        if (transport !== undefined) response = await transport(this.sourceId, built.request, version);
        else {
          const conn = await this.connect();
          response = await conn.request(ApiKey.Fetch, built.request, {
            version,
            timeoutMs: this.options.requestTimeoutMs + settings.waitMaxMs,
          });
        }
      } catch {
        if (this.stopped) return;
        this.connection?.close();
        this.connection = undefined;
        const failedAt = clock.monotonicMs();
        for (const p of this.partitions.values()) p.followerState?.onFetchFailed(failedAt);
        await this.sleep(settings.backoffMs);
        continue;
      }
      if (this.stopped) return;
      let backoff = response.errorCode !== 0;
      // The leader epoch each partition was fetched with (metadata may have moved on since).
      const fetchedEpochs = new Map<string, number>();
      for (const t of built.request.topics) {
        for (const p of t.partitions) fetchedEpochs.set(followerKey(t.topic, p.partition), p.currentLeaderEpoch);
      }
      // The partitions of one answer are applied side by side: each goes through its own
      // partition's queue (appends of one partition stay in order), so their log writes
      // overlap rather than wait for one another, and the next Fetch (which tells the leader
      // how far this replica got) leaves once the slowest partition is written.
      const applied: Promise<void>[] = [];
      for (const t of response.responses) {
        const topic = byId ? names.get(t.topicId) : t.topic;
        if (topic === undefined) continue;
        for (const data of t.partitions) {
          const k = followerKey(topic, data.partitionIndex);
          const partition = this.partitions.get(k);
          const follower = partition?.followerState;
          const fetchedOffset = built.fetchOffsets.get(k);
          if (partition === undefined || follower === undefined || fetchedOffset === undefined) continue;
          applied.push(
            partition
              .applyFollowerFetch(data, fetchedOffset, clock.monotonicMs(), fetchedEpochs.get(k))
              .then((outcome) => {
                if (
                  outcome.kind === 'appended' ||
                  outcome.kind === 'truncated' ||
                  ('highWatermarkMoved' in outcome && outcome.highWatermarkMoved)
                ) {
                  this.options.onProgress(partition);
                }
              })
              .catch((err: unknown) => {
                this.options.onError?.(err, `follower ${k}`);
                follower.onFetchFailed(clock.monotonicMs());
                backoff = true;
              }),
          );
        }
      }
      await Promise.all(applied);
      if (backoff) await this.sleep(settings.backoffMs);
    }
  }

  private async connect(): Promise<BrokerConnection> {
    const existing = this.connection;
    if (existing !== undefined && !existing.isClosed) {
      await existing.connect();
      return existing;
    }
    const endpoint = this.options.endpointOf(this.sourceId);
    if (endpoint === undefined) throw new Error(`no endpoint for broker ${this.sourceId}`);
    const conn = new BrokerConnection({
      host: endpoint.host,
      port: endpoint.port,
      clientId: `runnel-replica-fetcher-${this.options.nodeId}`,
      requestTimeoutMs: this.options.requestTimeoutMs + this.options.settings.waitMaxMs,
      maxInFlight: 1,
      connectTimeoutMs: 10_000,
      clock: this.options.clock,
      nodeId: this.sourceId,
    });
    this.connection = conn;
    await conn.connect();
    return conn;
  }
}
