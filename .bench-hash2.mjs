import { open } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
const file = process.argv[2], PL = 4 << 20
const NW = +process.argv[3] || 2
const t0 = performance.now()
const src = `const { parentPort } = require('node:worker_threads'); const { createHash } = require('node:crypto');
parentPort.on('message', ({ i, buf, len }) => { const d = createHash('sha1').update(new Uint8Array(buf, 0, len)).digest(); parentPort.postMessage({ i, d, buf }, [buf]) })`
const workers = Array.from({ length: NW }, () => new Worker(src, { eval: true }))
const fh = await open(file, 'r')
const size = (await fh.stat()).size
const n = Math.ceil(size / PL)
const hashes = new Array(n)
const free = []
let pending = 0, done = 0
await new Promise(async (resolve) => {
  let wi = 0
  const waiters = []
  for (const w of workers) w.on('message', ({ i, d, buf }) => { hashes[i] = d; free.push(buf); done++; const f = waiters.shift(); f && f(); if (done === n) resolve() })
  for (let i = 0; i < n; i++) {
    while (free.length === 0 && pending - done >= NW * 2) await new Promise(r => waiters.push(r))
    const ab = free.pop() ?? new ArrayBuffer(PL)
    const { bytesRead } = await fh.read(new Uint8Array(ab), 0, PL, i * PL)
    pending++
    workers[wi++ % NW].postMessage({ i, buf: ab, len: bytesRead }, [ab])
  }
})
await fh.close()
for (const w of workers) await w.terminate()
console.log('worker hash ms', Math.round(performance.now() - t0), n)
