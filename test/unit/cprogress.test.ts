import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cprogressAnswer } from '../../src/roles/cacher/cprogress.ts';

const base = { taskfile: '/r/data/receiver/downloading/cfec-001-x.task.json', dataDir: '/r/data/transfer/bt/cfec-001/x-tmp', seedleftMinutes: 90 };
const share = { servable: true, verifiedBytes: 1, totalBytes: 3, uploaded: 1234, peers: 2 };

test('the four statuses, both spellings, and the desc of each state', () => {
  const seeding = cprogressAnswer({ ...base, state: 'downloading', share });
  assert.deepEqual(seeding, {
    status: 'seeding',
    Status: 'seeding',
    desc: 'btseeding dir:/r/data/transfer/bt/cfec-001/x-tmp',
    taskfile: base.taskfile,
    seedleft: 90,
    uploaded: 1234,
    peers: 2,
    percent: '33.333%',
  });
  const failedServing = cprogressAnswer({ ...base, state: 'downloading', share, err: 'bt download error: x-tmp: no data' });
  assert.equal(failedServing.status, 'seeding error');
  assert.equal(failedServing.Status, 'seeding error');
  assert.equal(failedServing.desc, 'bt download error: x-tmp: no data');
  const nothing = cprogressAnswer({ ...base, state: 'downloading', share: { ...share, servable: false, verifiedBytes: 0 } });
  assert.equal(nothing.status, 'noseeding');
  assert.equal(nothing.percent, '0.000%');
  assert.equal(cprogressAnswer({ ...base, state: 'downloading', err: 'disk full' }).status, 'noseeding error');
  const queued = cprogressAnswer({ ...base, state: 'queues' });
  assert.equal(queued.status, 'noseeding');
  assert.equal(queued.desc, 'task in queues, no seeding now.');
  assert.equal(cprogressAnswer({ ...base, state: 'queues', err: 'could not download torrent from u' }).status, 'noseeding error');
  const over = cprogressAnswer({ ...base, state: 'downloaded', share });
  assert.deepEqual([over.status, over.seedleft, over.uploaded, over.percent], ['noseeding', 0, 0, '0.000%']);
  assert.match(String(cprogressAnswer({ ...base, state: 'history', cancelled: true }).desc), /^cancelled/);
});
