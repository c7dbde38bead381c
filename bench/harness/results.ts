/**
 * The results model: every section returns figures; figures are set beside the machine's
 * ceilings and the peers' figures for the same metric, as ratios, and checked against the goals.
 */

/** What a figure is for: a limit of the machine, a peer to beat, Runnel itself, or a component. */
export type FigureKind = 'ceiling' | 'peer' | 'subject' | 'component';

export interface Figure {
  /** Section key, as given to `--only` (several sections may share one). */
  readonly section: string;
  /** Who produced it, for the table: "NATS JetStream (file)". */
  readonly source: string;
  readonly kind: FigureKind;
  /** Stable id for comparisons: the same metric in two sources is compared. */
  readonly metric: string;
  readonly name: string;
  /** null when not measured; `note` says why. */
  readonly value: number | null;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** The metric of the ceiling this figure is set against, if any. */
  readonly ceiling?: string;
  readonly note?: string;
  /** false when the peers were driven so differently that a ratio would mislead (a C client). */
  readonly peerComparable?: boolean;
}

/** Known metrics, so that every section names, units and compares them the same way. */
export const METRICS = {
  'loopback-MBps': { name: 'loopback TCP, 2 processes', unit: 'MB/s', better: 'higher' },
  'disk-write-MBps': { name: 'sequential write, no fsync', unit: 'MB/s', better: 'higher' },
  'disk-fdatasync-MBps': { name: 'sequential write, fdatasync/1 MiB', unit: 'MB/s', better: 'higher' },
  'produce-MBps': { name: 'produce, max rate', unit: 'MB/s', better: 'higher', ceiling: 'loopback-MBps' },
  'produce-rps': { name: 'produce, max rate, records', unit: 'records/s', better: 'higher' },
  'produce-MBps-rf3': {
    name: 'produce, max rate, RF=3 (3 brokers, min.insync=2)',
    unit: 'MB/s',
    better: 'higher',
    ceiling: 'loopback-MBps',
  },
  'produce-rps-rf3': { name: 'produce, max rate, RF=3, records', unit: 'records/s', better: 'higher' },
  'consume-MBps-rf3': { name: 'consume backlog, RF=3', unit: 'MB/s', better: 'higher', ceiling: 'loopback-MBps' },
  'consume-rps-rf3': { name: 'consume backlog, RF=3, records', unit: 'records/s', better: 'higher' },
  'e2e-rate-MBps-rf3': { name: 'fixed rate achieved, RF=3', unit: 'MB/s', better: 'higher' },
  'e2e-p50-ms-rf3': { name: 'end-to-end p50, RF=3', unit: 'ms', better: 'lower' },
  'e2e-p99-ms-rf3': { name: 'end-to-end p99, RF=3', unit: 'ms', better: 'lower' },
  'e2e-p999-ms-rf3': { name: 'end-to-end p99.9, RF=3', unit: 'ms', better: 'lower' },
  'e2e-max-ms-rf3': { name: 'end-to-end max, RF=3', unit: 'ms', better: 'lower' },
  'produce-MBps-p100': { name: 'produce, max rate, 100p', unit: 'MB/s', better: 'higher', ceiling: 'loopback-MBps' },
  'produce-rps-p100': { name: 'produce, max rate, 100p, records', unit: 'records/s', better: 'higher' },
  'consume-MBps-p100': { name: 'consume backlog, 100p', unit: 'MB/s', better: 'higher', ceiling: 'loopback-MBps' },
  'consume-rps-p100': { name: 'consume backlog, 100p, records', unit: 'records/s', better: 'higher' },
  'consume-MBps': { name: 'consume backlog', unit: 'MB/s', better: 'higher', ceiling: 'loopback-MBps' },
  'consume-rps': { name: 'consume backlog, records', unit: 'records/s', better: 'higher' },
  'e2e-rate-MBps': { name: 'fixed rate achieved', unit: 'MB/s', better: 'higher' },
  'e2e-p50-ms': { name: 'end-to-end p50', unit: 'ms', better: 'lower' },
  'e2e-p99-ms': { name: 'end-to-end p99', unit: 'ms', better: 'lower' },
  'e2e-p999-ms': { name: 'end-to-end p99.9', unit: 'ms', better: 'lower' },
  'e2e-max-ms': { name: 'end-to-end max', unit: 'ms', better: 'lower' },
  'ready-ms': { name: 'ready (startBroker -> listening)', unit: 'ms', better: 'lower' },
  'process-ready-ms': { name: 'ready (spawn -> listening line)', unit: 'ms', better: 'lower' },
  'first-produce-ms': { name: 'start-up (spawn -> first acked produce)', unit: 'ms', better: 'lower' },
  'start-cpu-ms': { name: 'start-up CPU (spawn -> unfenced, user+system)', unit: 'ms', better: 'lower' },
  'idle-rss-floor-MB': { name: 'idle RSS of node --import tsx', unit: 'MB', better: 'lower' },
  'idle-rss-node-MB': { name: 'idle RSS of node (no loader)', unit: 'MB', better: 'lower' },
  'idle-rss-MB': { name: 'idle RSS', unit: 'MB', better: 'lower', ceiling: 'idle-rss-node-MB' },
  'partitions-create-ms': { name: 'time to create the partitions', unit: 'ms', better: 'lower' },
  'partitions-rss-MB': { name: 'RSS with the partitions', unit: 'MB', better: 'lower' },
} as const satisfies Record<string, { name: string; unit: string; better: 'higher' | 'lower'; ceiling?: string }>;

