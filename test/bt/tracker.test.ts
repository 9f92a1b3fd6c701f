// The tracker (src/transfer/bt/tracker.ts) answering real HTTP announces: peers of a swarm
// see each other, a filtered tracker refuses other torrents, no stats page, closes promptly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startTracker } from '../../src/transfer/bt/tracker.ts';

const hashA = 'aa'.repeat(20);
const hashB = 'bb'.repeat(20);

/** One announce as a BitTorrent client sends it; returns the raw bencoded answer. */
async function announce(url: string, infoHash: string, peerId: string, port: number): Promise<string> {
  const esc = (hex: string) => hex.replace(/../g, (b) => `%${b}`);
  const q = `info_hash=${esc(infoHash)}&peer_id=${esc(Buffer.from(peerId.padEnd(20, '-')).toString('hex'))}&port=${port}&uploaded=0&downloaded=0&left=0&compact=1&event=started`;
  const res = await request(`${url}?${q}`);
  return Buffer.from(await res.body.arrayBuffer()).toString('latin1');
}

test('HTTP announces: the second peer gets the first; a filtered torrent is refused; no /stats', async () => {
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, allow: (h) => h === hashA });
  try {
    assert.match(tracker.announceUrl, /^http:\/\/127\.0\.0\.1:\d+\/announce$/);
    await announce(tracker.announceUrl, hashA, 'peer-one', 7001);
    const second = await announce(tracker.announceUrl, hashA, 'peer-two', 7002);
    // compact peers: 4 bytes address + 2 bytes port of peer one.
    const compact = Buffer.from([127, 0, 0, 1, 7001 >> 8, 7001 & 255]).toString('latin1');
    assert.ok(second.includes(compact), JSON.stringify(second));
    const refused = await announce(tracker.announceUrl, hashB, 'peer-one', 7001);
    assert.match(refused, /failure reason\d+:torrent not tracked here/);
    const stats = await request(tracker.announceUrl.replace('/announce', '/stats'));
    // Without the stats page the path is just an invalid announce (a bencoded failure).
    assert.match(await stats.body.text(), /^d14:failure reason/);
  } finally {
    const t0 = performance.now();
    await tracker.close();
    assert.ok(performance.now() - t0 < 1000, 'close does not wait for keep-alive clients');
  }
});
