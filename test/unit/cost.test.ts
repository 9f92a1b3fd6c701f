// The accounting (src/cost): bytes per method at instants and over spans, split into
// price periods and inside/outside the window, cost per method and in total to two
// decimals; the ledger of a task survives a save and a restart, prices what arrives after
// a reload at the new price, and catches up with bytes a crash kept from it.
process.env.TZ = 'Asia/Shanghai';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { costOfReceipts, costOfSpan, money, priceList, splitSpan, summarise, type MethodWindows } from '../../src/cost/cost-math.ts';
import { CostLedger } from '../../src/cost/cost-ledger.ts';
import { parseWindows } from '../../src/schedule/windows.ts';

const GB = 1024 ** 3;
const at = (day: number, h: number, m = 0) => new Date(2026, 0, day, h, m);
// The seed's example: OBS egress 0.25 a GB from midnight to 08:00, 0.5 in the day.
const seedPrices = priceList({ btprice: '', obsprice: '00:00,0.25 08:00,0.5', cdnprice: '0.3', currency: 'CNY' });
const seedWindows: MethodWindows = { bt: parseWindows('00:00-23:59'), obs: parseWindows('00:00-08:00'), cdn: parseWindows('08:00-18:00') };

test('receipts: each byte at the price in force when it arrived; totals to two decimals', () => {
  const s = costOfReceipts(
    [
      { method: 'obs', bytes: 10 * GB, at: at(5, 7) },
      { method: 'obs', bytes: 10 * GB, at: at(5, 9) },
      { method: 'cdn', bytes: 3 * GB, at: at(5, 12) },
      { method: 'bt', bytes: 50 * GB, at: at(5, 12) },
    ],
    seedPrices,
    seedWindows,
  );
  assert.deepEqual(s.cost, { bt: 0, obs: 7.5, cdn: 0.9 });
  assert.equal(s.totalCost, 8.4);
  assert.equal(s.currency, 'CNY');
  assert.equal(s.methods.obs.inWindowBytes, 10 * GB, 'the 07:00 bytes came inside the OBS window');
  assert.equal(s.methods.obs.outWindowBytes, 10 * GB, 'the 09:00 bytes outside it');
  assert.equal(s.methods.cdn.inWindowBytes, 3 * GB);
  assert.equal(s.methods.bt.outWindowBytes, 0);
  assert.equal(s.totalBytes, 73 * GB);
});

test('a span that straddles a price change is split at it, in proportion to time', () => {
  const parts = splitSpan('obs', 1 * GB, at(5, 7, 30), at(5, 8, 30), seedPrices, seedWindows);
  assert.deepEqual(parts, [
    { method: 'obs', from: '00:00', perGB: 0.25, inWindow: true, bytes: GB / 2 },
    { method: 'obs', from: '08:00', perGB: 0.5, inWindow: false, bytes: GB / 2 },
  ]);
  assert.equal(costOfSpan('obs', 4 * GB, at(5, 7), at(5, 9), seedPrices), 2 * 0.25 + 2 * 0.5);
  // A whole day and a night: 16 h at 0.5, 8 h at 0.25.
  assert.equal(money(costOfSpan('obs', 24 * GB, at(5, 0), at(6, 0), seedPrices)), 10);
  // A window edge splits too, though the price stays: CDN 0.3 flat, window 08:00-18:00.
  const cdn = splitSpan('cdn', 3 * GB, at(5, 17), at(5, 20), seedPrices, seedWindows);
  assert.deepEqual(cdn.map((p) => [p.inWindow, p.bytes / GB]), [[true, 1], [false, 2]]);
  assert.deepEqual(splitSpan('bt', 100, at(5, 1), at(5, 1), seedPrices, seedWindows), [{ method: 'bt', from: '00:00', perGB: 0, inWindow: true, bytes: 100 }], 'an empty span is an instant');
});

