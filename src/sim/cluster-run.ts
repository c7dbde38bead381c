/**
 * One cluster simulation from a seed: 3 brokers (one topic, a few partitions, RF=3,
 * min.insync.replicas=2) running the real replication core over FileLogs on simulated
 * disks, the controller running the real controller decisions, an acks=-1 producer and a
 * consumer, all over one simulated network. A fault schedule drawn
 * from the seed runs for faultPhaseMs; the invariants (cluster-invariants.ts) are checked
 * after every event. Then every fault heals and, within livenessBoundMs, every partition
 * must acknowledge a new record; finally every acknowledged record must be committed.
 *
 * Faults: broker process crash (kill -9: the page cache survives) and restart; broker
 * power loss (unflushed writes lost, torn tails), only while every broker is up and every
 * partition's ISR is complete, so at most one replica "fails" at a time; controller
 * crash and restart; a node isolated (both ways); one link cut one way; lossy links
 * (drops, duplicates, long jitter, so reordering); a slow disk (slow handling, rare
 * flushes). The network drops, duplicates and reorders a little all the time.
 *
 * By default (`controllers: 3`) the controller is a quorum of three simulated controller nodes, each
 * a real RaftNode on the simulated network and disks, the metadata log being the Raft log
 * (cluster-quorum.ts); the Raft invariants are checked on it too, and faults hit any of the
 * three (a crash loses what a node had not fsynced). `controllers: 1` runs one controller
 * process instead (cluster-controller.ts), its log durable at once.
 *
 * Everything random comes from one seeded generator in a fixed order, so a seed replays
 * the same event trace (traceHash).
 */
import type { Random } from '../env/random.ts';
import { seededRandom } from '../env/random.ts';
import type { MetadataImage } from '../metadata/image.ts';
import type { MetadataMessage } from '../metadata/metadata-log.ts';
import { MetadataRecordType as R } from '../protocol/generated/metadata-records.ts';
import { wireRoundTrip } from '../raft/wire.ts';
import { type PlantedBug, SimBroker } from './cluster-broker.ts';
import { SimConsumer, SimProducer } from './cluster-clients.ts';
import { SimController } from './cluster-controller.ts';
import { ClusterChecker } from './cluster-invariants.ts';
import { type ClusterMessage, CONSUMER_ID, CONTROLLER_ID, PRODUCER_ID } from './cluster-messages.ts';
import { type ControllerBug, QuorumChecker, SimQuorumController } from './cluster-quorum.ts';
import { TXN_COORDINATOR_ID, type TxnBug, TxnSim, type TxnSimStats } from './cluster-txn.ts';
import { clusterWireRoundTrip } from './cluster-wire.ts';
import { InvariantChecker, InvariantViolation } from './invariants.ts';
import { SimNetwork } from './network.ts';
import { Scheduler } from './scheduler.ts';

export interface ClusterSimOptions {
  seed: number;
  partitions?: number;
  /** Simulated ms with faults. */
  faultPhaseMs?: number;
  /** Simulated ms allowed, after healing, for every partition to acknowledge a new record. */
  livenessBoundMs?: number;
  /** Stop after this many events (0: no limit). */
  maxSteps?: number;
  /** Keep a readable trace of the last events. */
  traceTail?: number;
  bug?: PlantedBug;
  /** Send broker and controller messages through their generated codecs' bytes. */
  wire?: boolean;
  /** unclean.leader.election.enable for the controller (a way to lose data: tests). */
  uncleanLeaderElection?: boolean;
  /** Add transactions: a coordinator, a transactional producer, producer state on the brokers (cluster-txn.ts). */
  txn?: boolean;
  /** A planted bug of the transaction side (with txn). */
  txnBug?: TxnBug;
  /** 3 (default): a Raft quorum of controllers (cluster-quorum.ts); 1: one simulated controller process, its log durable at once. */
  controllers?: 1 | 3;
  /** A planted bug of the controller quorum (with controllers: 3). */
  controllerBug?: ControllerBug;
}

