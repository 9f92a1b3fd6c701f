// initial-seeding.ts, the deal of initial seeding (BEP 16 in windows), and the centre's deal
// order (centre-seeding.ts): each piece is dealt to one cacher; a cacher announcing a piece
// is dealt the next; a fast cacher gets more than a slow one; a cacher that leaves gives its
// pieces back (those only it held, and those dealt to it); a piece dealt long ago and still
// nowhere is dealt once more when nothing else is left, never to two at once; once a peer
// holds everything, every peer is shown every piece, and a cacher joining later sees all at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InitialSeeding, type Reveals } from '../../src/transfer/bt/initial-seeding.ts';
import { dealOrder, windowPieces, staleMs } from '../../src/transfer/bt/centre-seeding.ts';

const MiB = 1024 * 1024;

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const dealt = (r: Reveals, peer: string) => r.get(peer) ?? [];

/** Every piece of `r` shown to one peer only. */
function disjoint(...lists: number[][]): boolean {
  const all = lists.flat();
  return new Set(all).size === all.length;
}

test('each piece is dealt to one cacher, a window at a time; an announced piece brings the next', () => {
  const d = new InitialSeeding({ pieceCount: 10, windowPieces: 2, staleMs: 30_000 });
  assert.deepEqual([...d.join('A')], new Array(10).fill(0), 'a new cacher is shown nothing at first');
  d.join('B');
  d.join('C');
  const r = d.deal();
  assert.deepEqual([dealt(r, 'A').length, dealt(r, 'B').length, dealt(r, 'C').length], [2, 2, 2]);
  assert.ok(disjoint(dealt(r, 'A'), dealt(r, 'B'), dealt(r, 'C')), JSON.stringify([...r]));
  assert.deepEqual(dealt(r, 'A').concat(dealt(r, 'B'), dealt(r, 'C')).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
  // Nothing more until a piece is announced.
  assert.equal(d.deal().size, 0);
  const a0 = dealt(r, 'A')[0];
  d.has('A', a0);
  // B takes A's piece from A: it is not dealt again.
  d.has('B', a0);
  assert.deepEqual([...d.deal()], [['A', [6]]]);
  assert.equal(d.isShown('A', 6), true);
  assert.equal(d.isShown('B', 6), false);
  assert.equal(d.active, true);
});

test('a fast cacher is dealt more than a slow one; the deal follows the order', () => {
  const order = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7];
  const d = new InitialSeeding({ pieceCount: 10, order, windowPieces: 1, staleMs: 30_000 });
  d.join('fast');
  d.join('slow');
  const got: Record<string, number[]> = { fast: [], slow: [] };
  const take = (r: Reveals) => {
    for (const [p, l] of r) got[p].push(...l);
  };
  take(d.deal());
  // The fast one announces each piece it is dealt, four times over; the slow one none.
  for (let i = 0; i < 4; i++) {
    d.has('fast', got.fast.at(-1)!);
    take(d.deal());
  }
  assert.deepEqual(got.slow, [1]);
  assert.deepEqual(got.fast, [3, 4, 0, 5, 9]);
});

test('a cacher that leaves gives back what only it held and what it was fetching; the others are dealt it', () => {
  const d = new InitialSeeding({ pieceCount: 6, windowPieces: 2, staleMs: 30_000 });
  d.join('A');
  d.join('B');
  const first = d.deal();
  const [a0, a1] = dealt(first, 'A');
  const [b0, b1] = dealt(first, 'B');
  d.has('A', a0); // only A holds a0; a1 is in flight
  d.has('B', b0);
  d.has('B', a0); // B got a0 from A too
  d.has('A', b0);
  const next = d.deal();
  assert.ok(disjoint(dealt(next, 'A'), dealt(next, 'B')));
  // A leaves: a0 is still held by B; a1 and A's new pieces were only A's.
  const aNew = dealt(next, 'A');
  d.leave('A');
  const after = d.deal();
  const back = new Set([a1, ...aNew]);
  assert.ok(!back.has(a0));
  // B's window is full (b1 and one new piece): nothing until it announces them.
  assert.equal(dealt(after, 'B').length, 0);
  d.has('B', b1);
  for (const p of dealt(next, 'B')) d.has('B', p);
  const refill = dealt(d.deal(), 'B');
  assert.equal(refill.length, 2);
  assert.ok(refill.every((p) => back.has(p)), `B is dealt what A gave back (${[...back]}): ${refill}`);
  // A comes back (a restart, a new peer id): every piece is held or being fetched by B, so
  // it is dealt nothing (it takes them from B); what B does not announce in time goes stale.
  d.join('A2');
  assert.equal(d.deal().size, 0);
});

