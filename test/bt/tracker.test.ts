// The tracker (src/transfer/bt/tracker.ts) answering real HTTP announces: peers of a swarm
// see each other, a filtered tracker refuses other torrents, no stats page, closes promptly;
// a non-compact answer (compact=0) lists each peer with its 20-byte id, address and port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startTracker } from '../../src/transfer/bt/tracker.ts';
import { bdecode, type BDict } from '../../src/transfer/bt/bencode.ts';

const hashA = 'aa'.repeat(20);
const hashB = 'bb'.repeat(20);

const esc = (hex: string) => hex.replace(/../g, (b) => `%${b}`);

/** One announce as a BitTorrent client sends it; returns the raw bencoded answer. */
async function announce(url: string, infoHash: string, peerId: string, port: number, compact = 1): Promise<string> {
  return (await announceBytes(url, infoHash, Buffer.from(peerId.padEnd(20, '-')), port, compact)).toString('latin1');
}

async function announceBytes(url: string, infoHash: string, peerId: Buffer, port: number, compact: number): Promise<Buffer> {
  const q = `info_hash=${esc(infoHash)}&peer_id=${esc(peerId.toString('hex'))}&port=${port}&uploaded=0&downloaded=0&left=0&compact=${compact}&event=started`;
  const res = await request(`${url}?${q}`);
  return Buffer.from(await res.body.arrayBuffer());
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

test('a non-compact answer (compact=0) lists each peer with its 20-byte id (bytes of 0x80 and more too), ip and port', async () => {
  const tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  try {
    // Ids with bytes from 0x00 to 0xff: each must come back as exactly these 20 bytes.
    const ids = [Buffer.from('-B2R000-'.padEnd(20, '\u00ff'), 'latin1'), Buffer.from(Array.from({ length: 20 }, (_, i) => 0x80 + i * 6)), Buffer.from(Array.from({ length: 20 }, (_, i) => i))];
    for (const [i, id] of ids.entries()) await announceBytes(tracker.announceUrl, hashA, id, 7100 + i, 1);
    const asker = Buffer.from('-XX0000-asker-------', 'latin1');
    const answer = bdecode(await announceBytes(tracker.announceUrl, hashA, asker, 7200, 0)) as BDict;
    const peers = answer.peers as BDict[];
    assert.ok(Array.isArray(peers), JSON.stringify(answer));
    const got = new Map(peers.map((p) => [Buffer.from(p['peer id'] as Uint8Array).toString('hex'), p]));
    for (const [i, id] of ids.entries()) {
      const p = got.get(id.toString('hex'));
      assert.ok(p, `peer ${i} listed with its id ${id.toString('hex')}; ids were ${[...got.keys()].join(', ')}`);
      assert.equal((p['peer id'] as Uint8Array).length, 20);
      assert.equal(Buffer.from(p.ip as Uint8Array).toString(), '127.0.0.1');
      assert.equal(p.port, 7100 + i);
    }
    for (const p of peers) assert.equal((p['peer id'] as Uint8Array).length, 20, 'every id is 20 bytes');
  } finally {
    await tracker.close();
  }
});