export type MetricId = keyof typeof METRICS;

export function figure(
  section: string,
  source: string,
  kind: FigureKind,
  metric: MetricId,
  value: number | null,
  note?: string,
): Figure {
  const known: { name: string; unit: string; better: 'higher' | 'lower'; ceiling?: string } = METRICS[metric];
  return {
    section,
    source,
    kind,
    metric,
    name: known.name,
    value,
    unit: known.unit,
    better: known.better,
    ...(known.ceiling === undefined ? {} : { ceiling: known.ceiling }),
    ...(note === undefined ? {} : { note }),
  };
}

/** A figure from a component bench (codec, storage), named freely by that bench. */
export function componentFigure(
  section: string,
  source: string,
  raw: { name: string; value: number; unit: string },
  ceiling?: MetricId,
): Figure {
  const lower = /^(ns|us|µs|ms|s)$|\/op$|\/record$/.test(raw.unit);
  return {
    section,
    source,
    kind: 'component',
    metric: `${section}:${raw.name}`,
    name: raw.name,
    value: raw.value,
    unit: raw.unit,
    better: lower ? 'lower' : 'higher',
    ...(ceiling === undefined ? {} : { ceiling }),
  };
}

/** A row saying a whole section produced nothing, and why. */
export function missingSection(section: string, source: string, why: string): Figure {
  return {
    section,
    source,
    kind: 'component',
    metric: `${section}:missing`,
    name: '-',
    value: null,
    unit: '',
    better: 'higher',
    note: why,
  };
}

export type GoalStatus = 'pass' | 'miss' | 'n/a';

export interface GoalResult {
  readonly goal: string;
  readonly status: GoalStatus;
}

export interface Row {
  readonly figure: Figure;
  readonly ceiling?: Figure;
  /** value / ceiling */
  readonly ceilingRatio?: number;
  /** Per peer source: the peer's figure and how many times better the subject is (>1 = better). */
  readonly peers: ReadonlyMap<string, { peer: Figure; advantage: number | null }>;
  readonly goals: readonly GoalResult[];
}

export interface RunContext {
  /** The fixed rate of the latency phase, MB/s. */
  readonly fixedRateMBps: number;
}

interface Goal {
  readonly text: string;
  readonly metric: MetricId;
  check(row: Omit<Row, 'goals'>, all: readonly Figure[], context: RunContext): GoalStatus;
}

const isNumber = (value: number | null | undefined): value is number => typeof value === 'number';

function atLeastOfCeiling(fraction: number) {
  return (row: Omit<Row, 'goals'>): GoalStatus =>
    isNumber(row.ceilingRatio) ? (row.ceilingRatio >= fraction ? 'pass' : 'miss') : 'n/a';
}

