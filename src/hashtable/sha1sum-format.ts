// The text format of hashtable.txt: exactly `sha1sum`'s, so `sha1sum -c hashtable.txt`
// verifies the store. Names holding a backslash, a newline or a carriage return are
// written as sha1sum writes them: the line starts with `\` and those characters are
// escaped. Pure functions only.

export interface TableLine {
  sha1: string;
  path: string;
}

function needsEscape(p: string): boolean {
  return /[\\\n\r]/.test(p);
}

export function formatLine({ sha1, path }: TableLine): string {
  if (!needsEscape(path)) return `${sha1}  ${path}`;
  const escaped = path.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `\\${sha1}  ${escaped}`;
}

/** Parses one line; undefined for a line that is not a sha1sum line. */
export function parseLine(line: string): TableLine | undefined {
  const escaped = line.startsWith('\\');
  const body = escaped ? line.slice(1) : line;
  const m = /^([0-9a-f]{40}) [ *](.+)$/.exec(body);
  if (!m) return undefined;
  let path = m[2];
  if (escaped) path = path.replace(/\\(\\|n|r)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\'));
  return { sha1: m[1], path };
}

export function formatTable(lines: TableLine[]): string {
  return lines.map(formatLine).join('\n') + (lines.length ? '\n' : '');
}
