/**
 * One broker of the cluster simulation: the REAL replication core (src/replication:
 * LeaderState, serveFollowerFetch, FollowerState, buildReplicaFetch) over REAL partition
 * logs (FileLog on this broker's own memoryDisk, so a power loss drops what was not
 * flushed), driven the way the broker's replica manager drives it:
 *
 * - lifecycle: register with the controller (a new incarnation per life), heartbeat, and
 *   fetch the metadata log. With a controller quorum, requests go to the controller the
 *   broker believes active: it follows the leader hints of metadata fetch answers (a newer
 *   epoch wins) and moves to the next controller on NOT_CONTROLLER or when its heartbeats
 *   go unanswered; the image is rebuilt by replay, and partitions are reconciled
 *   (become leader / follower / neither) only once the broker caught up with the log end
 *   it was told about, as a Kafka broker waits for its initial catch-up;
 * - leader: appends acks=-1 produce batches, parks them until the high watermark passes
 *   (checkEnoughReplicasReachOffset), serves follower fetches, shrinks the ISR every
 *   replica.lag.time.max.ms / 2 and sends AlterPartition, one in flight per partition;
 * - follower: one Fetch in flight per leader (with a timeout), the next one at once after
 *   data moved, else on the next tick (a stand-in for the leader's long poll);
 * - disk: logs are flushed every flushIntervalMs (the OS writing back its page cache) and
 *   the high watermarks checkpointed (Kafka's replication-offset-checkpoint); a restart
 *   recovers the logs from the disk and starts from the checkpointed high watermarks.
 *
 * Every handler runs to completion inside one scheduler event (awaited), so nothing
 * interleaves; events of an older life (before a crash) are ignored by generation.
 */

import { StorageError } from '../env/disk.ts';
import type { MemoryDisk } from '../env/disk-memory.ts';
import { memoryDisk } from '../env/disk-memory.ts';
import type { Random } from '../env/random.ts';
import { emptyImage, type MetadataImage } from '../metadata/image.ts';
import { replay } from '../metadata/replay.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { FetchResponsePartitionData } from '../protocol/generated/fetch-response.ts';
import { buildReplicaFetch, REPLICA_FETCH_DEFAULTS } from '../replication/fetch-request.ts';
import { type FollowerOutcome, FollowerState } from '../replication/follower.ts';
import { LeaderState, serveFollowerFetch } from '../replication/leader.ts';
import { logConfig } from '../storage/config.ts';
import { FileLog } from '../storage/file-log.ts';
import type { ClusterMessage, MessageOf } from './cluster-messages.ts';
import { CONTROLLER_ID } from './cluster-messages.ts';
import type { Scheduler } from './scheduler.ts';

export const EVENT_BROKER_TICK = 21;
export const EVENT_BROKER_SLOW = 22;

/** Deliberate bugs the checker must catch (tests prove it does). */
export type PlantedBug = 'none' | 'hw-is-leo' | 'ack-before-isr';

/** A leader's verdict on a batch before appending it (transactions: cluster-txn.ts). */
export type LeaderAppendCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number; lastOffset: number }
  | { kind: 'error'; errorCode: number };

/** Producer state kept beside the logs (cluster-txn.ts): checked before leader appends, told of every log change. */
export interface BrokerTxnHooks {
  beforeLeaderAppend(broker: SimBroker, pid: number, batch: Buffer): Promise<LeaderAppendCheck>;
  logChanged(broker: SimBroker, pid: number, truncated: boolean): Promise<void>;
}

export interface BrokerSettings {
  clusterId: string;
  topic: string;
  topicId: string;
  partitions: number;
  tickMs: number;
  heartbeatIntervalMs: number;
  replicaLagTimeMaxMs: number;
  minInsyncReplicas: number;
  /** Answer an acks=-1 produce with REQUEST_TIMED_OUT after this long. */
  produceTimeoutMs: number;
  /** A request without an answer for this long may be sent again. */
  requestTimeoutMs: number;
  replicaFetchBackoffMs: number;
  /** replica.fetch.max.bytes (small values make a follower catch up over several fetches). */
  replicaFetchMaxBytes: number;
  bug: PlantedBug;
  /** The controller node ids (one, or the voters of the controller quorum). */
  controllerIds?: readonly number[];
}

