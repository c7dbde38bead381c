/**
 * The cluster simulation's controller quorum (`--controllers 3`): three controller nodes,
 * each a real RaftNode (src/raft) driven by SimRaftNode (raft-node.ts: its RaftStore on its
 * own simulated disk, writes fsynced before the messages announcing them leave, a crash
 * losing what was not fsynced), the metadata log being the Raft log.
 *
 * Each node keeps, per life, a metadata image built only by replay of the batches Raft
 * reports committed (handleCommit), the records themselves (brokers fetch them), and the
 * leader it knows. The rules are those of src/metadata/metadata-log.ts (RaftMetadataLog)
 * and src/metadata/controller.ts, rewritten here on the scheduler (that code chains
 * promises between steps, which the invariants, checked after every event, must not see
 * half done):
 *
 * - the Raft leader of epoch E becomes the active controller once the LeaderChange control
 *   batch that opened E is committed and replayed: its image is then the whole committed
 *   state. It then starts every registered broker's session afresh (BrokerHeartbeats.activate);
 * - the active controller runs the real decisions of src/metadata/control (registerBroker,
 *   brokerHeartbeat, alterPartition, fenceExpiredBrokers) one at a time: an operation that
 *   writes records appends them as one Raft batch, and its answer leaves only once the batch
 *   is committed and replayed; operations arriving meanwhile wait in a bounded queue. An
 *   operation writing nothing is answered at once;
 * - a node that is not active answers NOT_CONTROLLER; losing the leadership drops the
 *   operation in flight and the queue (their brokers retry);
 * - any node serves metadata fetches from its committed records only, with the leader and
 *   epoch it knows as a hint;
 * - the first active controller writes the bootstrap records (Kafka's bootstrap checkpoint)
 *   when the committed log holds none.
 *
 * QuorumChecker follows the committed metadata log (the Raft InvariantChecker, invariants.ts,
 * checks the quorum itself: one leader per epoch, committed logs identical, durable on a
 * majority) and checks that every committed metadata batch was decided by the active
 * controller of its epoch on an image holding every record committed before it, and that
 * brokers are only ever told committed metadata.
 */
import type { Random } from '../env/random.ts';
import { alterPartition } from '../metadata/control/alter-partition.ts';
import type { ControllerResult } from '../metadata/control/brokers.ts';
import { BrokerHeartbeats, brokerHeartbeat, fenceExpiredBrokers, registerBroker } from '../metadata/control/brokers.ts';
import { emptyImage, type MetadataImage } from '../metadata/image.ts';
import type { MetadataMessage } from '../metadata/metadata-log.ts';
import { type CommittedRecord, replay } from '../metadata/replay.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import { decodeMetadataRecord, encodeMetadataRecord } from '../protocol/generated/metadata-records.ts';
import { raftConfig } from '../raft/config.ts';
import type { RaftListener } from '../raft/raft.ts';
import type { LeaderAndEpoch, LogBatch } from '../raft/types.ts';
import { batchEnd } from '../raft/types.ts';
import type { ControllerSettings } from './cluster-controller.ts';
import type { ClusterMessage, MessageOf } from './cluster-messages.ts';
import { InvariantViolation } from './invariants.ts';
import { SimRaftNode } from './raft-node.ts';
import type { Scheduler } from './scheduler.ts';

export const EVENT_QUORUM_TICK = 24;
export const EVENT_QUORUM_DRAIN = 25;

/** Records one metadataFetch answer carries at most. */
const METADATA_FETCH_MAX_RECORDS = 64;
/** Operations waiting for the one in flight, at most (beyond: the oldest is dropped; its broker retries). */
const QUEUE_BOUND = 64;

/**
 * Planted controller bugs: `controller-acts-early` makes the Raft leader active as soon as
 * it is elected, before its epoch's LeaderChange is committed, deciding on the image it had
 * replayed as a follower (possibly missing records its predecessor committed);
 * `answer-before-commit` answers an operation once Raft took its batch, before it commits.
 */