function timesPeers(times: number) {
  return (row: Omit<Row, 'goals'>): GoalStatus => {
    const advantages = [...row.peers.values()].map((p) => p.advantage);
    if (advantages.length === 0 || !advantages.every(isNumber)) return 'n/a';
    return advantages.every((a) => a >= times) ? 'pass' : 'miss';
  };
}

function below(limit: number) {
  return (row: Omit<Row, 'goals'>): GoalStatus =>
    isNumber(row.figure.value) ? (row.figure.value < limit ? 'pass' : 'miss') : 'n/a';
}

/** The goals, as ratios on this machine. They apply to Runnel's own figures only. */
export const GOALS: readonly Goal[] = [
  { text: '>= 50% of loopback (RF=1)', metric: 'produce-MBps', check: atLeastOfCeiling(0.5) },
  { text: '>= 3x NATS and Redis', metric: 'produce-MBps', check: timesPeers(3) },
  { text: '>= 65% of loopback', metric: 'consume-MBps', check: atLeastOfCeiling(0.65) },
  { text: '>= 3x NATS and Redis', metric: 'consume-MBps', check: timesPeers(3) },
  {
    text: '>= 40% of RF=1',
    metric: 'produce-MBps-rf3',
    // Against the same client's RF=1 figure on one broker.
    check: (row, all) => {
      const rf1 = all.find(
        (f) => f.section === row.figure.section && f.source === row.figure.source && f.metric === 'produce-MBps',
      );
      if (!isNumber(row.figure.value) || !isNumber(rf1?.value)) return 'n/a';
      return row.figure.value >= 0.4 * rf1.value ? 'pass' : 'miss';
    },
  },
  {
    text: '< 5 ms at 50 MB/s',
    metric: 'e2e-p99-ms',
    check: (row, _all, context) => (context.fixedRateMBps >= 50 ? below(5)(row) : 'n/a'),
  },
  { text: '< 150 ms', metric: 'ready-ms', check: below(150) },
  // The same goal from a user's side: from starting the process, module loading included.
  { text: '< 150 ms', metric: 'process-ready-ms', check: below(150) },
  // Stricter still: until the broker has acknowledged a produce (topic auto-created).
  { text: '< 150 ms', metric: 'first-produce-ms', check: below(150) },
  { text: '< 80 MB', metric: 'idle-rss-MB', check: below(80) },
];

/** Sets every figure beside its ceiling and the peers' figures, and checks the goals. */
export function compare(figures: readonly Figure[], context: RunContext): Row[] {
  const ceilings = new Map(figures.filter((f) => f.kind === 'ceiling').map((f) => [f.metric, f]));
  const peerSources = [...new Set(figures.filter((f) => f.kind === 'peer').map((f) => f.source))];
  return figures.map((f) => {
    const ceiling = f.ceiling === undefined ? undefined : ceilings.get(f.ceiling);
    const ceilingRatio = isNumber(f.value) && isNumber(ceiling?.value) ? f.value / ceiling.value : undefined;
    const peers = new Map<string, { peer: Figure; advantage: number | null }>();
    if (f.kind === 'subject' && f.peerComparable !== false) {
      for (const source of peerSources) {
        const peer = figures.find((p) => p.kind === 'peer' && p.source === source && p.metric === f.metric);
        if (peer === undefined) continue;
        let advantage: number | null = null;
        if (isNumber(f.value) && isNumber(peer.value) && f.value > 0 && peer.value > 0) {
          advantage = f.better === 'higher' ? f.value / peer.value : peer.value / f.value;
        }
        peers.set(source, { peer, advantage });
      }
    }
    const partial = {
      figure: f,
      peers,
      ...(ceiling === undefined ? {} : { ceiling }),
      ...(ceilingRatio === undefined ? {} : { ceilingRatio }),
    };
    const goals =
      f.kind === 'subject'
        ? GOALS.filter((g) => g.metric === f.metric).map((g) => ({
            goal: g.text,
            status: f.value === null ? ('n/a' as const) : g.check(partial, figures, context),
          }))
        : [];
    return { ...partial, goals };
  });
}
