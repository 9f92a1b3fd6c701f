// A plain-text table for terminals: columns padded to their widest cell, figures
// right-aligned. Used by `bft2 plan` and the delivery lab's report.
// Owns: the layout only; cells arrive as strings.

/** Columns are right-aligned (figures) except those listed in `left`. */
export function formatTable(headers: string[], rows: string[][], left: number[] = [0]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
