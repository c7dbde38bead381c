/**
 * `npm run sim -- --seeds N [--sim raft|cluster|all] [--seed S] [--steps K] [--first F] [--verbose]`
 *
 * Runs N seeded simulations of a 3-voter Raft quorum (--sim raft), of a 3-broker cluster
 * replicating partitions (--sim cluster, cluster-run.ts), or both (--sim all, the default)
 * under random faults, or replays one with --seed; invariants are checked after every
 * event. Prints progress, a summary, and for a failure the seed and the command that
 * replays it; each run prints (or sums up) a trace hash so a replay can be shown to be
 * the same run. --bug NAME plants a bug in the cluster simulation (hw-is-leo,
 * ack-before-isr; with transactions lso-is-hw, prepare-not-durable) to watch the checker
 * catch it. --txn adds transactions to the cluster simulation (cluster-txn.ts).
 * The cluster simulation's controller is a simulated Raft quorum of three controller nodes
 * (cluster-quorum.ts); --controllers 1 runs one controller process instead (its log durable
 * at once). --bug controller-acts-early or answer-before-commit plants a controller bug in
 * the quorum.
 */

import type { PlantedBug } from './cluster-broker.ts';
import type { ControllerBug } from './cluster-quorum.ts';
import { type ClusterSimResult, runClusterSeed } from './cluster-run.ts';
import type { TxnBug } from './cluster-txn.ts';
import type { SimResult } from './run.ts';
import { runSeed } from './run.ts';

