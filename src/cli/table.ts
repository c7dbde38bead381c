/**
 * The one table formatter of the `runnel` command: a header row in capitals, then rows,
 * columns left-aligned and separated by two spaces. Cells are strings; null and undefined
 * print as "-". Numbers are left-aligned like everything else, so every column can be cut
 * with `awk` on runs of spaces.
 */

export type Cell = string | number | boolean | null | undefined;

export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...text.map(line)].join('\n');
}

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '-';
  return String(c);
}