export type ControllerBug = 'none' | 'controller-acts-early' | 'answer-before-commit';

/** The raw bytes of each record a controller node replayed (so a broker's view can be compared). */
const rawOf = new WeakMap<CommittedRecord, Buffer>();

type Operation = MessageOf<'register'> | MessageOf<'heartbeat'> | MessageOf<'alterPartition'>;

export class QuorumChecker {
  /** The committed metadata log, by offset (data records only). */
  private readonly committed = new Map<number, Buffer>();
  /** End offset of the committed Raft log seen so far (control batches included). */
  committedEnd = 0;

  /** The image the committed log replays to. */
  image: MetadataImage;
  /** `${epoch}/${baseOffset}` -> end offset of the committed log the deciding node had replayed. */
  private readonly decisions = new Map<string, number>();
  onImage: ((image: MetadataImage) => void) | undefined;
  committedBatches = 0;

  constructor(clusterId: string) {
    this.image = emptyImage(clusterId);
  }

  private fail(message: string): never {
    throw new InvariantViolation(message);
  }

  /**
   * The active controller of `epoch` appends a batch at baseOffset, decided on an image
   * replaying its committed log up to appliedEnd (control batches included).
   */
  recordDecision(epoch: number, baseOffset: number, appliedEnd: number): void {
    this.decisions.set(`${epoch}/${baseOffset}`, appliedEnd);
  }

  /** A controller node replayed committed batches (the first node to pass an offset extends the log). */
  onCommit(batches: readonly LogBatch[]): void {
    for (const b of batches) {
      if (b.baseOffset !== this.committedEnd) continue; // seen already, or a gap (the Raft checker fails it)
      this.committedEnd = batchEnd(b);
      if (b.control) continue;
      const decided = this.decisions.get(`${b.epoch}/${b.baseOffset}`);
      if (decided === undefined) {
        this.fail(`metadata batch at ${b.baseOffset} (epoch ${b.epoch}) committed, decided by no active controller`);
      }
      // Every record before the batch was committed, and replayed by the node that decided it.
      if (decided !== b.baseOffset) {
        this.fail(
          `metadata batch at ${b.baseOffset} (epoch ${b.epoch}) was decided on a committed log replayed up to ${decided} only: ` +
            'the controller acted before knowing the committed state',
        );
      }
      this.committedBatches++;
      const records: CommittedRecord[] = b.records.map((buf, i) => {
        this.committed.set(b.baseOffset + i, buf);
        return { offset: b.baseOffset + i, message: decodeMetadataRecord(buf) };
      });
      this.image = replay(this.image, records).image;
      this.onImage?.(this.image);
    }
  }

  /**
   * A message is delivered to a broker: metadata it is told must be committed. Fetched
   * records must be the committed ones; an AlterPartition answer may only name a partition
   * state the committed log reached; a registration's broker epoch must be committed.
   */
  onDeliverToBroker(m: ClusterMessage): void {
    switch (m.type) {
      case 'metadataFetchResponse':
        for (const r of m.records) {
          const raw = rawOf.get(r);
          const committed = this.committed.get(r.offset);
          if (committed === undefined) this.fail(`broker ${m.to} is sent metadata offset ${r.offset}, not committed`);
          if (raw !== undefined && !raw.equals(committed)) {
            this.fail(`broker ${m.to} is sent metadata offset ${r.offset}, not the committed record`);
          }
        }
        return;
      case 'alterPartitionResponse': {
        if (m.response.errorCode !== ErrorCode.NONE) return;
        for (const t of m.response.topics) {
          const topic = this.image.topicsById.get(t.topicId);
          for (const p of t.partitions) {
            if (p.errorCode !== ErrorCode.NONE) continue;
            const state = topic?.partitions.get(p.partitionIndex);
            if (state === undefined || state.partitionEpoch < p.partitionEpoch) {
              this.fail(
                `broker ${m.to} is told partition ${p.partitionIndex} epoch ${p.partitionEpoch}, committed ${state?.partitionEpoch}`,
              );
            }
          }
        }
        return;
      }
      case 'registerResponse': {
        if (m.response.errorCode !== ErrorCode.NONE) return;
        const epoch = Number(m.response.brokerEpoch);
        const b = this.image.brokers.get(m.to);
        if (b === undefined || b.brokerEpoch < epoch) {
          this.fail(`broker ${m.to} is told broker epoch ${epoch}, committed ${b?.brokerEpoch}`);
        }
        return;
      }
      default:
        return;
    }
  }
}

