// Prices (btprice, obsprice, cdnprice): flat and timetable forms, the price in force at an
// instant and the next change, refusals that name the problem, and the config schema's
// use of them (every bad price field named at once; currency defaults to CNY).
process.env.TZ = 'Asia/Shanghai';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePriceSpec, priceProblem, priceAt, pricePeriodAt, nextPriceChange, formatPriceTable, isFree } from '../../src/schedule/price.ts';
import { parseConfig } from '../../src/config/load-config.ts';

const at = (day: number, h: number, m = 0) => new Date(2021, 4, day, h, m);

test('"" is free; a number, or a single HH:MM,price, is a flat price all day', () => {
  assert.deepEqual(parsePriceSpec(''), [{ minute: 0, value: 0 }]);
  assert.ok(isFree(parsePriceSpec('  ')));
  assert.deepEqual(parsePriceSpec('0.3'), [{ minute: 0, value: 0.3 }]);
  const single = parsePriceSpec('06:00,0.4');
  for (const h of [0, 5, 6, 23]) assert.equal(priceAt(single, at(3, h)), 0.4, `${h}:00`);
  assert.deepEqual(pricePeriodAt(single, at(3, 2)), { from: '00:00', perGB: 0.4 }, 'one period all day');
  assert.equal(nextPriceChange(single, at(3, 2)), undefined);
  assert.equal(formatPriceTable(single), '0.4');
});

test('a timetable: the price of the last entry at or before the instant, wrapping round midnight', () => {
  // The seed's example: OBS egress costs half at night.
  const t = parsePriceSpec('08:00,0.5 00:00,0.25');
  assert.deepEqual(t, [
    { minute: 0, value: 0.25 },
    { minute: 480, value: 0.5 },
  ]);
  assert.equal(priceAt(t, at(3, 7, 59)), 0.25);
  assert.equal(priceAt(t, at(3, 8)), 0.5, 'the boundary belongs to the new entry');
  assert.equal(priceAt(t, at(3, 23, 59)), 0.5);
  assert.deepEqual(pricePeriodAt(t, at(3, 12)), { from: '08:00', perGB: 0.5 });
  assert.equal(nextPriceChange(t, at(3, 7))?.getTime(), at(3, 8).getTime());
  assert.equal(nextPriceChange(t, at(3, 9))?.getTime(), at(4, 0).getTime());
  assert.equal(formatPriceTable(t), '00:00,0.25 08:00,0.5');

  const late = parsePriceSpec('22:00,0.1 06:00,0.3');
  assert.equal(priceAt(late, at(3, 3)), 0.1, "yesterday's 22:00 entry still runs");
  assert.deepEqual(pricePeriodAt(late, at(3, 3)), { from: '22:00', perGB: 0.1 });
  assert.equal(priceAt(late, at(3, 6)), 0.3);
});

test('a refused price names the problem, every one at once', () => {
  assert.equal(priceProblem('-1'), '-1 is not a price: a price per GB is a number such as 0.25 (no unit, no sign), or a timetable such as 00:00,0.25 08:00,0.5');
  assert.equal(priceProblem('0.5CNY'), '0.5CNY is not a price: a price per GB is a number such as 0.25 (no unit, no sign), or a timetable such as 00:00,0.25 08:00,0.5');
  assert.equal(priceProblem('0,25'), '0,25: every timetable entry is HH:MM,price (e.g. 00:00,0.25 08:00,0.5)');
  assert.equal(
    priceProblem('00:00,0.25 24:00,1 08:00,cheap 08:00,0.5 9:00,1'),
    '24:00,1: 24:00 is not a time of day (00:00 to 23:59); 08:00,cheap: cheap is not a price: a price per GB is a number such as 0.25 (no unit, no sign); 9:00,1: every timetable entry is HH:MM,price (e.g. 00:00,0.25 08:00,0.5)',
  );
  assert.equal(priceProblem('00:00,0.25 00:00,0.5'), '00:00,0.5: 00:00 appears twice');
  assert.equal(priceProblem('00:00,'), '00:00,: (nothing) is not a price: a price per GB is a number such as 0.25 (no unit, no sign)');
  assert.equal(priceProblem('00:00,0.25 08:00,0.5'), undefined);
});

test('config: prices default to free and CNY; bad prices and currency are named with their field', () => {
  const c = parseConfig({ servertype: 'receiver' }, 'c.json');
  assert.equal(c.btprice, '');
  assert.equal(c.obsprice, '');
  assert.equal(c.cdnprice, '');
  assert.equal(c.currency, 'CNY');
  const ok = parseConfig({ servertype: 'receiver', obsprice: '00:00,0.25 08:00,0.5', cdnprice: '0.3', currency: 'EUR' }, 'c.json');
  assert.equal(ok.obsprice, '00:00,0.25 08:00,0.5');
  assert.throws(
    () => parseConfig({ servertype: 'receiver', btprice: 'free', obsprice: '08:00,half', cdnprice: '1', currency: 'Chinese yuan' }, '/etc/bft2/config.json'),
    (err: Error) => {
      assert.match(err.message, /btprice: free is not a price/);
      assert.match(err.message, /obsprice: 08:00,half: half is not a price/);
      assert.match(err.message, /currency: must be a short label without spaces/);
      assert.doesNotMatch(err.message, /cdnprice/);
      return true;
    },
  );
});
