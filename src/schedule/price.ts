// Prices of config.json (`btprice`, `obsprice`, `cdnprice`, SPEC §12): what one GB received
// from a method costs, as a daily timetable `00:00,0.25 08:00,0.5` (space-separated
// `HH:MM,price` entries in local time, the form of the rate caps); a single entry or a
// bare number is a flat price; `""` is 0.
// Owns: that syntax and "which price is in force at an instant, and when does it change".
// Must not touch: bytes or sums (src/cost does the accounting) or the currency label.
//
// 1 GB = 1024^3 bytes, as the rate caps count (byte-size.ts) and as cloud bills count GB.
import { parseTimetable, entryAt, nextValueChange, type TimetableEntry, type TimetableSyntax } from './timetable.ts';

export const BYTES_PER_GB = 1024 ** 3;

/** Sorted by minute, at least one entry; the last one runs on past midnight. */
export type PriceTable = readonly TimetableEntry<number>[];

/** The period a price belongs to: the timetable entry in force, by its start and price. */
export interface PricePeriod {
  /** "HH:MM" of the entry's start ("00:00" for a flat price). */
  from: string;
  /** Price per GB. */
  perGB: number;
}

const PRICE_RE = /^\d+(\.\d+)?$/;
const PRICE_HINT = 'a price per GB is a number such as 0.25 (no unit, no sign)';

const PRICE_TIMETABLE: TimetableSyntax<number> = {
  parseValue: (text) => (PRICE_RE.test(text) ? { value: Number(text) } : { problem: `${text || '(nothing)'} is not a price: ${PRICE_HINT}` }),
  valueName: 'price',
  example: '00:00,0.25 08:00,0.5',
};

/** Throws an Error naming every problem. */
export function parsePriceSpec(spec: string): PriceTable {
  const trimmed = spec.trim();
  if (trimmed === '') return [{ minute: 0, value: 0 }];
  if (!trimmed.includes(',') && !trimmed.includes(':')) {
    if (!PRICE_RE.test(trimmed)) throw new Error(`${trimmed} is not a price: ${PRICE_HINT}, or a timetable such as 00:00,0.25 08:00,0.5`);
    return [{ minute: 0, value: Number(trimmed) }];
  }
  return parseTimetable(trimmed, PRICE_TIMETABLE);
}

/** The reason `spec` is refused, or undefined when it is valid (for the schema validators). */
export function priceProblem(spec: string): string | undefined {
  try {
    parsePriceSpec(spec);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The price per GB in force at `at`. */
export function priceAt(table: PriceTable, at: Date): number {
  return entryAt(table, at).value;
}

/** The price period in force at `at` (its entry's start and price). */
export function pricePeriodAt(table: PriceTable, at: Date): PricePeriod {
  const e = entryAt(table, at);
  // A single entry is a flat price whatever minute it names: one period, all day.
  return { from: table.length === 1 ? '00:00' : hhmm(e.minute), perGB: e.value };
}

/** The next instant after `from` at which the price changes; undefined when it never does. */
export function nextPriceChange(table: PriceTable, from: Date): Date | undefined {
  return nextValueChange(table, from);
}

/** Every price of the table is 0. */
export const isFree = (table: PriceTable) => table.every((e) => e.value === 0);

/** "00:00,0.25 08:00,0.5", or "0.3" for a flat price: how a table is shown back. */
export function formatPriceTable(table: PriceTable): string {
  if (new Set(table.map((e) => e.value)).size === 1) return String(table[0].value);
  return table.map((e) => `${hhmm(e.minute)},${e.value}`).join(' ');
}

const hhmm = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
