import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeSet } from '../../src/transfer/segments/range-set.ts';
import { WorkPlan, type PlanFile } from '../../src/transfer/segments/work-plan.ts';
import type { Method } from '../../src/task/schema.ts';

test('RangeSet merges, removes, finds gaps and contiguous runs', () => {
  const r = new RangeSet([[10, 20], [30, 40]]);
  r.add(20, 25);
  assert.deepEqual(r.toJSON(), [[10, 25], [30, 40]]);
  r.add(24, 31);
  assert.deepEqual(r.toJSON(), [[10, 40]]);
  r.remove(15, 18);
  assert.deepEqual(r.toJSON(), [[10, 15], [18, 40]]);
  assert.deepEqual(r.gaps(0, 50), [[0, 10], [15, 18], [40, 50]]);
  assert.equal(r.size(), 27);
  assert.equal(r.size(12, 20), 5);
  assert.equal(r.contiguousEnd(10), 15);
  assert.equal(r.contiguousEnd(15), 15);
  assert.ok(r.covers(18, 40) && !r.covers(14, 19));
});

const files: PlanFile[] = [
  { file: 'a.mxf', size: 100, owner: 'bt' },
  { file: 'b.mxf', size: 100, owner: 'obs' },
  { file: 'c.mxf', size: 200, owner: 'cdn' },
];
const reachAll = (m: Method, f: string) => m !== 'obs' || f === 'b.mxf';

test('each method first fetches its own files, a chunk at a time, front to back', () => {
  const p = new WorkPlan(files, { chunk: 30, reach: reachAll, rebalance: 'off' });
  assert.deepEqual(p.next('bt'), { id: 1, file: 'a.mxf', start: 0, end: 30, method: 'bt' });
  assert.deepEqual(p.next('bt'), { id: 2, file: 'a.mxf', start: 30, end: 60, method: 'bt' });
  const c = p.next('cdn')!;
  assert.deepEqual([c.file, c.start, c.end], ['c.mxf', 0, 30]);
  // A paused assignment gives back what it did not write.
  p.markDone('c.mxf', 0, 10);
  p.release(c.id);
  const again = p.next('cdn')!;
  assert.deepEqual([again.file, again.start, again.end], ['c.mxf', 10, 40]);
});

test('rebalance idle: a method with nothing left takes chunks from the end of the largest gap another owns', () => {
  const p = new WorkPlan(files, { chunk: 30, reach: reachAll, rebalance: 'idle' });
  for (const [f, s, e] of [['a.mxf', 0, 100], ['b.mxf', 0, 100]] as const) p.markDone(f, s, e);
  const own = p.next('cdn')!;
  assert.deepEqual([own.file, own.start, own.end], ['c.mxf', 0, 30]);
  const stolen = p.next('bt')!;
  assert.deepEqual([stolen.file, stolen.start, stolen.end, stolen.from], ['c.mxf', 170, 200, 'cdn']);
  // OBS cannot reach c.mxf: nothing for it.
  assert.equal(p.next('obs'), undefined);
  assert.equal(p.moved.get('bt<-cdn')?.bytes, 30);
  // Without idle rebalancing, an idle method waits.
  const q = new WorkPlan(files, { chunk: 30, reach: reachAll, rebalance: 'failed' });
  q.markDone('a.mxf', 0, 100);
  assert.equal(q.next('bt'), undefined);
});

test('rebalance failed: a failed method hands what it owns to methods that can reach it; off: the task is stranded', () => {
  const p = new WorkPlan(files, { chunk: 50, reach: reachAll, rebalance: 'failed' });
  p.markDone('c.mxf', 0, 40);
  assert.deepEqual(p.fail('cdn'), []);
  assert.equal(p.next('cdn'), undefined);
  assert.equal(p.remainingBytes('cdn'), 0);
  // BT reaches c.mxf (full torrent); OBS does not.
  assert.equal(p.remainingBytes('bt'), 100 + 160);
  assert.deepEqual(p.fail('obs'), []);
  assert.equal(p.remainingBytes('bt'), 100 + 160 + 100);
  const off = new WorkPlan(files, { chunk: 50, reach: reachAll, rebalance: 'off' });
  assert.deepEqual(off.fail('obs'), ['b.mxf']);
  const onlyCdn = new WorkPlan(files, { chunk: 50, reach: (m, f) => m === 'cdn' || (m === 'obs' && f === 'b.mxf'), rebalance: 'failed' });
  assert.deepEqual(onlyCdn.fail('cdn'), ['c.mxf']);
});

test('rebalance idle: near the end ranges shrink to 1/8 of the bytes nobody fetches yet, never below minChunk; other modes keep the chunk', () => {
  const sizes = (mode: 'idle' | 'failed') => {
    const p = new WorkPlan([{ file: 'r.mxf', size: 160, owner: 'cdn' }], { chunk: 16, minChunk: 4, reach: () => true, rebalance: mode });
    const out: number[] = [];
    for (let a = p.next('cdn'); a; a = p.next('cdn')) {
      out.push(a.end - a.start);
      p.markDone(a.file, a.start, a.end);
      p.release(a.id);
    }
    return out;
  };
  const idle = sizes('idle');
  assert.deepEqual(idle.slice(0, 4), [16, 16, 16, 14]);
  assert.ok(idle.every((n, i) => i === 0 || n <= idle[i - 1]), `shrinking: ${idle}`);
  assert.ok(idle.slice(0, -1).every((n) => n >= 4), `never below minChunk but for the file's last bytes: ${idle}`);
  assert.equal(idle.reduce((a, b) => a + b, 0), 160);
  assert.deepEqual(sizes('failed'), Array(10).fill(16));
  // A thief's chunk shrinks the same way.
  const p = new WorkPlan([{ file: 'a.mxf', size: 40, owner: 'bt' }, { file: 'c.mxf', size: 40, owner: 'cdn' }], { chunk: 16, minChunk: 4, reach: () => true, rebalance: 'idle' });
  p.markDone('a.mxf', 0, 40);
  const own = p.next('cdn')!;
  assert.equal(own.end - own.start, 5); // 40 pending / 8
  const stolen = p.next('bt')!;
  assert.deepEqual([stolen.file, stolen.start, stolen.end, stolen.from], ['c.mxf', 36, 40, 'cdn']);
});