interface ProduceWaiter {
  requiredOffset: number;
  baseOffset: number;
  client: number;
  correlationId: number;
  deadlineMs: number;
}

interface FetchInFlight {
  correlationId: number;
  sentAtMs: number;
  fetchOffsets: Map<string, number>;
}

const SEGMENT_BYTES = 6 * 1024;

export class SimBroker {
  readonly disk: MemoryDisk = memoryDisk();
  up = false;
  generation = 0;
  /** Lives so far (a restart starts a new one). */
  lives = 0;
  /** Durable across crashes: the last high watermarks checkpointed, by partition. */
  readonly hwCheckpoint = new Map<number, number>();
  logs = new Map<number, FileLog>();
  image: MetadataImage;
  /** Partitions reconcile once the image holds this life's registration. */
  caughtUp = false;
  private metadataFetchSentAtMs = Number.NEGATIVE_INFINITY;
  brokerEpoch = -1;
  fenced = true;
  private incarnationId = '';
  private registerSentAtMs = Number.NEGATIVE_INFINITY;
  private lastHeartbeatMs = Number.NEGATIVE_INFINITY;
  /** The controller this broker sends its requests to, and the Raft epoch it learned that in. */
  controllerId = CONTROLLER_ID;
  private controllerEpoch = -1;
  /** Heartbeats sent since the last answer (too many: try another controller). */
  private unansweredHeartbeats = 0;
  leaders = new Map<number, LeaderState>();
  followers = new Map<number, FollowerState>();
  /** Partitions this broker stopped following after a storage error, by leader epoch. */
  private failedFollowers = new Map<number, number>();
  private waiters = new Map<number, ProduceWaiter[]>();
  private fetchInFlight = new Map<number, FetchInFlight>();
  private alterInFlight = new Map<number, { correlationId: number; sentAtMs: number; leaderEpoch: number }>();
  private lastShrinkCheckMs = 0;
  private nextFlushAtMs = 0;
  private correlation = 0;
  /** Producer state and transactions (cluster-txn.ts), when the run has them. */
  txn: BrokerTxnHooks | undefined = undefined;
  /** Slow disk: handling of each message is delayed by up to this (0: not slow). */
  slowMs = 0;
  /** Flushes happen every flushIntervalMs plus jitter. */
  flushIntervalMs = 300;
  /** Set by requestShutdown: heartbeats ask for a controlled shutdown; called once granted. */
  private onShutdownGranted: (() => void) | undefined;
  /** Counters (coverage). */
  stats = {
    failedPartitions: 0,
    shutdownsGranted: 0,
    becameLeader: 0,
    truncations: 0,
    isrShrinks: 0,
    alterPartitions: 0,
    produced: 0,
    acked: 0,
  };

  constructor(
    readonly id: number,
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly send: (m: ClusterMessage) => void,
    readonly settings: BrokerSettings,
  ) {
    this.image = emptyImage(settings.clusterId);
  }

  private get nowMs(): number {
    return this.scheduler.nowMs;
  }

  private readonly clock = {
    nowMs: (): number => this.scheduler.nowMs,
    monotonicMs: (): number => this.scheduler.nowMs,
    schedule: (): (() => void) => {
      throw new Error('the simulated broker gives its logs no timers');
    },
  };

