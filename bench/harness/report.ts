/**
 * Rendering of compared figures: a short aligned table for the terminal and bench/RESULTS.md.
 */
import type { Row } from './results.ts';

export interface MachineInfo {
  readonly date: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly commit: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews figures. */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

export function formatNumber(value: number): string {
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString('en-US');
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The value and unit; a value that carries a note (see the notes) is marked with `*`. */
function valueCell(figure: Row['figure']): string {
  if (figure.value === null) return figure.note ?? 'n/a';
  return `${formatNumber(figure.value)} ${figure.unit}${figure.note === undefined ? '' : ' *'}`;
}

function ratioCell(ratio: number | null | undefined, style: 'percent' | 'times'): string {
  if (ratio === null || ratio === undefined) return '';
  return style === 'percent' ? `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%` : `${ratio.toFixed(2)}x`;
}

function goalsCell(row: Row): string {
  return row.goals.map((g) => `${g.status} (${g.goal})`).join('; ');
}

function peerSources(rows: readonly Row[]): string[] {
  const sources: string[] = [];
  for (const row of rows) for (const source of row.peers.keys()) if (!sources.includes(source)) sources.push(source);
  return sources;
}

/** Aligned plain-text table: each figure, its share of the ceiling, its advantage over each peer, goals. */
export function renderConsoleTable(rows: readonly Row[]): string {
  const peers = peerSources(rows);
  const header = ['source', 'figure', 'value', 'of ceiling', ...peers.map((p) => `vs ${p}`), 'goals'];
  const body = rows.map((row) => [
    row.figure.source,
    row.figure.name,
    valueCell(row.figure),
    ratioCell(row.ceilingRatio, 'percent'),
    ...peers.map((p) => ratioCell(row.peers.get(p)?.advantage, 'times')),
    goalsCell(row),
  ]);
  const table = [header, ...body];
  const widths = header.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  const lines = table.map((line) =>
    line
      .map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const notes = rows.filter((row) => row.figure.value !== null && row.figure.note !== undefined);
  if (notes.length > 0)
    lines.push('', ...notes.map((row) => `* ${row.figure.source}, ${row.figure.name}: ${row.figure.note}`));
  return lines.join('\n');
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export interface ReportText {
  readonly machine: MachineInfo;
  /** Lines describing how the run was set up (mode, durations, peers' persistence). */
  readonly setup: readonly string[];
  /** Free notes appended after the table (skipped sections, failures). */
  readonly notes: readonly string[];
  /** How to run it again. */
  readonly usage?: readonly string[];
}

export function renderMarkdown(rows: readonly Row[], text: ReportText): string {
  const { machine } = text;
  const peers = peerSources(rows);
  const header = [
    'Source',
    'Figure',
    'Value',
    'Ceiling',
    'Of ceiling',
    ...peers.flatMap((p) => [p, `vs ${p}`]),
    'Goals',
  ];
  const lines = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (`bench/main.ts`); rerun it rather than editing this file.',
    'Figures are measured side by side in one run and compared as ratios, because absolute',
    'figures drift on shared machines.',
    '',
    `- Date: ${machine.date}`,
    `- Machine: ${machine.nproc} CPUs (\`nproc\`; ${machine.cpuModel}), ${machine.memoryGiB.toFixed(1)} GiB memory, Linux ${machine.kernel}`,
    `- Node ${machine.node}; git commit ${machine.commit}`,
    `- Load average (1 min) at start / end: ${machine.loadAverage.start.toFixed(2)} / ${machine.loadAverage.end.toFixed(2)}` +
      ` on ${machine.nproc} CPUs${machine.loadAverage.start > machine.nproc ? ' (busy machine: expect noisy figures)' : ''}`,
    ...text.setup.map((line) => `- ${line}`),
    '',
    '"Of ceiling" is the figure divided by the machine ceiling measured in the same run.',
    '"vs <peer>" is how many times better Runnel is than that peer on the same workload',
    '(higher MB/s, or lower latency); above 1.00x means Runnel is ahead.',
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
  ];
  for (const row of rows) {
    const f = row.figure;
    const cells = [
      f.source,
      f.name,
      valueCell(f),
      row.ceiling === undefined ? '' : `${valueCell(row.ceiling)} (${row.ceiling.name})`,
      ratioCell(row.ceilingRatio, 'percent'),
      ...peers.flatMap((p) => {
        const entry = row.peers.get(p);
        return entry === undefined ? ['', ''] : [valueCell(entry.peer), ratioCell(entry.advantage, 'times')];
      }),
      goalsCell(row),
    ];
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`);
  }
  const goalLines = new Map<string, string[]>();
  for (const row of rows) {
    for (const goal of row.goals) {
      const key = `${row.figure.name}: ${goal.goal}`;
      goalLines.set(key, [...(goalLines.get(key) ?? []), `${row.figure.source} ${goal.status}`]);
    }
  }
  if (goalLines.size > 0) {
    lines.push('', '## Goals', '');
    for (const [goal, verdicts] of goalLines) lines.push(`- ${goal} - ${verdicts.join(', ')}`);
  }
  if (text.notes.length > 0) {
    lines.push('', '## Notes', '', ...text.notes.map((note) => `- ${note}`));
  }
  if (text.usage !== undefined) lines.push('', '## Running it', '', ...text.usage.map((line) => `- ${line}`));
  lines.push('');
  return lines.join('\n');
}