test('chunkOf: a method with a range size of its own asks for ranges of that size, the others for the chunk, also for bytes taken over', () => {
  // BitTorrent fails for good: the CDN takes a.mxf over in its own 30s, OBS cannot reach it.
  const q = new WorkPlan(files, { chunk: 30, chunkOf: { obs: 60 }, reach: (m, f) => m === 'cdn' || f === 'b.mxf', rebalance: 'failed' });
  assert.deepEqual(q.fail('bt'), []);
  const taken = [1, 2, 3, 4, 5].map(() => q.next('cdn')!).map((r) => [r.file, r.start, r.end]);
  assert.deepEqual(taken, [['a.mxf', 0, 30], ['a.mxf', 30, 60], ['a.mxf', 60, 90], ['a.mxf', 90, 100], ['c.mxf', 0, 30]]);
  assert.deepEqual([1, 2].map(() => q.next('obs')!).map((r) => [r.start, r.end]), [[0, 60], [60, 100]], 'OBS keeps its 60s (the second one ends at the file)');
});

test('startFile: a method begins its own files at that file, each front to back, and wraps around to the front', () => {
  const own: PlanFile[] = ['r1', 'r2', 'r3'].map((f) => ({ file: f, size: 20, owner: 'bt' as Method }));
  const p = new WorkPlan([...own, { file: 'c', size: 20, owner: 'cdn' }], { chunk: 10, reach: () => true, rebalance: 'off', startFile: { bt: 1 } });
  const got: string[] = [];
  for (let a = p.next('bt'); a; a = p.next('bt')) {
    got.push(`${a.file}:${a.start}`);
    p.markDone(a.file, a.start, a.end);
    p.release(a.id);
  }
  assert.deepEqual(got, ['r2:0', 'r2:10', 'r3:0', 'r3:10', 'r1:0', 'r1:10']);
  // Others keep the front; an index past the end is the last file.
  const q = new WorkPlan(own, { chunk: 10, reach: () => true, rebalance: 'off', startFile: { bt: 99 } });
  assert.equal(q.next('bt')!.file, 'r3');
});

test('property: lanes at random speeds with random pauses and failures never fetch a byte twice and finish every reachable byte', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 300; round++) {
    const fs: PlanFile[] = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) => ({ file: `f${i}`, size: 1 + Math.floor(rnd() * 500), owner: (['bt', 'obs', 'cdn'] as Method[])[Math.floor(rnd() * 3)] }));
    const mode = (['off', 'failed', 'idle'] as const)[round % 3];
    const reach = (m: Method, f: string) => m === 'cdn' || m === 'bt' || fs.find((x) => x.file === f)!.owner === 'obs';
    const chunk = 1 + Math.floor(rnd() * 100);
    const p = new WorkPlan(fs, { chunk, minChunk: 1 + (round % 7 === 0 ? 0 : Math.floor(chunk / 4)), reach, rebalance: mode, startFile: { bt: round % fs.length, cdn: (round * 7) % fs.length } });
    const written = new Map<string, Uint8Array>(fs.map((f) => [f.file, new Uint8Array(f.size)]));
    const lanes: Method[] = ['bt', 'obs', 'cdn'];
    const current = new Map<Method, { id: number; file: string; at: number; end: number }>();
    const failAt = mode === 'off' ? -1 : Math.floor(rnd() * 50);
    for (let step = 0; step < 10_000 && !p.allDone(); step++) {
      if (step === failAt && !p.isFailed('cdn')) {
        const c = current.get('cdn');
        if (c) p.release(c.id);
        current.delete('cdn');
        p.fail('cdn');
      }
      for (const m of lanes) {
        if (p.isFailed(m)) continue;
        let c = current.get(m);
        if (!c) {
          const a = p.next(m);
          if (!a) continue;
          c = { id: a.id, file: a.file, at: a.start, end: a.end };
          current.set(m, c);
        }
        const n = Math.min(c.end - c.at, Math.floor(rnd() * 40));
        const buf = written.get(c.file)!;
        for (let i = c.at; i < c.at + n; i++) {
          assert.equal(buf[i], 0, `byte ${i} of ${c.file} fetched twice (round ${round})`);
          buf[i] = 1;
        }
        p.markDone(c.file, c.at, c.at + n);
        c.at += n;
        if (c.at >= c.end || rnd() < 0.05) {
          p.release(c.id);
          current.delete(m);
        }
      }
    }
    assert.ok(p.allDone(), `round ${round} (${mode}) finished`);
    for (const [f, buf] of written) assert.ok(buf.every((b) => b === 1), `every byte of ${f} once`);
  }
});
