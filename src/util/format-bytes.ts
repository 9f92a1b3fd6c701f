// Byte counts for people (status, the status page): binary units, one decimal.
// Owns nothing else.

/** `957 B`, `2.0 MiB`, `1.3 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = Number(n) || 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : String(v)} ${units[i]}`;
}