test('a piece dealt long ago and still nowhere is dealt once more when nothing else is left; never to two at once', () => {
  const c = clock();
  const d = new InitialSeeding({ pieceCount: 3, windowPieces: 1, staleMs: 30_000, now: c.now });
  d.join('stuck');
  const [p] = dealt(d.deal(), 'stuck');
  d.join('B');
  d.join('C');
  const r = d.deal();
  const rest = [...dealt(r, 'B'), ...dealt(r, 'C')];
  assert.equal(rest.length, 2);
  for (const x of rest) d.has(x === dealt(r, 'B')[0] ? 'B' : 'C', x);
  // Nothing else to deal; the stuck piece is not stale yet.
  assert.equal(d.deal().size, 0);
  c.advance(30_001);
  const again = d.deal();
  const to = [...again.entries()].filter(([, l]) => l.includes(p)).map(([peer]) => peer);
  assert.equal(to.length, 1, `dealt once more, to one cacher: ${JSON.stringify([...again])}`);
  assert.equal(d.deal().size, 0, 'and not to the other one before it goes stale again');
  // Once someone announces it, it is nobody's to deal.
  d.has(to[0], p);
  c.advance(60_000);
  assert.equal(d.deal().size, 0);
});

test('once a peer holds every piece: every peer is shown everything, and a later cacher sees all at connect', () => {
  const d = new InitialSeeding({ pieceCount: 4, windowPieces: 1, staleMs: 30_000 });
  d.join('A');
  d.join('B');
  d.deal();
  d.hasAll('A');
  assert.equal(d.active, false);
  const r = d.deal();
  assert.deepEqual(new Set(r.keys()), new Set(['A', 'B']));
  assert.equal(new Set([...dealt(r, 'B'), ...d.dealtTo('B')]).size, 4);
  assert.equal(d.deal().size, 0, 'shown once');
  assert.deepEqual([...d.join('late')], [1, 1, 1, 1]);
  assert.equal(d.deal().size, 0, 'the late one was shown all at connect');
  // Leaving does not start it over.
  d.leave('A');
  assert.equal(d.active, false);
});

test('a second connection of the same cacher is shown what the first was', () => {
  const d = new InitialSeeding({ pieceCount: 5, windowPieces: 2, staleMs: 30_000 });
  d.join('A');
  const [x, y] = dealt(d.deal(), 'A');
  const shown = d.join('A');
  assert.deepEqual([...shown.keys()].filter((i) => shown[i] === 1).sort(), [x, y].sort());
});

test('the deal order: the front of every file first; windows and staleness by piece length', () => {
  // Three files: 10, 4 and 6 pieces of 1 MiB (offsets 0, 10, 14).
  const files = [
    { offset: 0, length: 10 * MiB },
    { offset: 10 * MiB, length: 4 * MiB },
    { offset: 14 * MiB, length: 6 * MiB },
  ];
  const order = dealOrder(20, MiB, files);
  assert.deepEqual(order.slice(0, 6), [0, 10, 14, 1, 11, 15]);
  assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  assert.equal(windowPieces(4 * MiB), 2);
  assert.equal(windowPieces(256 * 1024), 32);
  assert.equal(windowPieces(64 * MiB), 2);
  assert.ok(staleMs(4 * MiB) >= 30_000 && staleMs(64 * MiB) > staleMs(4 * MiB));
  assert.throws(() => new InitialSeeding({ pieceCount: 3, order: [0, 0, 1], windowPieces: 1, staleMs: 1 }), /each of the 3 pieces once/);
});