interface InFlight {
  epoch: number;
  /** Last offset of the batch, once Raft took it. */
  lastOffset: number | undefined;
  respond: () => void;
}

export class SimQuorumController {
  readonly node: SimRaftNode;
  /** Per life: the image replayed from committed batches. */
  image: MetadataImage;
  /** Per life: the committed data records (what metadata fetches are served from). */
  private records: CommittedRecord[] = [];
  /** Per life: end offset of the committed batches replayed (control batches included). */
  private appliedEnd = 0;
  private leader: LeaderAndEpoch = { leaderId: -1, epoch: 0 };
  /** The epoch this node is the active controller in. */
  activeEpoch: number | undefined;
  private heartbeats = new BrokerHeartbeats();
  private inFlight: InFlight | undefined;
  private queue: Operation[] = [];
  /** Bumped on every activation, deactivation and life: timers of an older one do nothing. */
  private token = 0;
  activations = 0;
  /** Requests answered NOT_CONTROLLER (coverage: brokers had to find the active controller). */
  notControllerAnswers = 0;

  constructor(
    readonly id: number,
    voters: readonly number[],
    private readonly scheduler: Scheduler,
    random: Random,
    private readonly send: (m: ClusterMessage) => void,
    readonly settings: ControllerSettings,
    private readonly clusterId: string,
    private readonly bootstrap: readonly MetadataMessage[],
    private readonly checker: QuorumChecker,
    private readonly bug: ControllerBug,
    onNodeCommit: (node: SimRaftNode, batches: readonly LogBatch[]) => void,
  ) {
    this.image = emptyImage(clusterId);
    const config = raftConfig(id, voters, {
      electionTimeoutMs: 300,
      fetchTimeoutMs: 600,
      electionBackoffMaxMs: 300,
      requestTimeoutMs: 600,
      fetchMaxWaitMs: 100,
    });
    this.node = new SimRaftNode(
      id,
      config,
      scheduler,
      random,
      (raft) => send({ from: raft.from, to: raft.to, type: 'raft', raft }),
      { onCommit: onNodeCommit },
      {
        diskProfile: { syncBaseMs: 1, syncJitterMs: 3 },
        snapshotEveryRecords: 0,
        snapshotPadBytes: 0,
        listener: () => this.newLife(),
      },
    );
  }

  get up(): boolean {
    return this.node.up;
  }

  /** The leader this node knows (brokers get it as a hint). */
  leaderHint(): { leaderId: number; epoch: number } {
    return { leaderId: this.leader.leaderId, epoch: this.leader.epoch };
  }

  start(): Promise<void> {
    return this.node.start();
  }

  crash(): void {
    this.token++;
    this.activeEpoch = undefined;
    this.inFlight = undefined;
    this.queue = [];
    this.node.crash();
  }

  /** A new life of the node: everything in memory starts over; Raft replays the committed log into it. */
  private newLife(): RaftListener {
    this.token++;
    this.image = emptyImage(this.clusterId);
    this.records = [];
    this.appliedEnd = 0;
    this.leader = { leaderId: -1, epoch: 0 };
    this.activeEpoch = undefined;
    this.heartbeats = new BrokerHeartbeats();
    this.inFlight = undefined;
    this.queue = [];
    return {
      handleCommit: (batches) => this.onCommit(batches),
      handleLoadSnapshot: () => {
        throw new Error('controller quorum: snapshots are not simulated');
      },
      handleLeaderChange: (le) => this.onLeaderChange(le),
    };
  }

