import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, parseRatio, listSizes, type Ratio, type SizedFile, type Allocation } from '../../src/task/allocate.ts';

const CONTIGUOUS = { ctfilesorder: true };
const FREE = { ctfilesorder: false };
const GB = 1_000_000_000;
const MB = 1_000_000;

// A feature DCP in torrent order (sorted paths): four XMLs, the audio, two picture reels.
const DCP: SizedFile[] = [
  { file: 'ASSETMAP.xml', size: 1_876 },
  { file: 'CPL_feature.xml', size: 12_480 },
  { file: 'PKL_feature.xml', size: 6_204 },
  { file: 'VOLINDEX.xml', size: 112 },
  { file: 'feature_audio.mxf', size: 9_874_221_056 },
  { file: 'feature_pic_r1.mxf', size: 118_305_222_144 },
  { file: 'feature_pic_r2.mxf', size: 104_990_455_808 },
];
const XMLS = DCP.slice(0, 4).map((f) => f.file);
const AUDIO = 'feature_audio.mxf';
const PIC1 = 'feature_pic_r1.mxf';
const PIC2 = 'feature_pic_r2.mxf';

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const total = (files: SizedFile[]) => files.reduce((a, f) => a + f.size, 0);
const names = (files: SizedFile[]) => files.map((f) => f.file);
const lists = (a: Allocation) => ({ bt: a.bt, obs: a.obs, cdn: a.cdn });

/**
 * The documented closeness order, computed independently of the module (BigInt, so
 * exact): [max |dev|, |dev bt|, -bt, |dev obs|, -obs] with deviations scaled by sum.
 */