export interface ClusterSimResult {
  seed: number;
  ok: boolean;
  error?: string;
  traceHash: string;
  steps: number;
  simMs: number;
  /** Committed offsets summed over partitions. */
  committed: number;
  produced: number;
  acknowledged: number;
  consumed: number;
  crashes: number;
  powerLosses: number;
  controllerCrashes: number;
  /** With a controller quorum: times a node became the active controller, metadata batches committed. */
  controllerActivations?: number;
  metadataBatches?: number;
  /** With a controller quorum: broker requests answered NOT_CONTROLLER. */
  notControllerAnswers?: number;
  /** Partitions a follower stopped following after a storage error (Kafka's failed partitions). */
  failedFollowers: number;
  /** DeleteRecords that moved a log start. */
  recordDeletions: number;
  /** Controlled shutdowns the controller granted. */
  controlledShutdowns: number;
  leaderChanges: number;
  truncations: number;
  isrShrinks: number;
  messages: number;
  /** With txn: transactions begun, committed, aborted, and what read_committed saw. */
  txn?: TxnSimStats;
  trace?: string[];
}

const EVENT_FAULT = 40;
const EVENT_RESTART = 41;

const CLUSTER_ID = 'c1mU1aT10nClusterIdw';
const TOPIC = 'sim';
const TOPIC_ID = Buffer.from('sim-topic-id-000').toString('base64url');