  async start(): Promise<void> {
    this.generation++;
    this.lives++;
    this.up = true;
    this.image = emptyImage(this.settings.clusterId);
    this.caughtUp = false;
    this.brokerEpoch = -1;
    this.fenced = true;
    this.incarnationId = Buffer.from(`b${this.id}-life${this.lives}`.padEnd(16, '.').slice(0, 16)).toString(
      'base64url',
    );
    this.leaders = new Map();
    this.followers = new Map();
    this.failedFollowers = new Map();
    this.waiters = new Map();
    this.fetchInFlight = new Map();
    this.alterInFlight = new Map();
    this.registerSentAtMs = Number.NEGATIVE_INFINITY;
    this.lastHeartbeatMs = Number.NEGATIVE_INFINITY;
    this.metadataFetchSentAtMs = Number.NEGATIVE_INFINITY;
    this.unansweredHeartbeats = 0;
    this.logs = new Map();
    this.onShutdownGranted = undefined;
    const config = logConfig({ segmentBytes: SEGMENT_BYTES, retentionMs: -1 });
    for (let p = 0; p < this.settings.partitions; p++) {
      const log = await FileLog.open({
        dir: `/data/${this.settings.topic}-${p}`,
        topic: this.settings.topic,
        partition: p,
        config,
        disk: this.disk,
        clock: this.clock,
        highWatermark: this.hwCheckpoint.get(p) ?? 0,
        onBackgroundError: () => {},
      });
      this.logs.set(p, log);
    }
    this.nextFlushAtMs = this.nowMs + this.flushIntervalMs;
    this.scheduleTick();
  }

  /** kill -9 (the page cache survives) or, with powerLoss, unflushed writes are lost. */
  crash(powerLoss: boolean): void {
    this.up = false;
    this.generation++;
    this.disk.crash(powerLoss ? { random: this.random } : { keepUnflushed: true });
    this.leaders = new Map();
    this.followers = new Map();
    this.logs = new Map();
  }

  private scheduleTick(): void {
    const gen = this.generation;
    this.scheduler.schedule(this.nowMs + this.settings.tickMs, EVENT_BROKER_TICK, this.id, () => {
      if (!this.up || gen !== this.generation) return;
      this.scheduleTick();
      return this.tick();
    });
  }

  /**
   * Controlled shutdown: the next heartbeats ask for it (the controller moves leaderships
   * away and takes this broker out of the ISRs); `granted` runs once the controller says
   * it may stop (the caller then stops the broker).
   */
  requestShutdown(granted: () => void): void {
    this.onShutdownGranted = granted;
    this.lastHeartbeatMs = Number.NEGATIVE_INFINITY;
  }

  /**
   * DeleteRecords on this broker as leader: the log start moves to `offset` (at most the
   * high watermark); followers follow through the log start offset in fetch responses.
   * Returns the new log start, or undefined when not the leader or refused.
   */
  async deleteRecords(pid: number, offset: number): Promise<number | undefined> {
    const log = this.logs.get(pid);
    if (!this.up || !this.leaders.has(pid) || log === undefined) return undefined;
    const r = await log.deleteRecordsBefore(offset);
    return r.kind === 'ok' ? r.lowWatermark : undefined;
  }

  // ---- outgoing requests ------------------------------------------------------------

  /** Moves to the next controller (NOT_CONTROLLER, or no answer); no-op with one controller. */
  private nextController(): void {
    const ids = this.settings.controllerIds ?? [CONTROLLER_ID];
    if (ids.length < 2) return;
    this.controllerId = ids[(ids.indexOf(this.controllerId) + 1) % ids.length]!;
  }

