/**
 * Group coordinator benchmark, on a broker started in-process (files in a temp dir,
 * __consumer_offsets through the replica manager), calling the coordinator as the
 * handlers do (no sockets, so the figures are the coordinator's and its log's):
 * - rebalance time of a group of 100 members joining at once (JoinGroup with
 *   MEMBER_ID_REQUIRED, rejoin on REBALANCE_IN_PROGRESS, leader SyncGroup with every
 *   assignment, followers' SyncGroup), until one generation holds all of them;
 * - offset commits per second: single-partition commits from 16 groups at once, and
 *   offsets per second in commits of 100 partitions.
 *
 *   node --import tsx bench/groups.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBroker } from '../src/broker/start.ts';
import type { GroupCoordinatorService } from '../src/coordinator/group/coordinator.ts';
import { ErrorCode } from '../src/protocol/generated/errors.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
}

const PROTOCOLS = [{ name: 'range', metadata: Buffer.from([0, 0, 0, 0, 0, 1, 0, 1, 116, 255, 255, 255, 255]) }];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** n members join one group at once; resolves with the ms until a generation holds all n, synced. */
async function rebalance(groups: GroupCoordinatorService, groupId: string, n: number): Promise<number> {
  const started = performance.now();
  const synced = new Map<number, Set<string>>();
  let doneAt = 0;
  let stop = false;
  const base = {
    groupId,
    groupInstanceId: null,
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 60_000,
    protocolType: 'consumer',
    protocols: PROTOCOLS,
    clientHost: '/127.0.0.1',
    apiVersion: 7,
  };
  const member = async (i: number): Promise<void> => {
    const first = await groups.joinGroup({ ...base, memberId: '', clientId: `m${i}` });
    const memberId = first.memberId;
    while (!stop) {
      const joined = await groups.joinGroup({ ...base, memberId, clientId: `m${i}` });
      if (joined.errorCode !== 0) throw new Error(`join: error ${joined.errorCode}`);
      const assignments =
        joined.leader === memberId
          ? joined.members.map((m) => ({ memberId: m.memberId, assignment: Buffer.from(m.memberId) }))
          : [];
      const sync = await groups.syncGroup({
        groupId,
        generationId: joined.generationId,
        memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocolName: 'range',
        assignments,
      });
      if (sync.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) continue;
      if (sync.errorCode !== 0) throw new Error(`sync: error ${sync.errorCode}`);
      let set = synced.get(joined.generationId);
      if (set === undefined) {
        set = new Set();
        synced.set(joined.generationId, set);
      }
      set.add(memberId);
      if (set.size === n && doneAt === 0) {
        doneAt = performance.now();
        stop = true;
      }
      // Heartbeat until told to rejoin.
      while (!stop) {
        await sleep(20);
        const code = await groups.heartbeat(groupId, memberId, null, joined.generationId);
        if (code === ErrorCode.REBALANCE_IN_PROGRESS) break;
        if (code !== 0) throw new Error(`heartbeat: error ${code}`);
      }
    }
  };
  await Promise.all(Array.from({ length: n }, (_, i) => member(i)));
  await groups.leaveGroup(
    groupId,
    [...(synced.get(Math.max(...synced.keys())) ?? [])].map((memberId) => ({ memberId, groupInstanceId: null })),
  );
  return doneAt - started;
}

async function commits(
  groups: GroupCoordinatorService,
  committers: number,
  perCommitter: number,
  partitionsPerCommit: number,
): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: committers }, async (_, c) => {
      for (let i = 0; i < perCommitter; i++) {
        const out = await groups.commitOffsets({
          groupId: `bench-commit-${c}`,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          retentionTimeMs: -1,
          apiVersion: 8,
          topics: [
            {
              name: 'bench',
              partitions: Array.from({ length: partitionsPerCommit }, (_, p) => ({
                partitionIndex: p,
                committedOffset: i,
                committedLeaderEpoch: 0,
                commitTimestampMs: -1,
                committedMetadata: null,
              })),
            },
          ],
        });
        if (out.errorCode !== 0) throw new Error(`commit: error ${out.errorCode}`);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function runGroupsBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-bench-groups-'));
  const broker = await startBroker({
    config: {
      'log.dirs': dir,
      listeners: 'PLAINTEXT://127.0.0.1:0',
      'group.initial.rebalance.delay.ms': '0',
    },
    announce: () => {},
  });
  const figures: BenchFigure[] = [];
  try {
    const groups = broker.services.groups;
    await broker.services.controller.createTopics(
      [{ name: 'bench', numPartitions: 100, replicationFactor: 1, assignments: [], configs: [] }],
      false,
    );
    for (let i = 0; i < 16; i++) {
      for (let tries = 0; (await groups.findCoordinator(`bench-commit-${i}`)).errorCode !== 0; tries++) {
        if (tries > 100) throw new Error('coordinator not available');
        await sleep(10);
      }
    }
    await groups.findCoordinator('bench-rebalance');

    const members = 100;
    const rounds = opts.quick ? 1 : 3;
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < rounds; r++) best = Math.min(best, await rebalance(groups, `bench-rebalance-${r}`, members));
    figures.push({ name: `rebalance, ${members} members joining at once`, value: round(best), unit: 'ms' });

    const perCommitter = opts.quick ? 200 : 2000;
    const single = await commits(groups, 16, perCommitter, 1);
    figures.push({
      name: 'offset commits, 1 partition, 16 groups',
      value: Math.round((16 * perCommitter) / single),
      unit: 'commits/s',
    });
    const batched = await commits(groups, 4, perCommitter / 10, 100);
    figures.push({
      name: 'offsets committed, 100 partitions per commit',
      value: Math.round((4 * (perCommitter / 10) * 100) / batched),
      unit: 'offsets/s',
    });
  } finally {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
  const figures = await runGroupsBench({ quick: values.quick ?? false });
  for (const f of figures) console.log(`${f.name.padEnd(52)} ${String(f.value).padStart(10)} ${f.unit}`);
}