export async function runClusterSeed(options: ClusterSimOptions): Promise<ClusterSimResult> {
  const seed = options.seed;
  const random: Random = seededRandom(seed ^ 0x5eed);
  const partitions = options.partitions ?? 2 + (seed % 2);
  const faultPhaseMs = options.faultPhaseMs ?? 8_000;
  const livenessBoundMs = options.livenessBoundMs ?? 15_000;
  const maxSteps = options.maxSteps ?? 0;
  const brokerIds = [1, 2, 3];
  const quorum = (options.controllers ?? 3) === 3;
  const controllerIds = quorum ? [CONTROLLER_ID, CONTROLLER_ID + 1, CONTROLLER_ID + 2] : [CONTROLLER_ID];
  const isController = (id: number): boolean => id >= CONTROLLER_ID && id < CONTROLLER_ID + controllerIds.length;
  const all = [...brokerIds, ...controllerIds];
  const scheduler = new Scheduler();
  const trace: string[] = [];
  const tail = options.traceTail ?? 0;
  const note = (s: string): void => {
    if (tail === 0) return;
    trace.push(`${scheduler.nowMs} ${s}`);
    if (trace.length > tail) trace.shift();
  };

  const checker = new ClusterChecker(TOPIC, partitions);
  if (tail) checker.onCommit = (pid, d) => note(`committed p${pid} ${d}`);
  const brokers: SimBroker[] = [];
  let controller: SimController | undefined;
  const quorumNodes: SimQuorumController[] = [];
  let raftChecker: InvariantChecker | undefined;
  let quorumChecker: QuorumChecker | undefined;
  let producer: SimProducer | undefined;
  let consumer: SimConsumer | undefined;
  let txn: TxnSim | undefined;
  const network = new SimNetwork<ClusterMessage>(
    scheduler,
    random,
    { baseDelayMs: 1, jitterMs: 4, dropRate: 0.005, duplicateRate: 0.005 },
    (delivered) => {
      let m = options.wire ? clusterWireRoundTrip(delivered, TOPIC, TOPIC_ID) : delivered;
      if (options.wire && m.type === 'raft') m = { ...m, raft: wireRoundTrip(m.raft) };
      if (tail) note(`deliver ${describeMessage(m)}`);
      if (quorum) {
        if (isController(m.to)) return quorumNodes[m.to - CONTROLLER_ID]!.receive(m);
        if (m.to < CONTROLLER_ID) quorumChecker!.onDeliverToBroker(m);
      }
      if (m.to === CONTROLLER_ID) return controller!.receive(m);
      if (m.to === PRODUCER_ID) return producer!.receive(m);
      if (m.to === CONSUMER_ID) return consumer!.receive(m);
      if (m.to >= TXN_COORDINATOR_ID) return txn?.receive(m);
      return brokers[m.to - 1]?.receive(m);
    },
  );
  const send = (m: ClusterMessage): void => network.send(m);

  // The bootstrap metadata: the topic, every partition on all three brokers, no leader
  // yet (the first brokers to register and unfence are elected), the ISR complete.
  const bootstrap: MetadataMessage[] = [
    { typeId: R.FeatureLevelRecord, version: 0, record: { name: 'metadata.version', featureLevel: 21 } },
    { typeId: R.TopicRecord, version: 0, record: { name: TOPIC, topicId: TOPIC_ID } },
  ];
  for (let p = 0; p < partitions; p++) {
    const replicas = brokerIds.map((_, i) => brokerIds[(p + i) % brokerIds.length]!);
    bootstrap.push({
      typeId: R.PartitionRecord,
      version: 0,
      record: {
        partitionId: p,
        topicId: TOPIC_ID,
        replicas,
        isr: replicas,
        removingReplicas: [],
        addingReplicas: [],
        leader: -1,
        leaderRecoveryState: 0,
        leaderEpoch: 0,
        partitionEpoch: 0,
        directories: [],
        eligibleLeaderReplicas: null,
        lastKnownElr: null,
      },
    });
  }
  if (options.uncleanLeaderElection) {
    bootstrap.push({
      typeId: R.ConfigRecord,
      version: 0,
      record: { resourceType: 2, resourceName: TOPIC, name: 'unclean.leader.election.enable', value: 'true' },
    });
  }
  const controllerSettings = {
    sessionTimeoutMs: 600,
    fenceCheckMs: 100,
    election: { uncleanLeaderElectionEnable: false },
  };
  if (quorum) {
    quorumChecker = new QuorumChecker(CLUSTER_ID);
    quorumChecker.onImage = (image) => checker.onControllerImage(image);
    for (const id of controllerIds) {
      const q = new SimQuorumController(
        id,
        controllerIds,
        scheduler,
        random,
        send,
        controllerSettings,
        CLUSTER_ID,
        bootstrap,
        quorumChecker,
        options.controllerBug ?? 'none',
        (node, batches) => raftChecker?.onCommit(node, batches),
      );
      q.node.clockRate = 0.95 + random.next() * 0.1;
      q.node.clockOffsetMs = random.int(1_000_000);
      quorumNodes.push(q);
    }
    raftChecker = new InvariantChecker(
      quorumNodes.map((q) => q.node),
      controllerIds,
    );
  } else {
    controller = new SimController(scheduler, send, controllerSettings, CLUSTER_ID, bootstrap);
    controller.onImage = (image) => checker.onControllerImage(image);
    checker.onControllerImage(controller.image);
  }
  /** The controller's image: with a quorum, what the committed metadata log replays to. */
  const controllerImage = (): MetadataImage => (quorum ? quorumChecker!.image : controller!.image);
  const controllersUp = (): boolean => (quorum ? quorumNodes.every((q) => q.up) : controller!.up);
  const brokerSettings = {
    clusterId: CLUSTER_ID,
    topic: TOPIC,
    topicId: TOPIC_ID,
    partitions,
    tickMs: 20,
    heartbeatIntervalMs: 100,
    replicaLagTimeMaxMs: 500,
    minInsyncReplicas: 2,
    produceTimeoutMs: 800,
    requestTimeoutMs: 400,
    replicaFetchBackoffMs: 100,
    replicaFetchMaxBytes: random.int(2) === 0 ? 1_048_576 : 200 + random.int(1500),
    bug: options.bug ?? 'none',
    controllerIds,
  };
  for (const id of brokerIds) brokers.push(new SimBroker(id, scheduler, random, send, brokerSettings));
  if (options.txn) {
    txn = new TxnSim(scheduler, random, send, brokerIds, partitions, TOPIC, options.txnBug ?? 'none');
    for (const b of brokers) b.txn = txn.state;
    // Coordinator -> broker requests travel as over TCP: never duplicated (markers are not idempotent).
    for (const id of brokerIds) network.setLink(TXN_COORDINATOR_ID, id, { duplicateRate: 0 });
  }
  const clientSettings = { tickMs: 40, requestTimeoutMs: 1000 };
  producer = new SimProducer(scheduler, random, send, checker, brokerIds, partitions, clientSettings);
  consumer = new SimConsumer(scheduler, random, send, checker, brokerIds, partitions, {
    tickMs: 60,
    requestTimeoutMs: 500,
  });

  // ---- faults ----
  let crashes = 0;
  let powerLosses = 0;
  let controllerCrashes = 0;
  let deletions = 0;
  const restartLater = (b: SimBroker, afterMs: number): void => {
    activeFaults++;
    scheduler.schedule(scheduler.nowMs + afterMs, EVENT_RESTART, b.id, async () => {
      activeFaults--;
      if (b.up) return;
      note(`restart broker ${b.id}`);
      await b.start();
    });
  };
  // A power loss drops unflushed writes: its victim "fails" until it is back in every ISR.
  // For the no-loss invariant at most one replica fails at a time, so a power loss starts
  // only in a quiet cluster (no other fault active, every ISR complete), and while its
  // victim fails, faults on anything else are skipped (another broker fenced meanwhile
  // could leave the victim the last ISR member, elected with records it lost: Kafka
  // without KIP-966's eligible leader replicas loses them too).
  let activeFaults = 0;
  let failing: SimBroker | undefined;
  const isrComplete = (): boolean => {
    const topic = controllerImage().topicsByName.get(TOPIC);
    if (topic === undefined) return false;
    for (const p of topic.partitions.values()) if (p.isr.length < p.replicas.length) return false;
    return true;
  };
  const powerLossAllowed = (): boolean =>
    failing === undefined && activeFaults === 0 && controllersUp() && brokers.every((b) => b.up) && isrComplete();
  /** Schedules the end of a fault. */
  const healLater = (afterMs: number, node: number, heal: () => void): void => {
    activeFaults++;
    scheduler.schedule(scheduler.nowMs + afterMs, EVENT_FAULT, node, () => {
      activeFaults--;
      heal();
    });
  };
  const faultCount = 2 + random.int(random.int(2) === 0 ? 6 : 16);
  for (let i = 0; i < faultCount; i++) {
    const at = 500 + random.int(Math.max(1, faultPhaseMs - 1500));
    const kind = random.int(11);
    const target = all[random.int(all.length)]!;
    const other = all[random.int(all.length)]!;
    const duration = 200 + random.int(3000);
    scheduler.schedule(at, EVENT_FAULT, target, () => {
      const b = isController(target) ? undefined : brokers[target - 1]!;
      if (failing?.up && isrComplete()) failing = undefined;
      if (failing !== undefined && (b !== failing || kind >= 3)) return;
      switch (kind) {
        case 0:
        case 1:
          if (b === undefined && quorum) {
            // A controller node crashes: what it had not fsynced is lost (torn tails kept at random).
            const q = quorumNodes[target - CONTROLLER_ID]!;
            if (!q.up) return;
            note(`crash controller ${target}`);
            controllerCrashes++;
            q.crash();
            activeFaults++;
            scheduler.schedule(scheduler.nowMs + duration, EVENT_RESTART, target, async () => {
              activeFaults--;
              if (q.up) return;
              note(`restart controller ${target}`);
              await q.start();
              raftChecker!.onRestart(q.node);
            });
            return;
          }
          if (b === undefined) {
            if (!controller!.up) return;
            note('crash controller');
            controllerCrashes++;
            controller!.crash();
            healLater(duration, CONTROLLER_ID, () => {
              if (controller!.up) return;
              note('restart controller');
              controller!.start();
            });
            return;
          }
          if (!b.up) return;
          note(`crash broker ${b.id}`);
          crashes++;
          b.crash(false);
          restartLater(b, duration);
          return;
        case 2: {
          const victim = b ?? brokers[random.int(brokers.length)]!;
          if (!powerLossAllowed()) return;
          note(`power loss broker ${victim.id}`);
          powerLosses++;
          failing = victim;
          victim.crash(true);
          restartLater(victim, duration);
          return;
        }
        case 3:
        case 4:
          note(`isolate ${target}`);
          network.isolate(target, all);
          healLater(duration, target, () => {
            for (const o of all) {
              network.healLink(target, o);
              network.healLink(o, target);
            }
          });
          return;
        case 5:
        case 6:
          if (other === target) return;
          note(`cut ${target}->${other}`);
          network.cutLink(target, other);
          healLater(duration, target, () => network.healLink(target, other));
          return;
        case 7:
          note(`lossy ${target}`);
          for (const o of [...all, PRODUCER_ID, CONSUMER_ID]) {
            network.setLink(target, o, { dropRate: 0.2, duplicateRate: 0.1, jitterMs: 40 });
            network.setLink(o, target, { dropRate: 0.2, duplicateRate: 0.1, jitterMs: 40 });
          }
          healLater(duration, target, () => {
            for (const o of [...all, PRODUCER_ID, CONSUMER_ID]) {
              network.setLink(target, o, undefined);
              network.setLink(o, target, undefined);
            }
          });
          return;
        case 9: {
          // Controlled shutdown, then a restart; a broker not let go within 3 s is killed.
          const leaving = b ?? brokers[random.int(brokers.length)]!;
          if (!leaving.up) return;
          note(`controlled shutdown ${leaving.id}`);
          const life = leaving.lives;
          let stopped = false;
          activeFaults++;
          const stop = (): void => {
            if (stopped) return;
            stopped = true;
            activeFaults--;
            if (!leaving.up || leaving.lives !== life) return;
            note(`stopped ${leaving.id}`);
            leaving.crash(false);
            restartLater(leaving, duration);
          };
          leaving.requestShutdown(stop);
          scheduler.schedule(scheduler.nowMs + 3000, EVENT_FAULT, leaving.id, stop);
          return;
        }
        case 10: {
          // DeleteRecords on a partition's leader, up to a random offset below its high watermark.
          const pid = random.int(partitions);
          // Not with transactions: the simulated producer state is rebuilt from the log start.
          if (txn !== undefined) return;
          const leader = brokers.find((x) => x.up && x.leaders.has(pid));
          const log = leader?.logs.get(pid);
          if (leader === undefined || log === undefined) return;
          const start = log.logStartOffset();
          const offset = start + random.int(log.highWatermark() - start + 1);
          note(`delete records p${pid} before ${offset} on ${leader.id}`);
          return leader.deleteRecords(pid, offset).then((low) => {
            if (low !== undefined && low > start) deletions++;
          });
        }
        case 8: {
          if (b === undefined && quorum) {
            const q = quorumNodes[target - CONTROLLER_ID]!;
            note(`slow disk controller ${target}`);
            q.node.diskProfile = { syncBaseMs: 20, syncJitterMs: 150 };
            healLater(duration, target, () => {
              q.node.diskProfile = { syncBaseMs: 1, syncJitterMs: 3 };
            });
            return;
          }
          const slow = b ?? brokers[random.int(brokers.length)]!;
          note(`slow disk ${slow.id}`);
          slow.slowMs = 20 + random.int(150);
          slow.flushIntervalMs = 2000;
          healLater(duration, slow.id, () => {
            slow.slowMs = 0;
            slow.flushIntervalMs = 300;
          });
          return;
        }
      }
    });
  }

  // With the quorum, 1-3 more faults aimed at whoever is the active controller then: a crash
  // (what it had not fsynced is lost), cut off from the other controllers (it keeps hearing
  // brokers until the others elect a new leader), cut off from the brokers, or a slow disk
  // and then a crash while writes wait for their fsync (as the Raft simulation does).
  if (quorum) {
    const leaderFaults = 1 + random.int(3);
    for (let i = 0; i < leaderFaults; i++) {
      const at = 500 + random.int(Math.max(1, faultPhaseMs - 1500));
      const kind = random.int(4);
      const duration = 200 + random.int(1800);
      scheduler.schedule(at, EVENT_FAULT, CONTROLLER_ID, () => {
        // Like every fault on something else, skipped while a power loss victim "fails"
        // (a controller cut from the brokers fences them all, and can leave the victim the
        // one broker to elect).
        if (failing?.up && isrComplete()) failing = undefined;
        if (failing !== undefined) return;
        const q = quorumNodes.find((x) => x.up && x.activeEpoch !== undefined);
        if (q === undefined) return;
        const others = kind === 1 ? controllerIds : brokerIds;
        const crashAndRestart = (): void => {
          controllerCrashes++;
          q.crash();
          activeFaults++;
          scheduler.schedule(scheduler.nowMs + duration, EVENT_RESTART, q.id, async () => {
            activeFaults--;
            if (q.up) return;
            note(`restart controller ${q.id}`);
            await q.start();
            raftChecker!.onRestart(q.node);
          });
        };
        switch (kind) {
          case 3:
            note(`slow disk then crash, active controller ${q.id}`);
            q.node.diskProfile = { syncBaseMs: 50, syncJitterMs: 300 };
            scheduler.schedule(scheduler.nowMs + 100 + random.int(900), EVENT_FAULT, q.id, () => {
              q.node.diskProfile = { syncBaseMs: 1, syncJitterMs: 3 };
              if (!q.up) return;
              note(`crash controller ${q.id}`);
              crashAndRestart();
            });
            return;
          case 0:
            note(`crash active controller ${q.id}`);
            crashAndRestart();
            return;
          default:
            note(`cut active controller ${q.id} from ${kind === 1 ? 'the other controllers' : 'the brokers'}`);
            for (const o of others) {
              if (o === q.id) continue;
              network.cutLink(q.id, o);
              network.cutLink(o, q.id);
            }
            healLater(duration, q.id, () => {
              for (const o of others) {
                network.healLink(q.id, o);
                network.healLink(o, q.id);
              }
            });
            return;
        }
      });
    }
  }

  // ---- run ----
  const result: ClusterSimResult = {
    seed,
    ok: true,
    traceHash: '',
    steps: 0,
    simMs: 0,
    committed: 0,
    produced: 0,
    acknowledged: 0,
    consumed: 0,
    crashes: 0,
    powerLosses: 0,
    controllerCrashes: 0,
    controlledShutdowns: 0,
    recordDeletions: 0,
    failedFollowers: 0,
    leaderChanges: 0,
    truncations: 0,
    isrShrinks: 0,
    messages: 0,
  };
  try {
    if (quorum) for (const q of quorumNodes) await q.start();
    else controller!.start();
    for (const b of brokers) await b.start();
    producer.produceUntilMs = faultPhaseMs;
    producer.start();
    consumer.start();
    await txn?.start(faultPhaseMs, note);
    const limitReached = (): boolean => maxSteps > 0 && scheduler.steps >= maxSteps;
    const runUntil = async (untilMs: number, stop?: () => boolean): Promise<boolean> => {
      while (!limitReached()) {
        if (!(await scheduler.step(untilMs))) return false;
        raftChecker?.check();
        await checker.checkBrokers(brokers);
        await txn?.checker.check(brokers);
        if (stop?.()) return true;
      }
      return false;
    };
    await runUntil(faultPhaseMs);
    if (!limitReached()) {
      network.healAll();
      network.defaults = { ...network.defaults, dropRate: 0, duplicateRate: 0 };
      if (quorum) {
        for (const q of quorumNodes) {
          q.node.diskProfile = { syncBaseMs: 1, syncJitterMs: 3 };
          if (!q.up) {
            await q.start();
            raftChecker!.onRestart(q.node);
          }
        }
      } else if (!controller!.up) controller!.start();
      for (const b of brokers) {
        b.slowMs = 0;
        b.flushIntervalMs = 300;
        if (!b.up) await b.start();
      }
      const healedAt = scheduler.nowMs;
      note('healed');
      // Liveness: every partition acknowledges a record created after healing.
      const probe = (): void => {
        scheduler.schedule(scheduler.nowMs + 200, EVENT_FAULT, 0, () => {
          if (scheduler.nowMs < healedAt + livenessBoundMs) probe();
          for (let p = 0; p < partitions; p++) {
            if (producer!.lastAckedCreatedAtMs[p]! < healedAt) producer!.create(p);
          }
        });
      };
      probe();
      const live = await runUntil(healedAt + livenessBoundMs, () =>
        producer!.lastAckedCreatedAtMs.every((t) => t >= healedAt),
      );
      if (!live && !limitReached()) {
        const image = controllerImage().topicsByName.get(TOPIC);
        const states = [...(image?.partitions.values() ?? [])].map(
          (p) => `p${p.partitionId}: leader ${p.leader} e${p.leaderEpoch} isr [${p.isr}]`,
        );
        const bs = brokers.map(
          (b) => `b${b.id}: epoch ${b.brokerEpoch} fenced ${b.fenced} controller ${b.controllerId}`,
        );
        const cs = quorumNodes.map(
          (q) =>
            `c${q.id}: ${q.up ? `${q.node.raft?.stateName()}@${q.node.raft?.epoch()} active ${q.activeEpoch}` : 'down'}`,
        );
        bs.push(...cs);
        throw new InvariantViolation(
          `liveness: a partition acknowledged nothing within ${livenessBoundMs} ms of healing (${[...states, ...bs].join('; ')})`,
        );
      }
      // Let followers and the consumer catch up a little, then everything acknowledged is committed.
      await runUntil(scheduler.nowMs + 1000);
      checker.checkAllAcknowledgedCommitted();
      raftChecker?.checkAllDurable();
      if (txn !== undefined) {
        // Transactions: no new one starts; every committed one becomes wholly visible.
        await txn.heal();
        const settled = await runUntil(scheduler.nowMs + livenessBoundMs, () => txn!.settled());
        if (!settled && !limitReached()) {
          throw new InvariantViolation(
            `transactions did not settle within ${livenessBoundMs} ms of healing (${JSON.stringify(txn.stats())})`,
          );
        }
        if (!limitReached()) txn.checker.finalCheck();
      }
    }
  } catch (err) {
    result.ok = false;
    result.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    if (!(err instanceof InvariantViolation) && err instanceof Error && err.stack) result.error += `\n${err.stack}`;
  }
  result.traceHash = scheduler.traceHash();
  result.steps = scheduler.steps;
  result.simMs = scheduler.nowMs;
  for (let p = 0; p < partitions; p++) result.committed += checker.committedEnd(p);
  result.produced = producer.sent;
  result.acknowledged = producer.acknowledged;
  result.consumed = consumer.batchesRead;
  result.crashes = crashes;
  result.powerLosses = powerLosses;
  result.controllerCrashes = controllerCrashes;
  if (quorum) {
    result.controllerActivations = quorumNodes.reduce((n, q) => n + q.activations, 0);
    result.metadataBatches = quorumChecker!.committedBatches;
    result.notControllerAnswers = quorumNodes.reduce((n, q) => n + q.notControllerAnswers, 0);
  }
  result.recordDeletions = deletions;
  for (const b of brokers) {
    result.controlledShutdowns += b.stats.shutdownsGranted;
    result.failedFollowers += b.stats.failedPartitions;
    result.leaderChanges += b.stats.becameLeader;
    result.truncations += b.stats.truncations;
    result.isrShrinks += b.stats.isrShrinks;
  }
  result.messages = network.sent;
  if (txn !== undefined) result.txn = txn.stats();
  if (tail) result.trace = trace;
  return result;
}