  private onLeaderChange(le: LeaderAndEpoch): void {
    this.leader = { ...le };
    if (this.activeEpoch !== undefined && (le.leaderId !== this.id || le.epoch !== this.activeEpoch)) {
      // Deposed: what is in flight may still commit, but it is not answered here.
      this.token++;
      this.activeEpoch = undefined;
      this.inFlight = undefined;
      this.queue = [];
    }
    if (this.bug === 'controller-acts-early' && le.leaderId === this.id && this.activeEpoch === undefined) {
      this.activate(le.epoch);
    }
  }

  private onCommit(batches: readonly LogBatch[]): void {
    this.checker.onCommit(batches);
    for (const b of batches) {
      this.appliedEnd = batchEnd(b);
      if (b.control) {
        if (
          b.epoch === this.leader.epoch &&
          this.leader.leaderId === this.id &&
          this.activeEpoch === undefined &&
          this.node.raft?.stateName() === 'leader'
        ) {
          this.activate(b.epoch);
        }
      } else {
        const committed = b.records.map((buf, i) => {
          const r: CommittedRecord = { offset: b.baseOffset + i, message: decodeMetadataRecord(buf) };
          rawOf.set(r, buf);
          return r;
        });
        this.records.push(...committed);
        this.image = replay(this.image, committed).image;
      }
      const f = this.inFlight;
      if (f !== undefined && f.lastOffset !== undefined && f.lastOffset < batchEnd(b) && f.epoch === b.epoch) {
        this.inFlight = undefined;
        if (this.bug !== 'answer-before-commit') f.respond();
        this.scheduleDrain();
      }
    }
  }

  /** Becomes the active controller of `epoch` (never from inside a Raft call: work is scheduled). */
  private activate(epoch: number): void {
    this.activeEpoch = epoch;
    this.activations++;
    const token = ++this.token;
    this.heartbeats = new BrokerHeartbeats();
    this.heartbeats.activate(this.image, this.scheduler.nowMs);
    this.scheduleDrain();
    const tick = (): void => {
      this.scheduler.schedule(this.scheduler.nowMs + this.settings.fenceCheckMs, EVENT_QUORUM_TICK, this.id, () => {
        if (token !== this.token || !this.node.up) return;
        tick();
        if (this.inFlight !== undefined) return;
        const s = this.settings;
        const records = fenceExpiredBrokers(
          this.image,
          this.heartbeats,
          this.scheduler.nowMs,
          s.sessionTimeoutMs,
          s.election,
        );
        return this.write(records, () => undefined);
      });
    };
    tick();
  }

  private scheduleDrain(): void {
    const token = this.token;
    this.scheduler.schedule(this.scheduler.nowMs, EVENT_QUORUM_DRAIN, this.id, () =>
      token === this.token ? this.drain() : undefined,
    );
  }

