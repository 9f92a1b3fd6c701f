// The disk reserve: parsing, the verdict, statfs through missing directories, and naming
// the filesystem from mountinfo (a fixture for the parser, the real /proc for the rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statfs, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  parseReserve,
  reserveProblem,
  reserveBytes,
  reserveVerdict,
  freeSpace,
  mountForPath,
  findMount,
  describeFilesystem,
} from '../../src/schedule/disk-reserve.ts';

const GiB = 1024 ** 3;

test('parse: bytes, a share, none', () => {
  assert.deepEqual(parseReserve('20GB'), { kind: 'bytes', bytes: 20 * GiB });
  assert.deepEqual(parseReserve(' 5% '), { kind: 'percent', percent: 5 });
  assert.deepEqual(parseReserve('2.5%'), { kind: 'percent', percent: 2.5 });
  assert.deepEqual(parseReserve('0'), { kind: 'bytes', bytes: 0 });
  assert.deepEqual(parseReserve('0%'), { kind: 'percent', percent: 0 });
});

test('parse: each problem named', () => {
  assert.equal(reserveProblem('100%'), '100%: a reserve of 100% or more leaves no room for any download');
  assert.equal(reserveProblem('20'), '20 has no unit (B, KB, MB, GB, TB; 1 KB = 1024 B), e.g. 20MB; diskreserve must be a size like 20GB or a share like 5% (0 for none; 1 GB = 1024^3 B)');
  assert.match(reserveProblem('lots')!, /^lots is not a size/);
  assert.match(reserveProblem('-5%')!, /^-5% is not a size/);
  assert.equal(reserveProblem(''), '(nothing) must be a size like 20GB or a share like 5% (0 for none; 1 GB = 1024^3 B)');
  assert.equal(reserveProblem('5%'), undefined);
});

test('the reserve in bytes and the verdict', () => {
  assert.equal(reserveBytes(parseReserve('5%'), 1000), 50);
  assert.equal(reserveBytes(parseReserve('5%'), 1001), 51, 'rounded up: the reserve is kept, not nearly kept');
  assert.equal(reserveBytes(parseReserve('20GB'), 1000), 20 * GiB);
  const reserve = parseReserve('10%');
  assert.deepEqual(reserveVerdict({ free: 500, total: 1000, reserve, needed: 400 }), { ok: true, short: 0 });
  assert.deepEqual(reserveVerdict({ free: 500, total: 1000, reserve, needed: 401 }), { ok: false, short: 1 });
  assert.deepEqual(reserveVerdict({ free: 100, total: 1000, reserve, needed: 0 }), { ok: true, short: 0 });
  assert.deepEqual(reserveVerdict({ free: 40, total: 1000, reserve, needed: 0 }), { ok: false, short: 60 });
});

test('free space: statfs of the nearest existing ancestor', async () => {
  const real = await statfs(os.tmpdir());
  const space = await freeSpace(path.join(os.tmpdir(), 'no-such-dir-bft2', 'deeper', 'file'));
  assert.equal(space.total, real.blocks * real.bsize);
  assert.ok(Math.abs(space.free - real.bavail * real.bsize) < 256 * 1024 * 1024, 'free moves a little between calls, not by much');
  // A path "below" a file (ENOTDIR) is measured at the file.
  assert.equal((await freeSpace('/proc/self/status/below')).total, (await statfs('/proc')).blocks * (await statfs('/proc')).bsize);
});

test('mountinfo: the longest mount-point prefix, the later of equal ones, escapes undone', () => {
  const mountinfo = [
    '27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
    '40 27 0:40 / /data rw,relatime - xfs /dev/sdb1 rw',
    '41 40 0:41 / /data/dcp\\040store rw,relatime shared:5 - tmpfs tmpfs rw,size=1024k',
    '42 27 0:42 / /database rw - ext4 /dev/sdc1 rw',
    '43 40 0:43 / /data rw - nfs4 server:/export rw',
    '',
  ].join('\n');
  assert.deepEqual(mountForPath(mountinfo, '/data/dcp store/film'), { mountPoint: '/data/dcp store', fsType: 'tmpfs', source: 'tmpfs' });
  assert.deepEqual(mountForPath(mountinfo, '/data/other'), { mountPoint: '/data', fsType: 'nfs4', source: 'server:/export' });
  assert.deepEqual(mountForPath(mountinfo, '/datas'), { mountPoint: '/', fsType: 'ext4', source: '/dev/sda1' });
  assert.deepEqual(mountForPath(mountinfo, '/database'), { mountPoint: '/database', fsType: 'ext4', source: '/dev/sdc1' });
  assert.equal(mountForPath('', '/x'), undefined);
});

test('the real mount table, through a symlink and a missing directory', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-mount-'));
  try {
    await symlink('/proc/self', path.join(dir, 'link'));
    assert.deepEqual((await findMount(path.join(dir, 'link', 'status')))?.mountPoint, '/proc');
    assert.equal(await describeFilesystem('/proc/self/not/here'), 'the filesystem at /proc (proc)');
  } finally {
    await rm(dir, { recursive: true });
  }
});