function describeMessage(m: ClusterMessage): string {
  const head = `${m.type} ${m.from}->${m.to}`;
  switch (m.type) {
    case 'produce':
      return `${head} p${m.partition} #${m.correlationId}`;
    case 'produceResponse':
      return `${head} p${m.partition} err ${m.errorCode} at ${m.baseOffset} #${m.correlationId}`;
    case 'replicaFetch':
      return `${head} ${m.request.topics
        .flatMap((t) =>
          t.partitions.map((p) => `p${p.partition}@${p.fetchOffset}e${p.currentLeaderEpoch}/${p.lastFetchedEpoch}`),
        )
        .join(' ')}`;
    case 'replicaFetchResponse':
      return `${head} ${m.partitions
        .map(
          ({ data: d }) =>
            `p${d.partitionIndex} err ${d.errorCode} hw ${d.highWatermark} div ${d.divergingEpoch.epoch}/${d.divergingEpoch.endOffset} ${d.records?.length ?? 0}B`,
        )
        .join(' ')}`;
    case 'alterPartition':
      return `${head} ${m.request.topics
        .flatMap((t) =>
          t.partitions.map((p) => `p${p.partitionIndex} e${p.leaderEpoch}/${p.partitionEpoch} isr [${p.newIsr}]`),
        )
        .join(' ')}`;
    case 'alterPartitionResponse':
      return `${head} err ${m.response.errorCode} ${m.response.topics
        .flatMap((t) =>
          t.partitions.map(
            (p) => `p${p.partitionIndex} err ${p.errorCode} e${p.leaderEpoch}/${p.partitionEpoch} isr [${p.isr}]`,
          ),
        )
        .join(' ')}`;
    case 'metadataFetchResponse':
      return `${head} from ${m.fromOffset} +${m.records.length}${m.leaderHint ? ` leader ${m.leaderHint.leaderId}@${m.leaderHint.epoch}` : ''}`;
    case 'raft':
      return `${head} ${m.raft.type}`;
    case 'heartbeatResponse':
      return `${head} err ${m.response.errorCode} fenced ${m.response.isFenced}`;
    case 'registerResponse':
      return `${head} err ${m.response.errorCode} epoch ${m.response.brokerEpoch}`;
    case 'consumerFetchResponse':
      return `${head} p${m.partition}@${m.offset} err ${m.errorCode} hw ${m.highWatermark} ${m.records.length}B`;
    default:
      return head;
  }
}
