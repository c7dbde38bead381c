/**
 * One simulated run from a seed: 3 voters (and optionally an observer), a client
 * appending records to whoever leads, a fault schedule drawn from the seed, invariants
 * after every event, then a liveness phase: every fault heals and the quorum must elect
 * a leader and commit a new append within a bound.
 *
 * Everything random comes from one seeded generator in a fixed order, so a seed replays
 * the same event trace (`traceHash`).
 */

import type { Random } from '../env/random.ts';
import { seededRandom } from '../env/random.ts';
import { raftConfig } from '../raft/config.ts';
import type { RaftNode, RaftStats } from '../raft/raft.ts';
import type { LogBatch, RaftMessage } from '../raft/types.ts';
import { wireRoundTrip } from '../raft/wire.ts';
import { InvariantChecker, InvariantViolation } from './invariants.ts';
import { SimNetwork } from './network.ts';
import { EVENT_APPEND, EVENT_RESTART, SimRaftNode } from './raft-node.ts';
import { Scheduler } from './scheduler.ts';

export interface SimOptions {
  seed: number;
  voters?: number;
  observers?: number;
  /** Simulated ms with faults. */
  faultPhaseMs?: number;
  /** Simulated ms allowed, after healing, to elect a leader and commit a new append. */
  livenessBoundMs?: number;
  /** Stop after this many events (0: no limit). */
  maxSteps?: number;
  /** Record a readable trace of the last events (for a failing seed). */
  traceTail?: number;
  /** Send every message through its wire bytes (generated codecs, record batches). */
  wire?: boolean;
  /** Sees every message as it is delivered (tests: wire round trips). */
  onMessage?: (message: RaftMessage) => void;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  error?: string;
  traceHash: string;
  steps: number;
  simMs: number;
  committedEnd: number;
  appended: number;
  acknowledged: number;
  leaders: number;
  crashes: number;
  snapshotsLoaded: number;
  messages: number;
  /** Protocol events summed over every node life (coverage). */
  stats: RaftStats;
  trace?: string[];
}

const EVENT_FAULT = 7;

interface PendingAppend {
  key: string;
  offset: number;
  epoch: number;
}