  private async tick(): Promise<void> {
    const now = this.nowMs;
    const s = this.settings;
    if (this.brokerEpoch < 0) {
      if (now - this.registerSentAtMs >= s.requestTimeoutMs) {
        if (this.registerSentAtMs !== Number.NEGATIVE_INFINITY) this.nextController();
        this.registerSentAtMs = now;
        this.send({
          from: this.id,
          to: this.controllerId,
          type: 'register',
          request: {
            brokerId: this.id,
            clusterId: s.clusterId,
            incarnationId: this.incarnationId,
            listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9090 + this.id, securityProtocol: 0 }],
            features: [{ name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: 21 }],
            rack: null,
            isMigratingZkBroker: false,
            logDirs: [],
            previousBrokerEpoch: -1n,
          },
        });
      }
    } else if (now - this.lastHeartbeatMs >= s.heartbeatIntervalMs) {
      this.lastHeartbeatMs = now;
      if (++this.unansweredHeartbeats > 4) {
        this.unansweredHeartbeats = 0;
        this.nextController();
      }
      this.send({
        from: this.id,
        to: this.controllerId,
        type: 'heartbeat',
        request: {
          brokerId: this.id,
          brokerEpoch: BigInt(this.brokerEpoch),
          currentMetadataOffset: BigInt(this.image.offset),
          wantFence: false,
          wantShutDown: this.onShutdownGranted !== undefined,
          offlineLogDirs: [],
        },
      });
    }
    if (now - this.metadataFetchSentAtMs >= s.requestTimeoutMs / 4) this.sendMetadataFetch();

    for (const [pid, leader] of this.leaders) {
      const inFlight = this.alterInFlight.get(pid);
      if (inFlight !== undefined && now - inFlight.sentAtMs >= s.requestTimeoutMs) {
        this.alterInFlight.delete(pid);
        leader.onAlterPartitionFailed();
      }
      this.expireWaiters(pid, now);
    }
    if (now - this.lastShrinkCheckMs >= s.replicaLagTimeMaxMs / 2) {
      this.lastShrinkCheckMs = now;
      for (const leader of this.leaders.values()) if (leader.maybeShrinkIsr(now)) this.stats.isrShrinks++;
    }
    this.sendAlterPartitions();
    this.sendReplicaFetches(false);

    if (now >= this.nextFlushAtMs) {
      this.nextFlushAtMs = now + this.flushIntervalMs + this.random.int(this.flushIntervalMs);
      for (const [pid, log] of this.logs) {
        this.hwCheckpoint.set(pid, log.highWatermark());
        await log.flush();
      }
    }
  }

  private sendMetadataFetch(): void {
    this.metadataFetchSentAtMs = this.nowMs;
    this.send({ from: this.id, to: this.controllerId, type: 'metadataFetch', fromOffset: this.image.offset + 1 });
  }

  private sendAlterPartitions(): void {
    for (const [pid, leader] of this.leaders) {
      if (this.alterInFlight.has(pid)) continue;
      const pd = leader.takeAlterPartition();
      if (pd === undefined) continue;
      pd.partitionIndex = pid;
      const correlationId = ++this.correlation;
      this.alterInFlight.set(pid, { correlationId, sentAtMs: this.nowMs, leaderEpoch: leader.leaderEpoch });
      this.stats.alterPartitions++;
      this.send({
        from: this.id,
        to: this.controllerId,
        type: 'alterPartition',
        correlationId,
        request: {
          brokerId: this.id,
          brokerEpoch: BigInt(this.brokerEpoch),
          topics: [{ topicName: this.settings.topic, topicId: this.settings.topicId, partitions: [pd] }],
        },
      });
    }
  }

  /** One Fetch per leader with partitions ready; `force` replaces one in flight. */
  private sendReplicaFetches(force: boolean, onlyLeader?: number): void {
    const byLeader = new Map<number, FollowerState[]>();
    for (const f of this.followers.values()) {
      if (onlyLeader !== undefined && f.leaderId !== onlyLeader) continue;
      const list = byLeader.get(f.leaderId) ?? [];
      list.push(f);
      byLeader.set(f.leaderId, list);
    }
    for (const [leaderId, followers] of byLeader) {
      const inFlight = this.fetchInFlight.get(leaderId);
      if (inFlight !== undefined && !force && this.nowMs - inFlight.sentAtMs < this.settings.requestTimeoutMs) continue;
      if (inFlight !== undefined && !force) {
        for (const f of followers) f.onFetchFailed(this.nowMs);
        this.fetchInFlight.delete(leaderId);
        continue;
      }
      const built = buildReplicaFetch(
        followers,
        { replicaId: this.id, brokerEpoch: this.brokerEpoch },
        { ...REPLICA_FETCH_DEFAULTS, maxBytes: this.settings.replicaFetchMaxBytes },
        this.nowMs,
      );
      if (built === undefined) continue;
      const correlationId = ++this.correlation;
      this.fetchInFlight.set(leaderId, { correlationId, sentAtMs: this.nowMs, fetchOffsets: built.fetchOffsets });
      this.send({ from: this.id, to: leaderId, type: 'replicaFetch', request: built.request, correlationId });
    }
  }

  // ---- incoming ---------------------------------------------------------------------

  receive(m: ClusterMessage): Promise<void> | undefined {
    if (!this.up) return undefined;
    if (this.slowMs > 0) {
      const gen = this.generation;
      this.scheduler.schedule(this.nowMs + this.random.int(this.slowMs), EVENT_BROKER_SLOW, this.id, () =>
        this.up && gen === this.generation ? this.handle(m) : undefined,
      );
      return undefined;
    }
    return this.handle(m);
  }

  private async handle(m: ClusterMessage): Promise<void> {
    switch (m.type) {
      case 'registerResponse':
        if (m.response.errorCode === ErrorCode.NOT_CONTROLLER && m.from === this.controllerId) this.nextController();
        if (m.incarnationId === this.incarnationId && this.brokerEpoch < 0 && m.response.errorCode === ErrorCode.NONE) {
          this.brokerEpoch = Number(m.response.brokerEpoch);
          this.lastHeartbeatMs = Number.NEGATIVE_INFINITY;
        }
        return;
      case 'heartbeatResponse':
        if (m.brokerEpoch !== this.brokerEpoch) return;
        this.unansweredHeartbeats = 0;
        if (m.response.errorCode === ErrorCode.NOT_CONTROLLER && m.from === this.controllerId) this.nextController();
        if (m.response.errorCode === ErrorCode.STALE_BROKER_EPOCH) {
          // The controller no longer knows this epoch: register again.
          this.brokerEpoch = -1;
          this.registerSentAtMs = Number.NEGATIVE_INFINITY;
        } else if (m.response.errorCode === ErrorCode.NONE) {
          this.fenced = m.response.isFenced;
          const granted = this.onShutdownGranted;
          if (m.response.shouldShutDown && granted !== undefined) {
            this.onShutdownGranted = undefined;
            this.stats.shutdownsGranted++;
            // A clean stop: everything written is flushed first.
            for (const log of this.logs.values()) await log.flush();
            granted();
          }
        }
        return;
      case 'metadataFetchResponse':
        return this.onMetadata(m);
      case 'alterPartitionResponse':
        return this.onAlterPartitionResponse(m);
      case 'replicaFetch':
        return this.onReplicaFetch(m);
      case 'replicaFetchResponse':
        return this.onReplicaFetchResponse(m);
      case 'produce':
        return this.onProduce(m);
      case 'consumerFetch':
        return this.onConsumerFetch(m);
      case 'clientMetadata': {
        const topic = this.image.topicsByName.get(this.settings.topic);
        const leaders: { leader: number; leaderEpoch: number }[] = [];
        for (let p = 0; p < this.settings.partitions; p++) {
          const pi = this.caughtUp ? topic?.partitions.get(p) : undefined;
          leaders.push({ leader: pi?.leader ?? -1, leaderEpoch: pi?.leaderEpoch ?? -1 });
        }
        this.send({
          from: this.id,
          to: m.from,
          type: 'clientMetadataResponse',
          correlationId: m.correlationId,
          leaders,
        });
        return;
      }
      default:
        return;
    }
  }

  private async onMetadata(m: MessageOf<'metadataFetchResponse'>): Promise<void> {
    const hint = m.leaderHint;
    if (hint !== undefined && hint.leaderId >= 0 && hint.epoch > this.controllerEpoch) {
      this.controllerEpoch = hint.epoch;
      this.controllerId = hint.leaderId;
    }
    if (m.fromOffset !== this.image.offset + 1) return;
    if (m.records.length > 0) {
      this.image = replay(this.image, m.records).image;
      this.sendMetadataFetch();
    } else {
      this.metadataFetchSentAtMs = this.nowMs;
    }
    // As a Kafka broker waits for the controller to see it caught up: nothing is led or
    // followed before this life's own registration record is replayed (it took the old
    // incarnation out of every ISR and leadership).
    if (!this.caughtUp && this.brokerEpoch >= 0 && this.image.offset >= this.brokerEpoch) this.caughtUp = true;
    if (this.caughtUp) await this.reconcile();
  }

  /** Becomes leader, follower or neither of each partition, as the image says. */
  private async reconcile(): Promise<void> {
    const topic = this.image.topicsByName.get(this.settings.topic);
    if (topic === undefined) return;
    const now = this.nowMs;
    for (const p of topic.partitions.values()) {
      const pid = p.partitionId;
      const log = this.logs.get(pid);
      if (log === undefined || !p.replicas.includes(this.id)) continue;
      const current = this.leaders.get(pid);
      if (p.leader === this.id) {
        const state = {
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
          replicas: p.replicas,
          isr: p.isr,
        };
        if (current !== undefined && current.leaderEpoch === p.leaderEpoch) {
          if (p.partitionEpoch > current.partitionEpoch) {
            current.applyMetadata(state, now);
            if (current.maybeIncrementHighWatermark(now)) this.completeWaiters(pid);
          }
          continue;
        }
        if (current !== undefined && current.leaderEpoch > p.leaderEpoch) continue;
        this.failWaiters(pid, ErrorCode.NOT_LEADER_OR_FOLLOWER);
        this.followers.delete(pid);
        this.alterInFlight.delete(pid);
        this.stats.becameLeader++;
        this.leaders.set(
          pid,
          new LeaderState({
            ...state,
            localId: this.id,
            log,
            nowMs: now,
            replicaLagTimeMaxMs: this.settings.replicaLagTimeMaxMs,
            minInsyncReplicas: this.settings.minInsyncReplicas,
            isReplicaEligible: (brokerId, brokerEpoch) => {
              const b = this.image.brokers.get(brokerId);
              return (
                b !== undefined &&
                !b.fenced &&
                !b.inControlledShutdown &&
                (brokerEpoch < 0 || b.brokerEpoch === brokerEpoch)
              );
            },
          }),
        );
        continue;
      }
      if (current !== undefined) {
        this.leaders.delete(pid);
        this.alterInFlight.delete(pid);
        this.failWaiters(pid, ErrorCode.NOT_LEADER_OR_FOLLOWER);
      }
      if (p.leader < 0) {
        this.followers.delete(pid);
        continue;
      }
      const f = this.followers.get(pid);
      if (f !== undefined) {
        if (p.leaderEpoch >= f.leaderEpoch) f.updateLeader(p.leader, p.leaderEpoch);
      } else if ((this.failedFollowers.get(pid) ?? -1) < p.leaderEpoch) {
        this.followers.set(
          pid,
          new FollowerState({
            topic: this.settings.topic,
            topicId: this.settings.topicId,
            partition: pid,
            leaderId: p.leader,
            leaderEpoch: p.leaderEpoch,
            log,
            replicaFetchBackoffMs: this.settings.replicaFetchBackoffMs,
          }),
        );
      }
    }
  }

  private async onAlterPartitionResponse(m: MessageOf<'alterPartitionResponse'>): Promise<void> {
    for (const [pid, inFlight] of this.alterInFlight) {
      if (inFlight.correlationId !== m.correlationId) continue;
      this.alterInFlight.delete(pid);
      const leader = this.leaders.get(pid);
      if (leader === undefined || leader.leaderEpoch !== inFlight.leaderEpoch) return;
      const pd = m.response.topics[0]?.partitions.find((x) => x.partitionIndex === pid);
      if (m.response.errorCode !== ErrorCode.NONE || pd === undefined) {
        if (m.response.errorCode === ErrorCode.NOT_CONTROLLER && m.from === this.controllerId) this.nextController();
        leader.onAlterPartitionFailed();
        return;
      }
      leader.onAlterPartitionResponse(pd, this.nowMs);
      this.completeWaiters(pid);
      return;
    }
  }

  private async onReplicaFetch(m: MessageOf<'replicaFetch'>): Promise<void> {
    const r = m.request;
    const partitions: { data: FetchResponsePartitionData; currentLeaderEpoch: number }[] = [];
    for (const t of r.topics) {
      for (const fp of t.partitions) {
        const pid = fp.partition;
        const leader = this.leaders.get(pid);
        const log = this.logs.get(pid);
        if (leader === undefined || log === undefined) {
          partitions.push({
            data: errorData(pid, ErrorCode.NOT_LEADER_OR_FOLLOWER),
            currentLeaderEpoch: fp.currentLeaderEpoch,
          });
          continue;
        }
        const { data, highWatermarkMoved } = await serveFollowerFetch(
          leader,
          log,
          {
            replicaId: r.replicaState.replicaId,
            brokerEpoch: Number(r.replicaState.replicaEpoch),
            currentLeaderEpoch: fp.currentLeaderEpoch,
            fetchOffset: Number(fp.fetchOffset),
            lastFetchedEpoch: fp.lastFetchedEpoch,
            logStartOffset: Number(fp.logStartOffset),
            maxBytes: fp.partitionMaxBytes,
          },
          this.nowMs,
        );
        data.partitionIndex = pid;
        if (this.settings.bug === 'hw-is-leo') log.updateHighWatermark(log.logEndOffset());
        if (highWatermarkMoved || this.settings.bug === 'hw-is-leo') this.completeWaiters(pid);
        partitions.push({ data, currentLeaderEpoch: fp.currentLeaderEpoch });
      }
    }
    // Expansions proposed by these fetches go out now.
    this.sendAlterPartitions();
    this.send({ from: this.id, to: m.from, type: 'replicaFetchResponse', correlationId: m.correlationId, partitions });
  }

  private async onReplicaFetchResponse(m: MessageOf<'replicaFetchResponse'>): Promise<void> {
    const inFlight = this.fetchInFlight.get(m.from);
    if (inFlight === undefined || inFlight.correlationId !== m.correlationId) return;
    this.fetchInFlight.delete(m.from);
    let progressed = false;
    for (const { data, currentLeaderEpoch } of m.partitions) {
      const f = this.followers.get(data.partitionIndex);
      if (f === undefined || f.leaderId !== m.from || f.leaderEpoch !== currentLeaderEpoch) continue;
      const fetchedOffset = inFlight.fetchOffsets.get(`${f.topic}:${f.partition}`);
      if (fetchedOffset === undefined) continue;
      let outcome: FollowerOutcome;
      try {
        outcome = await f.handleResponse(data, fetchedOffset, this.nowMs);
      } catch (err) {
        if (!(err instanceof StorageError)) throw err;
        // As Kafka's fetcher marks a partition failed (say, an append below the log end:
        // a leader's log start moved inside a batch by DeleteRecords while this log
        // diverged): stop following it until the leader epoch changes.
        this.failedFollowers.set(f.partition, f.leaderEpoch);
        this.followers.delete(f.partition);
        this.stats.failedPartitions++;
        continue;
      }
      if (outcome.kind === 'truncated') this.stats.truncations++;
      if (this.txn !== undefined && (outcome.kind === 'appended' || outcome.kind === 'truncated')) {
        await this.txn.logChanged(this, f.partition, outcome.kind === 'truncated');
      }
      if (outcome.kind === 'appended' || outcome.kind === 'truncated') progressed = true;
    }
    // Catching up: ask again at once (the leader's long poll would answer as data comes).
    if (progressed) this.sendReplicaFetches(false, m.from);
  }

  private async onProduce(m: MessageOf<'produce'>): Promise<void> {
    const answer = (errorCode: number, baseOffset = -1): void =>
      this.send({
        from: this.id,
        to: m.from,
        type: 'produceResponse',
        partition: m.partition,
        errorCode,
        baseOffset,
        correlationId: m.correlationId,
      });
    const leader = this.leaders.get(m.partition);
    const log = this.logs.get(m.partition);
    if (leader === undefined || log === undefined) return answer(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    const enough = leader.checkEnoughReplicasForAppend();
    if (enough !== ErrorCode.NONE) return answer(enough);
    let verdict: LeaderAppendCheck = { kind: 'append' };
    if (this.txn !== undefined) verdict = await this.txn.beforeLeaderAppend(this, m.partition, Buffer.from(m.batch));
    if (verdict.kind === 'error') return answer(verdict.errorCode);
    // The network may deliver the same request twice: the log rewrites offsets in place
    // (with producer state, a duplicate is answered with the first append's offsets).
    const result =
      verdict.kind === 'duplicate'
        ? verdict
        : await log.append(Buffer.from(m.batch), { leaderEpoch: leader.leaderEpoch });
    if (verdict.kind === 'append') await this.txn?.logChanged(this, m.partition, false);
    this.stats.produced++;
    if (this.settings.bug === 'hw-is-leo') log.updateHighWatermark(log.logEndOffset());
    if (this.settings.bug === 'ack-before-isr') {
      answer(ErrorCode.NONE, result.baseOffset);
      return;
    }
    const list = this.waiters.get(m.partition) ?? [];
    list.push({
      requiredOffset: result.lastOffset + 1,
      baseOffset: result.baseOffset,
      client: m.from,
      correlationId: m.correlationId,
      deadlineMs: this.nowMs + this.settings.produceTimeoutMs,
    });
    this.waiters.set(m.partition, list);
    leader.maybeIncrementHighWatermark(this.nowMs);
    this.completeWaiters(m.partition);
  }

  private answerProduce(pid: number, w: ProduceWaiter, errorCode: number): void {
    if (errorCode === ErrorCode.NONE) this.stats.acked++;
    this.send({
      from: this.id,
      to: w.client,
      type: 'produceResponse',
      partition: pid,
      errorCode,
      baseOffset: errorCode === ErrorCode.NONE ? w.baseOffset : -1,
      correlationId: w.correlationId,
    });
  }

  private completeWaiters(pid: number): void {
    const leader = this.leaders.get(pid);
    const list = this.waiters.get(pid);
    if (leader === undefined || list === undefined || list.length === 0) return;
    const keep: ProduceWaiter[] = [];
    for (const w of list) {
      const code = leader.checkEnoughReplicasReachOffset(w.requiredOffset);
      if (code === undefined) keep.push(w);
      else this.answerProduce(pid, w, code);
    }
    this.waiters.set(pid, keep);
  }

  private failWaiters(pid: number, errorCode: number): void {
    const list = this.waiters.get(pid);
    if (list === undefined) return;
    this.waiters.delete(pid);
    for (const w of list) this.answerProduce(pid, w, errorCode);
  }

  private expireWaiters(pid: number, nowMs: number): void {
    const list = this.waiters.get(pid);
    if (list === undefined || list.length === 0) return;
    const keep: ProduceWaiter[] = [];
    for (const w of list) {
      if (w.deadlineMs <= nowMs) this.answerProduce(pid, w, ErrorCode.REQUEST_TIMED_OUT);
      else keep.push(w);
    }
    this.waiters.set(pid, keep);
  }

  private async onConsumerFetch(m: MessageOf<'consumerFetch'>): Promise<void> {
    const reply = (errorCode: number, records: Buffer, highWatermark: number): void =>
      this.send({
        from: this.id,
        to: m.from,
        type: 'consumerFetchResponse',
        partition: m.partition,
        offset: m.offset,
        errorCode,
        records,
        highWatermark,
        logStartOffset: this.logs.get(m.partition)?.logStartOffset() ?? -1,
        correlationId: m.correlationId,
      });
    const leader = this.leaders.get(m.partition);
    const log = this.logs.get(m.partition);
    if (leader === undefined || log === undefined) return reply(ErrorCode.NOT_LEADER_OR_FOLLOWER, EMPTY, -1);
    const hw = log.highWatermark();
    if (m.offset > log.logEndOffset() || m.offset < log.logStartOffset()) {
      return reply(ErrorCode.OFFSET_OUT_OF_RANGE, EMPTY, hw);
    }
    if (m.offset >= hw) return reply(ErrorCode.NONE, EMPTY, hw);
    const read = await log.read(m.offset, 4096, { maxOffset: hw });
    if (read.kind !== 'records') return reply(ErrorCode.OFFSET_OUT_OF_RANGE, EMPTY, hw);
    reply(ErrorCode.NONE, read.records, hw);
  }
}

const EMPTY = Buffer.alloc(0);

function errorData(partitionIndex: number, errorCode: number): FetchResponsePartitionData {
  return {
    partitionIndex,
    errorCode,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    divergingEpoch: { epoch: -1, endOffset: -1n },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: EMPTY,
  };
}
