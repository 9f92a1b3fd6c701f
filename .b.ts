import { makeTorrent } from './src/transfer/bt/make-torrent.ts';
for (let i = 0; i < 4; i++) {
const t0 = performance.now();
const m = await makeTorrent({ dir: '/tmp/bench/dcp1g', tracker: 'http://127.0.0.1:1/announce', outFile: '/tmp/bench/1g.torrent' });
console.log('makeTorrent', Math.round(performance.now() - t0), 'ms');
}