export async function runSeed(options: SimOptions): Promise<SimResult> {
  const seed = options.seed;
  const random: Random = seededRandom(seed);
  const voterCount = options.voters ?? 3;
  const observerCount = options.observers ?? (seed % 4 === 0 ? 1 : 0);
  const faultPhaseMs = options.faultPhaseMs ?? 20_000;
  const livenessBoundMs = options.livenessBoundMs ?? 15_000;
  const maxSteps = options.maxSteps ?? 0;
  const voters = Array.from({ length: voterCount }, (_, i) => i + 1);
  const all = Array.from({ length: voterCount + observerCount }, (_, i) => i + 1);
  const scheduler = new Scheduler();
  const trace: string[] = [];
  const tail = options.traceTail ?? 0;
  const note = (s: string): void => {
    if (tail === 0) return;
    trace.push(`${scheduler.nowMs} ${s}`);
    if (trace.length > tail) trace.shift();
  };

  const nodes: SimRaftNode[] = [];
  const network = new SimNetwork<RaftMessage>(
    scheduler,
    random,
    { baseDelayMs: 1, jitterMs: 4, dropRate: 0.01, duplicateRate: 0.01 },
    (m) => {
      if (tail) note(`deliver ${m.type} ${m.from}->${m.to} #${m.correlationId}`);
      options.onMessage?.(m);
      return nodes[m.to - 1]!.receive(options.wire ? wireRoundTrip(m) : m);
    },
  );
  let checker: InvariantChecker | undefined;
  const acked = new Map<number, string>();
  let pending: PendingAppend[] = [];
  let appended = 0;
  let snapshotsLoaded = 0;
  const hooks = {
    onCommit(node: SimRaftNode, batches: readonly LogBatch[]): void {
      checker?.onCommit(node, batches);
      // The client's records are acknowledged once committed on the node that took them.
      for (const b of batches) {
        if (b.control) continue;
        const key = b.records[0]!.toString('latin1');
        const i = pending.findIndex((p) => p.key === key && p.offset === b.baseOffset + b.records.length - 1);
        if (i >= 0) {
          acked.set(pending[i]!.offset, key);
          pending.splice(i, 1);
        }
      }
    },
  };
  for (const id of all) {
    const config = raftConfig(id, voters, { snapshotChunkBytes: 256 });
    const node = new SimRaftNode(id, config, scheduler, random, (m) => network.send(m), hooks, {
      diskProfile: { syncBaseMs: 1, syncJitterMs: 3 },
      snapshotEveryRecords: 20 + random.int(40),
      snapshotPadBytes: random.int(1500),
    });
    node.clockRate = 0.95 + random.next() * 0.1;
    node.clockOffsetMs = random.int(1_000_000);
    nodes.push(node);
  }
  checker = new InvariantChecker(nodes, voters);
  const totals: RaftStats = {
    elections: 0,
    leaderships: 0,
    preVotesRejected: 0,
    truncations: 0,
    snapshotsFetched: 0,
    resignations: 0,
    checkQuorumResignations: 0,
  };
  const addStats = (raft: RaftNode | undefined): void => {
    if (!raft) return;
    for (const k of Object.keys(totals) as (keyof RaftStats)[]) totals[k] += raft.stats[k];
  };
  for (const n of nodes) n.onLifeEnd = addStats;

  // ---- the client: appends to whoever claims to lead ----
  let clientSeq = 0;
  const scheduleClient = (atMs: number): void => {
    scheduler.schedule(atMs, EVENT_APPEND, 0, () => {
      const next = scheduler.nowMs + 50 + random.int(250);
      if (scheduler.nowMs < stopClientAtMs) scheduleClient(next);
      const leader = nodes.find((n) => n.up && n.raft?.stateName() === 'leader');
      if (!leader?.raft) return;
      const epoch = leader.raft.epoch();
      const count = 1 + random.int(3);
      const records: Buffer[] = [];
      const key = `c${clientSeq++}`;
      for (let i = 0; i < count; i++) records.push(Buffer.from(i === 0 ? key : `${key}.${i}`, 'latin1'));
      return leader.append(epoch, records, (offset) => {
        if (offset === undefined) {
          note(`append ${key} refused by ${leader.id}`);
          return;
        }
        appended++;
        pending.push({ key, offset, epoch });
        if (pending.length > 1000) pending = pending.slice(-500);
        note(`append ${key} at ${offset} on ${leader.id} e${epoch}`);
      });
    });
  };
  let stopClientAtMs = faultPhaseMs;

  // ---- the fault schedule, drawn from the seed ----
  let crashes = 0;
  // Some seeds are calm, some are storms.
  const faultCount = 2 + random.int(random.int(2) === 0 ? 8 : 24);
  for (let i = 0; i < faultCount; i++) {
    const at = 500 + random.int(Math.max(1, faultPhaseMs - 4000));
    const kind = random.int(8);
    const target = all[random.int(all.length)]!;
    const other = all[random.int(all.length)]!;
    const duration = 300 + random.int(6000);
    scheduler.schedule(at, EVENT_FAULT, target, async () => {
      const n = nodes[target - 1]!;
      switch (kind) {
        case 0:
        case 1: {
          // Crash and restart later.
          if (!n.up) return;
          note(`crash ${target}`);
          crashes++;
          n.crash();
          scheduler.schedule(scheduler.nowMs + duration, EVENT_RESTART, target, async () => {
            if (n.up) return;
            note(`restart ${target}`);
            await n.restart();
            checker!.onRestart(n);
          });
          return;
        }
        case 2:
          note(`isolate ${target}`);
          network.isolate(target, all);
          scheduler.schedule(scheduler.nowMs + duration, EVENT_FAULT, target, () => {
            for (const o of all) {
              network.healLink(target, o);
              network.healLink(o, target);
            }
          });
          return;
        case 3:
          if (other === target) return;
          note(`cut ${target}->${other}`);
          network.cutLink(target, other);
          scheduler.schedule(scheduler.nowMs + duration, EVENT_FAULT, target, () => network.healLink(target, other));
          return;
        case 4:
          note(`lossy ${target}`);
          for (const o of all) network.setLink(target, o, { dropRate: 0.3, duplicateRate: 0.1, jitterMs: 40 });
          scheduler.schedule(scheduler.nowMs + duration, EVENT_FAULT, target, () => {
            for (const o of all) network.setLink(target, o, undefined);
          });
          return;
        case 5:
          note(`slow disk ${target}`);
          n.diskProfile = { syncBaseMs: 30, syncJitterMs: 400 };
          scheduler.schedule(scheduler.nowMs + duration, EVENT_FAULT, target, () => {
            n.diskProfile = { syncBaseMs: 1, syncJitterMs: 3 };
          });
          return;
        case 7: {
          // A slow disk, and a crash while writes wait for fsync: what was not flushed is lost.
          if (!n.up) return;
          note(`slow disk then crash ${target}`);
          n.diskProfile = { syncBaseMs: 50, syncJitterMs: 300 };
          scheduler.schedule(scheduler.nowMs + 100 + random.int(1500), EVENT_FAULT, target, () => {
            n.diskProfile = { syncBaseMs: 1, syncJitterMs: 3 };
            if (!n.up) return;
            crashes++;
            n.crash();
            scheduler.schedule(scheduler.nowMs + duration, EVENT_RESTART, target, async () => {
              if (n.up) return;
              await n.restart();
              checker!.onRestart(n);
            });
          });
          return;
        }
        case 6: {
          // The leader resigns gracefully (a controlled shutdown).
          const leader = nodes.find((x) => x.up && x.raft?.stateName() === 'leader');
          if (!leader) return;
          note(`resign ${leader.id}`);
          return leader.resign();
        }
      }
    });
  }

  // ---- run ----
  const result: SimResult = {
    seed,
    ok: true,
    traceHash: '',
    steps: 0,
    simMs: 0,
    committedEnd: 0,
    appended: 0,
    acknowledged: 0,
    leaders: 0,
    crashes: 0,
    snapshotsLoaded: 0,
    messages: 0,
    stats: totals,
  };
  const leadersSeen = new Set<string>();
  try {
    for (const n of nodes) await n.start();
    scheduleClient(100);
    const limitReached = (): boolean => maxSteps > 0 && scheduler.steps >= maxSteps;
    const runUntil = async (untilMs: number, stop?: () => boolean): Promise<boolean> => {
      while (!limitReached()) {
        if (!(await scheduler.step(untilMs))) return false;
        checker!.check();
        for (const n of nodes) {
          if (n.up && n.raft?.stateName() === 'leader') leadersSeen.add(`${n.raft.epoch()}`);
        }
        if (stop?.()) return true;
      }
      return false;
    };
    await runUntil(faultPhaseMs);
    if (!limitReached()) {
      // Heal everything: links, disks, down nodes.
      stopClientAtMs = 0;
      network.healAll();
      network.defaults = { ...network.defaults, dropRate: 0, duplicateRate: 0 };
      for (const n of nodes) {
        n.diskProfile = { syncBaseMs: 1, syncJitterMs: 3 };
        if (!n.up) {
          await n.restart();
          checker.onRestart(n);
        }
      }
      const healedAt = scheduler.nowMs;
      // Liveness: a leader, and one new append committed, within the bound.
      let probeKey: string | undefined;
      let probeOffset = -1;
      let probeEpoch = -1;
      let probes = 0;
      const probe = (): Promise<void> | undefined => {
        const leader = nodes.find((n) => n.up && n.raft?.stateName() === 'leader');
        if (!leader?.raft) return undefined;
        // One probe per leader epoch: an append a deposed leader took may be truncated.
        if (probeKey !== undefined && probeEpoch === leader.raft.epoch()) return undefined;
        probeEpoch = leader.raft.epoch();
        probeOffset = -1;
        probeKey = `probe${seed}.${probes++}`;
        const key = probeKey;
        const epoch = leader.raft.epoch();
        return leader.append(epoch, [Buffer.from(key, 'latin1')], (offset) => {
          if (offset === undefined) {
            note(`probe refused by ${leader.id}`);
            probeKey = undefined;
            return;
          }
          probeOffset = offset;
          pending.push({ key, offset, epoch });
          note(`probe ${key} at ${offset} on ${leader.id} e${epoch}`);
        });
      };
      const probeTick = (): void => {
        scheduler.schedule(scheduler.nowMs + 100, EVENT_APPEND, 0, () => {
          if (scheduler.nowMs < healedAt + livenessBoundMs) probeTick();
          return probe();
        });
      };
      probeTick();
      const live = await runUntil(healedAt + livenessBoundMs, () => probeOffset >= 0 && acked.has(probeOffset));
      if (!live && !limitReached()) {
        const states = nodes.map((n) => `${n.id}:${n.up ? `${n.raft?.stateName()}@${n.raft?.epoch()}` : 'down'}`);
        throw new InvariantViolation(
          `liveness: no committed append within ${livenessBoundMs} ms of healing (${states.join(' ')})`,
        );
      }
    }
    checker.checkAllDurable();
    // Every acknowledged record is in the committed log.
    for (const [offset, key] of acked) {
      let found = false;
      for (const [base, k] of checker.committed) {
        if (base <= offset && k.includes(`|${key}`)) {
          found = true;
          break;
        }
      }
      if (!found) throw new InvariantViolation(`acknowledged record ${key} at ${offset} is not in the committed log`);
    }
  } catch (err) {
    result.ok = false;
    result.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    if (!(err instanceof InvariantViolation) && err instanceof Error && err.stack) result.error += `\n${err.stack}`;
  }
  for (const n of nodes) {
    snapshotsLoaded += n.restarts;
    addStats(n.raft);
  }
  result.traceHash = scheduler.traceHash();
  result.steps = scheduler.steps;
  result.simMs = scheduler.nowMs;
  result.committedEnd = checker.committedEnd;
  result.appended = appended;
  result.acknowledged = acked.size;
  result.leaders = leadersSeen.size;
  result.crashes = crashes;
  result.snapshotsLoaded = snapshotsLoaded;
  result.messages = network.sent;
  if (tail) result.trace = trace;
  return result;
}
