import { open } from 'node:fs/promises'
import { createHash } from 'node:crypto'
const file = process.argv[2], PL = 4 << 20
const t0 = performance.now()
const fh = await open(file, 'r')
const size = (await fh.stat()).size
const n = Math.ceil(size / PL)
const hashes = []
const inflight = []
let next = 0
const DEPTH = +process.argv[3] || 3
const start = (i) => { const b = Buffer.allocUnsafe(PL); return fh.read(b, 0, PL, i * PL + (+process.env.OFF || 0)).then(r => b.subarray(0, r.bytesRead)) }
for (; next < Math.min(DEPTH, n); next++) inflight.push(start(next))
for (let i = 0; i < n; i++) {
  const b = await inflight.shift()
  if (next < n) inflight.push(start(next++))
  hashes.push(createHash('sha1').update(b).digest())
}
await fh.close()
console.log('own hash ms', Math.round(performance.now() - t0), hashes.length)