interface Args {
  sim: 'raft' | 'cluster' | 'all';
  bug: PlantedBug;
  txn: boolean;
  txnBug: TxnBug;
  controllers: 1 | 3;
  controllerBug: ControllerBug;
  seeds: number;
  seed?: number;
  first: number;
  steps: number;
  voters: number;
  wire: boolean;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    sim: 'all',
    bug: 'none',
    txn: false,
    txnBug: 'none',
    controllers: 3,
    controllerBug: 'none',
    seeds: 100,
    first: 1,
    steps: 0,
    voters: 3,
    wire: false,
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} wants a non-negative integer`);
      return v;
    };
    if (a === '--sim') {
      const v = argv[++i];
      if (v !== 'raft' && v !== 'cluster' && v !== 'all') throw new Error('--sim wants raft, cluster or all');
      args.sim = v;
    } else if (a === '--bug') {
      const v = argv[++i];
      if (v === 'controller-acts-early' || v === 'answer-before-commit') {
        args.controllers = 3;
        args.controllerBug = v;
      } else if (v === 'lso-is-hw' || v === 'prepare-not-durable' || v === 'lso-ignores-unreplicated') {
        args.txn = true;
        args.txnBug = v;
      } else if (v !== 'none' && v !== 'hw-is-leo' && v !== 'ack-before-isr') {
        throw new Error(
          '--bug wants hw-is-leo, ack-before-isr, lso-is-hw, lso-ignores-unreplicated, prepare-not-durable, controller-acts-early or answer-before-commit',
        );
      } else args.bug = v;
    } else if (a === '--seeds') args.seeds = value();
    else if (a === '--seed') args.seed = value();
    else if (a === '--first') args.first = value();
    else if (a === '--steps') args.steps = value();
    else if (a === '--voters') args.voters = Math.max(1, value());
    else if (a === '--wire') args.wire = true;
    else if (a === '--controllers') {
      const v = value();
      if (v !== 1 && v !== 3) throw new Error('--controllers wants 1 or 3');
      args.controllers = v;
    } else if (a === '--txn') args.txn = true;
    else if (a === '--verbose' || a === '-v') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run sim -- [--sim raft|cluster|all] [--seeds N] [--first F] [--seed S] [--steps K] [--voters V] [--wire] [--txn] [--controllers 1|3] [--bug hw-is-leo|ack-before-isr|lso-is-hw|lso-ignores-unreplicated|prepare-not-durable|controller-acts-early|answer-before-commit] [--verbose]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

function describe(r: SimResult): string {
  return (
    `seed ${r.seed}: ${r.ok ? 'ok' : 'FAIL'} trace ${r.traceHash} steps ${r.steps} sim ${(r.simMs / 1000).toFixed(1)}s ` +
    `committed ${r.committedEnd} acked ${r.acknowledged}/${r.appended} epochs ${r.leaders} crashes ${r.crashes} msgs ${r.messages}`
  );
}

function describeCluster(r: ClusterSimResult): string {
  return (
    `cluster seed ${r.seed}: ${r.ok ? 'ok' : 'FAIL'} trace ${r.traceHash} steps ${r.steps} sim ${(r.simMs / 1000).toFixed(1)}s ` +
    `committed ${r.committed} acked ${r.acknowledged} consumed ${r.consumed} leaders ${r.leaderChanges} ` +
    `truncations ${r.truncations} shrinks ${r.isrShrinks} crashes ${r.crashes} power ${r.powerLosses} ` +
    `controller ${r.controllerCrashes} shutdowns ${r.controlledShutdowns} deletions ${r.recordDeletions} msgs ${r.messages}` +
    (r.controllerActivations === undefined
      ? ''
      : ` activations ${r.controllerActivations} metadata batches ${r.metadataBatches} not-controller ${r.notControllerAnswers}`) +
    (r.txn === undefined
      ? ''
      : ` txns ${r.txn.txnsBegun} committed ${r.txn.txnsCommitted} aborted ${r.txn.txnsAborted} fenced ${r.txn.fenced} ` +
        `coordinator crashes ${r.txn.coordinatorCrashes} resumed markers ${r.txn.resumedMarkers} read_committed ${r.txn.visibleRecords} skipped ${r.txn.skippedAborted}`)
  );
}

async function mainCluster(args: Args): Promise<void> {
  const bugFlag =
    (args.bug !== 'none' ? ` --bug ${args.bug}` : '') +
    (args.controllerBug !== 'none'
      ? ` --bug ${args.controllerBug}`
      : args.controllers === 1
        ? ' --controllers 1'
        : '') +
    (args.txnBug !== 'none' ? ` --bug ${args.txnBug}` : args.txn ? ' --txn' : '');
  const stepsFlag = `${args.steps ? ` --steps ${args.steps}` : ''}${args.wire ? ' --wire' : ''}`;
  if (args.seed !== undefined) {
    const r = await runClusterSeed({
      seed: args.seed,
      maxSteps: args.steps,
      bug: args.bug,
      wire: args.wire,
      txn: args.txn,
      txnBug: args.txnBug,
      controllers: args.controllers,
      controllerBug: args.controllerBug,
      traceTail: args.verbose ? 400 : 0,
    });
    if (r.trace) for (const line of r.trace) console.log(line);
    console.log(describeCluster(r));
    if (!r.ok) {
      console.log(r.error);
      process.exitCode = 1;
    }
    return;
  }
  const started = performance.now();
  const failures: ClusterSimResult[] = [];
  let steps = 0;
  let combined = 0;
  const totals = {
    committed: 0,
    acknowledged: 0,
    leaderChanges: 0,
    truncations: 0,
    isrShrinks: 0,
    powerLosses: 0,
    crashes: 0,
    controllerCrashes: 0,
    controlledShutdowns: 0,
    recordDeletions: 0,
    failedFollowers: 0,
    controllerActivations: 0,
    metadataBatches: 0,
    notControllerAnswers: 0,
  };
  const txnTotals: Record<string, number> = {};
  const last = args.first + args.seeds - 1;
  for (let seed = args.first; seed <= last; seed++) {
    const r = await runClusterSeed({
      seed,
      maxSteps: args.steps,
      bug: args.bug,
      wire: args.wire,
      txn: args.txn,
      txnBug: args.txnBug,
      controllers: args.controllers,
      controllerBug: args.controllerBug,
    });
    steps += r.steps;
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r[k] ?? 0;
    if (r.txn !== undefined) {
      for (const [k, v] of Object.entries(r.txn)) txnTotals[k] = (txnTotals[k] ?? 0) + v;
    }
    combined = ((Math.imul(combined ^ Number.parseInt(r.traceHash.slice(0, 8), 16), 0x01000193) >>> 0) ^ seed) >>> 0;
    if (args.verbose) console.log(describeCluster(r));
    if (!r.ok) {
      failures.push(r);
      console.log(describeCluster(r));
      console.log(`  ${r.error?.split('\n')[0]}`);
      console.log(`  replay: npm run sim -- --sim cluster --seed ${seed}${stepsFlag}${bugFlag} --verbose`);
    }
    const done = seed - args.first + 1;
    if (!args.verbose && done % 100 === 0) {
      const s = (performance.now() - started) / 1000;
      console.log(`cluster: ${done}/${args.seeds} seeds, ${failures.length} failed, ${s.toFixed(1)} s`);
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `cluster: ${args.seeds} seeds (${args.first}..${last}): ${args.seeds - failures.length} ok, ${failures.length} failed; ` +
      `${steps} events; ${elapsed.toFixed(1)} s (${((elapsed * 1000) / Math.max(1, args.seeds)).toFixed(1)} ms/seed); ` +
      `combined trace ${combined.toString(16).padStart(8, '0')}`,
  );
  console.log(
    `cluster coverage: ${Object.entries(totals)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (args.txn) {
    console.log(
      `cluster transactions: ${Object.entries(txnTotals)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  }
  if (failures.length > 0) {
    console.log(`cluster failing seeds: ${failures.map((f) => f.seed).join(' ')}`);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.sim !== 'raft') {
    await mainCluster(args);
    if (args.sim === 'cluster') return;
  }
  if (args.seed !== undefined) {
    const r = await runSeed({
      seed: args.seed,
      maxSteps: args.steps,
      voters: args.voters,
      wire: args.wire,
      traceTail: args.verbose ? 200 : 0,
    });
    if (r.trace) for (const line of r.trace) console.log(line);
    console.log(describe(r));
    if (!r.ok) {
      console.log(r.error);
      process.exitCode = 1;
    }
    return;
  }
  const started = performance.now();
  const failures: SimResult[] = [];
  let steps = 0;
  const totals: Record<string, number> = {};
  let combined = 0;
  const last = args.first + args.seeds - 1;
  for (let seed = args.first; seed <= last; seed++) {
    const r = await runSeed({ seed, maxSteps: args.steps, voters: args.voters, wire: args.wire });
    steps += r.steps;
    for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v;
    combined = ((Math.imul(combined ^ Number.parseInt(r.traceHash.slice(0, 8), 16), 0x01000193) >>> 0) ^ seed) >>> 0;
    if (args.verbose) console.log(describe(r));
    if (!r.ok) {
      failures.push(r);
      console.log(describe(r));
      console.log(`  ${r.error?.split('\n')[0]}`);
      const extra = `${args.steps ? ` --steps ${args.steps}` : ''}${args.voters !== 3 ? ` --voters ${args.voters}` : ''}${args.wire ? ' --wire' : ''}`;
      console.log(`  replay: npm run sim -- --sim raft --seed ${seed}${extra} --verbose`);
    }
    const done = seed - args.first + 1;
    if (!args.verbose && done % 100 === 0) {
      const s = (performance.now() - started) / 1000;
      console.log(`${done}/${args.seeds} seeds, ${failures.length} failed, ${s.toFixed(1)} s`);
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `${args.seeds} seeds (${args.first}..${last}): ${args.seeds - failures.length} ok, ${failures.length} failed; ` +
      `${steps} events; ${elapsed.toFixed(1)} s (${((elapsed * 1000) / Math.max(1, args.seeds)).toFixed(1)} ms/seed); ` +
      `combined trace ${combined.toString(16).padStart(8, '0')}`,
  );
  console.log(
    `coverage: ${Object.entries(totals)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (failures.length > 0) {
    console.log(`failing seeds: ${failures.map((f) => f.seed).join(' ')}`);
    process.exitCode = 1;
  }
}

await main();
