/**
 * `npm run sim -- --seeds N [--seed S] [--steps K] [--first F] [--verbose]`
 *
 * Runs N seeded simulations of a 3-voter Raft quorum under random faults (or replays
 * one with --seed), checking invariants after every event. Prints progress, a summary,
 * and for a failure the seed and the command that replays it; each run prints (or sums
 * up) a trace hash so a replay can be shown to be the same run.
 */

import type { SimResult } from './run.ts';
import { runSeed } from './run.ts';

interface Args {
  seeds: number;
  seed?: number;
  first: number;
  steps: number;
  voters: number;
  wire: boolean;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 100, first: 1, steps: 0, voters: 3, wire: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} wants a non-negative integer`);
      return v;
    };
    if (a === '--seeds') args.seeds = value();
    else if (a === '--seed') args.seed = value();
    else if (a === '--first') args.first = value();
    else if (a === '--steps') args.steps = value();
    else if (a === '--voters') args.voters = Math.max(1, value());
    else if (a === '--wire') args.wire = true;
    else if (a === '--verbose' || a === '-v') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run sim -- [--seeds N] [--first F] [--seed S] [--steps K] [--voters V] [--wire] [--verbose]',
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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
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
      console.log(`  replay: npm run sim -- --seed ${seed}${extra} --verbose`);
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