function refKey(s: { bt: number; obs: number; cdn: number }, r: Ratio, tot: number): bigint[] {
  const sum = BigInt(r.bt + r.obs + r.cdn);
  const dev = (size: number, share: number) => {
    const d = BigInt(size) * sum - BigInt(tot) * BigInt(share);
    return d < 0n ? -d : d;
  };
  const db = dev(s.bt, r.bt);
  const dobs = dev(s.obs, r.obs);
  const dc = dev(s.cdn, r.cdn);
  const max = [db, dobs, dc].reduce((a, b) => (a > b ? a : b));
  return [max, db, -BigInt(s.bt), dobs, -BigInt(s.obs)];
}
function cmpKey(a: bigint[], b: bigint[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** Brute force over every BT | OBS | CDN layout that respects share-0 methods. */
function bestContiguousSizes(files: SizedFile[], r: Ratio) {
  const n = files.length;
  const pre = [0];
  for (const f of files) pre.push(pre[pre.length - 1]! + f.size);
  const tot = pre[n]!;
  let best: { key: bigint[]; s: { bt: number; obs: number; cdn: number } } | undefined;
  for (let i = 0; i <= n; i++) {
    if (r.bt === 0 && i > 0) break;
    for (let j = i; j <= n; j++) {
      if (r.obs === 0 && j > i) break;
      if (r.cdn === 0 && j < n) continue;
      const s = { bt: pre[i]!, obs: pre[j]! - pre[i]!, cdn: tot - pre[j]! };
      const key = refKey(s, r, tot);
      if (!best || cmpKey(key, best.key) < 0) best = { key, s };
    }
  }
  return best;
}

/** The invariants every allocation must keep, whatever the input. */
function checkInvariants(files: SizedFile[], r: Ratio, a: Allocation, contiguous: boolean, label: string) {
  const all = [...a.bt, ...a.obs, ...a.cdn];
  assert.equal(all.length, files.length, `${label}: every file once`);
  assert.deepEqual([...all].sort(), names(files).sort(), `${label}: exactly the known files`);
  const sizes = listSizes(files, lists(a));
  assert.deepEqual(a.sizes, sizes, `${label}: sizes match the lists`);
  assert.equal(sizes.bt + sizes.obs + sizes.cdn, total(files), `${label}: sizes add up`);
  const index = new Map(files.map((f, i) => [f.file, i]));
  for (const k of ['bt', 'obs', 'cdn'] as const) {
    if (r[k] === 0) assert.deepEqual(a[k], [], `${label}: ${k} has share 0`);
    const idx = a[k].map((f) => index.get(f)!);
    assert.deepEqual(idx, [...idx].sort((x, y) => x - y), `${label}: ${k} keeps torrent order`);
    // An empty method gets no zero-byte files either (they go with their neighbours).
    if (total(files) > 0 && a.sizes[k] === 0) assert.deepEqual(a[k], [], `${label}: ${k} has 0 bytes, so no files`);
  }
  if (contiguous) assert.deepEqual(all, names(files), `${label}: BT | OBS | CDN in torrent order`);
}

test('parseRatio reads bt:obs:cdn, tolerating whitespace', () => {
  assert.deepEqual(parseRatio('2:1:1'), { bt: 2, obs: 1, cdn: 1 });
  assert.deepEqual(parseRatio(' 0 : 0 : 1 '), { bt: 0, obs: 0, cdn: 1 });
  assert.deepEqual(parseRatio('10:0:3'), { bt: 10, obs: 0, cdn: 3 });
});

test('parseRatio refuses anything else, naming the value', () => {
  for (const bad of ['-1:1:1', '1.5:1:1', '0:0:0', '1:1', '1:1:1:1', '', 'a:b:c', '2,1,1', '1e3:1:1', '99999999999999999999:1:1']) {
    assert.throws(() => parseRatio(bad), (e: Error) => e.constructor === Error && e.message.includes(JSON.stringify(bad)), bad);
  }
  assert.throws(() => parseRatio(undefined as unknown as string), /bt-obs-cdn/);
});

test('allocate refuses a ratio with no share, bad shares, duplicate files and bad sizes', () => {
  assert.throws(() => allocate(DCP, { bt: 0, obs: 0, cdn: 0 }, CONTIGUOUS), /no method a share/);
  assert.throws(() => allocate(DCP, { bt: -1, obs: 1, cdn: 1 }, CONTIGUOUS), /bt share/);
  assert.throws(() => allocate(DCP, { bt: 1.5, obs: 1, cdn: 1 }, FREE), /bt share/);
  assert.throws(() => allocate([{ file: 'a', size: 1 }, { file: 'a', size: 2 }], parseRatio('1:1:1'), CONTIGUOUS), /twice/);
  assert.throws(() => allocate([{ file: 'a', size: -1 }], parseRatio('1:1:1'), CONTIGUOUS), /size -1/);
  assert.throws(() => allocate([{ file: 'a', size: 0.5 }], parseRatio('1:1:1'), CONTIGUOUS), /size 0.5/);
});

test('listSizes sums each list and refuses unknown names', () => {
  assert.deepEqual(listSizes(DCP, { bt: [PIC1], obs: [], cdn: [AUDIO, 'VOLINDEX.xml'] }), { bt: 118_305_222_144, obs: 0, cdn: 9_874_221_168 });
  assert.throws(() => listSizes(DCP, { bt: ['nope'], obs: [], cdn: [] }), /"nope"/);
});

test('1:0:0 puts everything on BT, 0:0:1 everything on the CDN, in both modes', () => {
  for (const opts of [CONTIGUOUS, FREE]) {
    const bt = allocate(DCP, parseRatio('1:0:0'), opts);
    assert.deepEqual(lists(bt), { bt: names(DCP), obs: [], cdn: [] });
    assert.deepEqual(bt.sizes, { bt: total(DCP), obs: 0, cdn: 0 });
    const cdn = allocate(DCP, parseRatio('0:0:1'), opts);
    assert.deepEqual(lists(cdn), { bt: [], obs: [], cdn: names(DCP) });
  }
});

test('realistic DCP at 1:1:1', () => {
  // Contiguous: BT can only stop before or after reel 1; before is closer overall
  // (worst deviation 67.8 GB against 77.7 GB), and the reels fill OBS and CDN.
  const c = allocate(DCP, parseRatio('1:1:1'), CONTIGUOUS);
  assert.deepEqual(lists(c), { bt: [...XMLS, AUDIO], obs: [PIC1], cdn: [PIC2] });
  // Free: the same worst deviation (the small files' method), but BT gets the reel
  // nearest its target.
  const f = allocate(DCP, parseRatio('1:1:1'), FREE);
  assert.deepEqual(lists(f), { bt: [PIC2], obs: [PIC1], cdn: [...XMLS, AUDIO] });
  checkInvariants(DCP, parseRatio('1:1:1'), c, true, '1:1:1 contiguous');
  checkInvariants(DCP, parseRatio('1:1:1'), f, false, '1:1:1 free');
});

test('realistic DCP at 2:1:1: CDN has a share yet gets nothing, the files are too coarse', () => {
  const c = allocate(DCP, parseRatio('2:1:1'), CONTIGUOUS);
  assert.deepEqual(lists(c), { bt: [...XMLS, AUDIO, PIC1], obs: [PIC2], cdn: [] });
  const f = allocate(DCP, parseRatio('2:1:1'), FREE);
  assert.deepEqual(lists(f), { bt: [PIC1], obs: [PIC2], cdn: [...XMLS, AUDIO] });
  assert.deepEqual(f.sizes, { bt: 118_305_222_144, obs: 104_990_455_808, cdn: 9_874_241_728 });
});

test('0:1:1 gives BT nothing and splits OBS | CDN at the best cut', () => {
  const c = allocate(DCP, parseRatio('0:1:1'), CONTIGUOUS);
  assert.deepEqual(lists(c), { bt: [], obs: [...XMLS, AUDIO, PIC1], cdn: [PIC2] });
  const f = allocate(DCP, parseRatio('0:1:1'), FREE);
  checkInvariants(DCP, parseRatio('0:1:1'), f, false, '0:1:1 free');
  assert.deepEqual(f.bt, []);
  assert.ok(Math.abs(f.sizes.obs - f.sizes.cdn) <= Math.abs(c.sizes.obs - c.sizes.cdn));
});

test('one huge file among small ones goes whole to one method', () => {
  const small = (p: string) => Array.from({ length: 10 }, (_, i) => ({ file: `${p}${i}.xml`, size: MB }));
  const files = [...small('a'), { file: 'huge.mxf', size: 500 * GB }, ...small('z')];
  const c = allocate(files, parseRatio('2:1:1'), CONTIGUOUS);
  // BT stopping before or after the huge file misses by 250 GB either way; after it
  // leaves OBS and CDN 125 GB short each, before it would leave one 375 GB over.
  assert.deepEqual(c.bt, names(files.slice(0, 11)));
  assert.deepEqual(c.obs, names(files.slice(11)));
  assert.deepEqual(c.cdn, []);
  for (const opts of [CONTIGUOUS, FREE]) {
    const a = allocate(files, parseRatio('1:1:1'), opts);
    checkInvariants(files, parseRatio('1:1:1'), a, opts.ctfilesorder, 'huge');
    const holders = (['bt', 'obs', 'cdn'] as const).filter((k) => a[k].includes('huge.mxf'));
    assert.equal(holders.length, 1);
  }
});

test('500 small files of random sizes: every method within one file of its target', () => {
  const rnd = prng(500);
  const files = Array.from({ length: 500 }, (_, i) => ({ file: `reel/${String(i).padStart(3, '0')}.j2c`, size: 1 + Math.floor(rnd() * 10 * MB) }));
  const biggest = Math.max(...files.map((f) => f.size));
  for (const ratio of ['2:1:1', '1:1:1', '3:0:1', '1:5:2']) {
    const r = parseRatio(ratio);
    for (const opts of [CONTIGUOUS, FREE]) {
      const a = allocate(files, r, opts);
      checkInvariants(files, r, a, opts.ctfilesorder, ratio);
      for (const k of ['bt', 'obs', 'cdn'] as const) {
        const target = (total(files) * r[k]) / (r.bt + r.obs + r.cdn);
        assert.ok(Math.abs(a.sizes[k] - target) <= biggest, `${ratio} ${k}: ${a.sizes[k]} vs ${target}`);
      }
    }
  }
});

test('300 files of 1 MB at 1:1:1: each method within one file of its target', () => {
  const files = Array.from({ length: 300 }, (_, i) => ({ file: `f${i}`, size: MB }));
  for (const opts of [CONTIGUOUS, FREE]) {
    const a = allocate(files, parseRatio('1:1:1'), opts);
    for (const k of ['bt', 'obs', 'cdn'] as const) assert.ok(Math.abs(a.sizes[k] - 100 * MB) <= MB, `${k} ${a.sizes[k]}`);
  }
  const c = allocate(files, parseRatio('1:1:1'), CONTIGUOUS);
  assert.deepEqual([c.bt.length, c.obs.length, c.cdn.length], [100, 100, 100]);
});

test('zero-byte files go with their neighbours and never break the one-list rule', () => {
  const files = [
    { file: 'z0', size: 0 },
    { file: 'a', size: 10 },
    { file: 'z1', size: 0 },
    { file: 'b', size: 10 },
    { file: 'z2', size: 0 },
    { file: 'c', size: 10 },
    { file: 'z3', size: 0 },
  ];
  const c = allocate(files, parseRatio('1:1:1'), CONTIGUOUS);
  assert.deepEqual(lists(c), { bt: ['z0', 'a', 'z1'], obs: ['b', 'z2'], cdn: ['c', 'z3'] });
  // BT at share 0: the leading empty file goes to the method after it.
  const o = allocate(files, parseRatio('0:2:1'), CONTIGUOUS);
  assert.deepEqual(lists(o), { bt: [], obs: ['z0', 'a', 'z1', 'b', 'z2'], cdn: ['c', 'z3'] });
  const f = allocate(files, parseRatio('1:1:1'), FREE);
  checkInvariants(files, parseRatio('1:1:1'), f, false, 'zero free');
  for (const k of ['bt', 'obs', 'cdn'] as const) assert.equal(f.sizes[k], 10);
  // Only empty files: all to the first method with a share.
  const empty = [{ file: 'x', size: 0 }, { file: 'y', size: 0 }];
  for (const opts of [CONTIGUOUS, FREE]) {
    assert.deepEqual(lists(allocate(empty, parseRatio('1:1:1'), opts)), { bt: ['x', 'y'], obs: [], cdn: [] });
    assert.deepEqual(lists(allocate(empty, parseRatio('0:0:3'), opts)), { bt: [], obs: [], cdn: ['x', 'y'] });
  }
  assert.deepEqual(lists(allocate([], parseRatio('1:1:1'), CONTIGUOUS)), { bt: [], obs: [], cdn: [] });
});

test('contiguous mode: BT is a prefix of torrent order, OBS and CDN the rest', () => {
  const rnd = prng(7);
  const files = Array.from({ length: 40 }, (_, i) => ({ file: `d/${i}`, size: Math.floor(rnd() * 3 * GB) }));
  for (const ratio of ['2:1:1', '1:1:1', '1:3:1', '5:1:0', '1:0:1']) {
    const a = allocate(files, parseRatio(ratio), CONTIGUOUS);
    assert.deepEqual(a.bt, names(files.slice(0, a.bt.length)), ratio);
    assert.deepEqual([...a.obs, ...a.cdn], names(files.slice(a.bt.length)), ratio);
  }
});

test('deterministic: the same input gives the same output', () => {
  for (const opts of [CONTIGUOUS, FREE]) {
    assert.deepEqual(allocate(DCP, parseRatio('2:1:1'), opts), allocate(DCP.map((f) => ({ ...f })), parseRatio('2:1:1'), opts));
  }
});

test('property: 500 random inputs keep every rule; contiguous is the exact optimum', () => {
  const rnd = prng(20260101);
  const int = (n: number) => Math.floor(rnd() * n);
  const size = () => {
    const p = rnd();
    if (p < 0.15) return 0;
    if (p < 0.5) return int(100_000);
    if (p < 0.85) return int(2 * GB);
    return int(200 * GB);
  };
  for (let c = 0; c < 500; c++) {
    const n = 1 + int(60);
    const files = Array.from({ length: n }, (_, i) => ({ file: `dcp/${c}/${i}.mxf`, size: size() }));
    let r: Ratio;
    do r = { bt: int(5), obs: int(5), cdn: int(5) };
    while (r.bt + r.obs + r.cdn === 0);
    const label = `case ${c}: ${r.bt}:${r.obs}:${r.cdn}, ${n} files`;
    const con = allocate(files, r, CONTIGUOUS);
    const free = allocate(files, r, FREE);
    checkInvariants(files, r, con, true, `${label} contiguous`);
    checkInvariants(files, r, free, false, `${label} free`);
    const tot = total(files);
    if (tot > 0) {
      const best = bestContiguousSizes(files, r)!;
      assert.deepEqual(con.sizes, best.s, `${label}: contiguous is the optimum`);
      assert.ok(cmpKey(refKey(free.sizes, r, tot), best.key) <= 0, `${label}: free is no worse than contiguous`);
    }
  }
});