test('money: two decimals, the shown figures add up to the total', () => {
  assert.equal(money(1.005), 1.01);
  assert.equal(money(0.1 + 0.2), 0.3);
  assert.equal(money(2.675), 2.68);
  assert.equal(money(0), 0);
  // 3 × 0.004 rounds to 0 each, so the total shown is 0, not 0.01.
  const cheap = priceList({ btprice: '0.004', obsprice: '0.004', cdnprice: '0.004', currency: 'EUR' });
  const s = summarise(
    (['bt', 'obs', 'cdn'] as const).map((method) => ({ method, from: '00:00', perGB: cheap[method][0].value, inWindow: true, bytes: GB })),
    'EUR',
  );
  assert.deepEqual(s.cost, { bt: 0, obs: 0, cdn: 0 });
  assert.equal(s.totalCost, 0);
});

test('ledger: progress fields, saved in the task file and restored after a restart with nothing lost', () => {
  const opts = { prices: () => seedPrices, windows: () => seedWindows };
  const ledger = new CostLedger(opts);
  ledger.record('obs', 2 * GB, at(5, 7));
  ledger.recordSpan('obs', 2 * GB, at(5, 7, 30), at(5, 8, 30));
  ledger.record('cdn', GB, at(5, 9));
  ledger.record('bt', 0, at(5, 9));
  const before = ledger.progress();
  assert.deepEqual(before, {
    btcost: 0,
    obscost: 1.25, // 3 GB at 0.25, 1 GB at 0.5
    cdncost: 0.3,
    totalcost: 1.55,
    currency: 'CNY',
    btinwindowbytes: 0,
    btoutwindowbytes: 0,
    obsinwindowbytes: 3 * GB,
    obsoutwindowbytes: GB,
    cdninwindowbytes: GB,
    cdnoutwindowbytes: 0,
  });
  // The task file is JSON: the round trip through text is what a restart sees.
  const text = JSON.stringify({ name: 'x', accounting: ledger.toJSON() });
  const { ledger: again, problem } = CostLedger.restore(JSON.parse(text).accounting, opts);
  assert.equal(problem, undefined);
  assert.deepEqual(again.progress(), before);
  again.record('obs', GB, at(5, 10));
  assert.equal(again.progress().obscost, 1.75);
});

test('ledger: a reload changes the price of what arrives after it, not of what came before', () => {
  let prices = seedPrices;
  const ledger = new CostLedger({ prices: () => prices });
  ledger.record('cdn', 10 * GB, at(5, 9));
  prices = priceList({ btprice: '', obsprice: '', cdnprice: '0.1', currency: 'CNY' });
  ledger.record('cdn', 10 * GB, at(5, 10));
  assert.equal(ledger.progress().cdncost, 3 + 1);
  assert.deepEqual(
    ledger.toJSON().periods.map((p) => [p.perGB, p.bytes / GB]),
    [
      [0.3, 10],
      [0.1, 10],
    ],
  );
  assert.equal(ledger.progress().cdninwindowbytes, 20 * GB, 'without windows every byte counts as inside');
});

test('ledger: a broken saved ledger is named and starts again; a crash\'s unsaved bytes are caught up from the disk', () => {
  const opts = { prices: () => seedPrices, windows: () => seedWindows };
  const broken = CostLedger.restore({ version: 1, currency: 'CNY', periods: [{ method: 'ftp', from: '00:00', perGB: -1, inWindow: true, bytes: 5 }] }, opts);
  assert.match(broken.problem ?? '', /^the task's cost ledger is unreadable and starts again from nothing \(periods\.0\.method: .*periods\.0\.perGB: /);
  assert.equal(broken.ledger.progress().totalcost, 0);
  assert.match(CostLedger.restore('nonsense', opts).problem ?? '', /\(top level\): Expected object, received string/);

  const ledger = new CostLedger(opts);
  ledger.record('obs', 4 * GB, at(5, 7));
  const saved = ledger.toJSON();
  const { ledger: after } = CostLedger.restore(saved, opts);
  // 6 GB on disk, 4 in the ledger: the 2 the crash kept from it are billed at restart.
  after.catchUp('obs', 6 * GB, at(5, 9));
  after.catchUp('cdn', 0, at(5, 9));
  assert.equal(after.summary().methods.obs.bytes, 6 * GB);
  assert.equal(after.progress().obscost, 4 * 0.25 + 2 * 0.5);
  after.catchUp('obs', 5 * GB, at(5, 9));
  assert.equal(after.summary().methods.obs.bytes, 6 * GB, 'fewer bytes on disk than received (a piece fetched twice) change nothing');
});