  receive(m: ClusterMessage): Promise<void> | undefined {
    if (!this.node.up) return undefined;
    switch (m.type) {
      case 'raft':
        return this.node.receive(m.raft);
      case 'metadataFetch': {
        const records = this.records;
        let lo = 0;
        let hi = records.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (records[mid]!.offset < m.fromOffset) lo = mid + 1;
          else hi = mid;
        }
        this.send({
          from: this.id,
          to: m.from,
          type: 'metadataFetchResponse',
          fromOffset: m.fromOffset,
          records: records.slice(lo, lo + METADATA_FETCH_MAX_RECORDS),
          leaderHint: this.leaderHint(),
        });
        return undefined;
      }
      case 'register':
      case 'heartbeat':
      case 'alterPartition':
        if (this.activeEpoch === undefined) {
          this.notControllerAnswers++;
          this.send(notController(this.id, m));
          return undefined;
        }
        if (this.queue.length >= QUEUE_BOUND) this.queue.shift();
        this.queue.push(m);
        return this.drain();
      default:
        return undefined;
    }
  }

  /** Runs waiting operations while none is in flight. */
  private drain(): Promise<void> | undefined {
    while (this.activeEpoch !== undefined && this.inFlight === undefined && this.node.up) {
      if (this.records.length === 0) {
        // Nothing committed yet: the first active controller writes the bootstrap records.
        return this.write(this.bootstrap, () => undefined);
      }
      const m = this.queue.shift();
      if (m === undefined) return undefined;
      const { records, response } = this.decide(m);
      const pending = this.write(records, response);
      if (pending !== undefined) return pending;
    }
    return undefined;
  }

  private decide(m: Operation): ControllerResult<() => void> {
    const nowMs = this.scheduler.nowMs;
    const s = this.settings;
    const nextOffset = this.node.raft!.log.endOffset();
    switch (m.type) {
      case 'register': {
        const { records, response } = registerBroker(this.image, m.request, {
          nextOffset,
          nowMs,
          heartbeats: this.heartbeats,
          sessionTimeoutMs: s.sessionTimeoutMs,
          settings: s.election,
        });
        const incarnationId = m.request.incarnationId;
        return {
          records,
          response: () => this.send({ from: this.id, to: m.from, type: 'registerResponse', incarnationId, response }),
        };
      }
      case 'heartbeat': {
        const { records, response } = brokerHeartbeat(
          this.image,
          m.request,
          this.heartbeats,
          nowMs,
          s.election,
          nextOffset,
        );
        const brokerEpoch = Number(m.request.brokerEpoch);
        return {
          records,
          response: () => this.send({ from: this.id, to: m.from, type: 'heartbeatResponse', brokerEpoch, response }),
        };
      }
      case 'alterPartition': {
        const { records, response } = alterPartition(this.image, m.request, 3, s.election);
        const correlationId = m.correlationId;
        return {
          records,
          response: () =>
            this.send({ from: this.id, to: m.from, type: 'alterPartitionResponse', response, correlationId }),
        };
      }
    }
  }

  /**
   * Answers at once when there is nothing to write; else appends the records as one batch
   * in the active epoch and answers once it is committed and replayed (onCommit).
   */
  private write(records: readonly MetadataMessage[], respond: () => void): Promise<void> | undefined {
    if (records.length === 0) {
      respond();
      return undefined;
    }
    const epoch = this.activeEpoch!;
    const raft = this.node.raft!;
    const base = raft.log.endOffset();
    const flight: InFlight = { epoch, lastOffset: undefined, respond };
    this.inFlight = flight;
    this.checker.recordDecision(epoch, base, this.appliedEnd);
    const bufs = records.map((r) => encodeMetadataRecord(r.typeId, r.version, r.record));
    return this.node.append(epoch, bufs, (lastOffset) => {
      if (this.inFlight !== flight) return;
      if (lastOffset === undefined) {
        // Raft refused (no longer the leader): nothing is answered; the broker retries.
        this.inFlight = undefined;
        this.scheduleDrain();
        return;
      }
      if (lastOffset - bufs.length + 1 !== base) {
        throw new Error(
          `controller ${this.id}: batch decided for offset ${base} went to ${lastOffset - bufs.length + 1}`,
        );
      }
      flight.lastOffset = lastOffset;
      if (this.bug === 'answer-before-commit') respond();
    });
  }
}

function notController(from: number, m: Operation): ClusterMessage {
  const errorCode = ErrorCode.NOT_CONTROLLER;
  switch (m.type) {
    case 'register':
      return {
        from,
        to: m.from,
        type: 'registerResponse',
        incarnationId: m.request.incarnationId,
        response: { throttleTimeMs: 0, errorCode, brokerEpoch: -1n },
      };
    case 'heartbeat':
      return {
        from,
        to: m.from,
        type: 'heartbeatResponse',
        brokerEpoch: Number(m.request.brokerEpoch),
        response: { throttleTimeMs: 0, errorCode, isCaughtUp: false, isFenced: true, shouldShutDown: false },
      };
    case 'alterPartition':
      return {
        from,
        to: m.from,
        type: 'alterPartitionResponse',
        correlationId: m.correlationId,
        response: { throttleTimeMs: 0, errorCode, topics: [] },
      };
  }
}
