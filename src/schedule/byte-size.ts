// Byte sizes as operators write them in config.json (`20GB`, `512KB`, `1.5M`), shared by
// the rate caps and the disk reserve so both read units the same way.
// Owns: the unit table. Must not touch: anything else (a pure parser).
//
// Binary multiples (1 KB = 1024 B): formatRate in roles/receiver/progress-math.ts shows
// rates in 1024-based KB/s and MB/s, so a cap of "20MB/s" reads back as "20 MB/s" in
// `progress`; rclone, whose timetable form bft2 borrows, counts the same way. KiB, MiB
// and GiB are accepted as synonyms, and units are case-insensitive (as in rclone): a
// lowercase b is still bytes.

const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Whole bytes; throws naming the problem. A size needs a unit, except 0. */
export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([a-z]*)$/i.exec(text);
  if (!m) throw new Error(`${text || '(nothing)'} is not a size (e.g. 20GB, 512KB, 1.5MB)`);
  const value = Number(m[1]);
  const unit = m[2].toLowerCase();
  if (unit === '') {
    if (value === 0) return 0;
    // A bare number is ambiguous (rclone reads KiB, people read bytes): ask for a unit.
    throw new Error(`${text} has no unit (B, KB, MB, GB, TB; 1 KB = 1024 B), e.g. ${text}MB`);
  }
  const multiple = UNITS[unit];
  if (multiple === undefined) throw new Error(`${text}: ${m[2]} is not a unit (B, KB, MB, GB, TB; 1 KB = 1024 B)`);
  const bytes = Math.round(value * multiple);
  if (!Number.isSafeInteger(bytes)) throw new Error(`${text} is too large`);
  return bytes;
}
