// Units of the OBS method: obs:// URL parsing and object keys, where credentials come
// from (task, obsbuckets.txt, config), and that secrets are redacted. No server needed,
// except one check that a wrong access key (listing and downloading) and a missing object
// are refused by the real store with a clear message that does not contain the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseObsUrl, objectKey } from '../../src/transfer/obs/obs-url.ts';
import { parseObsBuckets, resolveObsCredentials, redact, redactText, maskKey } from '../../src/transfer/obs/credentials.ts';
import { createObsClient } from '../../src/transfer/obs/obs-client.ts';
import { isBft2Error } from '../../src/errors/catalogue.ts';
import { startS3Server } from '../../tools/harness/s3-server.ts';

test('parseObsUrl splits bucket and prefix', () => {
  assert.deepEqual(parseObsUrl('obs://cfec-001/dcps/xiaofang'), { bucket: 'cfec-001', prefix: 'dcps/xiaofang' });
  assert.deepEqual(parseObsUrl('obs://cfec-001/dcps/xiaofang/'), { bucket: 'cfec-001', prefix: 'dcps/xiaofang' });
  assert.deepEqual(parseObsUrl('obs://my.bucket-1'), { bucket: 'my.bucket-1', prefix: '' });
  assert.deepEqual(parseObsUrl('OBS://abc/x'), { bucket: 'abc', prefix: 'x' });
});

test('parseObsUrl refuses what is not an obs URL, with the URL and the reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['http://cfec-001/dcps/a', /obs:\/\/<bucket>/],
    ['obs:///dcps/a', /bucket name is missing/],
    ['obs://Upper/dcps/a', /not a valid bucket name/],
    ['obs://ab/dcps/a', /not a valid bucket name/],
    ['obs://cfec-001/dcps/../etc', /\.\. segment/],
    ['obs://cfec-001//dcps', /is absolute/],
    ['obs://cfec-001/dcps//a', /empty segment/],
    ['obs://cfec-001/a\\b', /backslash/],
  ];
  for (const [url, why] of cases) {
    assert.throws(
      () => parseObsUrl(url),
      (err: unknown) => isBft2Error(err) && err.code === 'OBS_URL_INVALID' && why.test(err.message) && err.message.includes(JSON.stringify(url)),
      url,
    );
  }
});

test('objectKey joins prefix and file, and refuses unsafe files', () => {
  assert.equal(objectKey('dcps/a', 'video.mxf'), 'dcps/a/video.mxf');
  assert.equal(objectKey('dcps/a', 'sub/ASSETMAP.xml'), 'dcps/a/sub/ASSETMAP.xml');
  assert.equal(objectKey('', 'x'), 'x');
  for (const bad of ['', '/abs', '../x', 'a//b', 'a/./b']) assert.throws(() => objectKey('dcps/a', bad), /invalid file/, bad);
});

test('parseObsBuckets: comments, blank lines, optional endpoint, bad lines reported by number without their text', () => {
  const text = [
    '# bucket ak sk endpoint',
    '',
    'cfec-001 AKAAAAAAAAAAAAAAAAAA SKSECRETSECRET https://obs.example.test   # main',
    '   ',
    'other AK2 SK2',
    'broken onlytwo',
    'cfec-001 AKDUP SKDUP https://dup.example.test',
    'too many words here now really',
  ].join('\n');
  const { buckets, problems } = parseObsBuckets(text);
  assert.deepEqual(buckets.get('cfec-001'), { bucket: 'cfec-001', ak: 'AKAAAAAAAAAAAAAAAAAA', sk: 'SKSECRETSECRET', endpoint: 'https://obs.example.test', line: 3 });
  assert.deepEqual(buckets.get('other'), { bucket: 'other', ak: 'AK2', sk: 'SK2', endpoint: '', line: 5 });
  assert.equal(buckets.size, 2);
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^line 6: /);
  assert.match(problems[1], /^line 8: /);
  assert.ok(!problems.join().includes('onlytwo'));
});

test('resolveObsCredentials: task (either spelling), else obsbuckets.txt, else config', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-obs-cred-'));
  try {
    const file = path.join(dir, 'obsbuckets.txt');
    await writeFile(file, '# keys\ncfec-001 FILEAK FILESK http://127.0.0.1:9000\nnoend NEAK NESK\n');
    const config = { obsak: 'CONFAK', obssk: 'CONFSK', obsendpoint: 'obs.config.test/' };

    assert.deepEqual(await resolveObsCredentials('cfec-001', { task: { ak: 'TAK', sk: 'TSK', endpoint: 'http://t:1' }, bucketsFile: file, config }), {
      ak: 'TAK', sk: 'TSK', endpoint: 'http://t:1', source: 'task',
    });
    // the §4.1.2 spelling; an empty first spelling does not hide the second
    assert.deepEqual(await resolveObsCredentials('cfec-001', { task: { ak: '', obsak: 'TAK2', obssk: 'TSK2', obsendpoint: 'http://t:2' }, bucketsFile: file, config }), {
      ak: 'TAK2', sk: 'TSK2', endpoint: 'http://t:2', source: 'task',
    });
    // task keys without an endpoint: the endpoint of the next source
    assert.equal((await resolveObsCredentials('cfec-001', { task: { ak: 'TAK', sk: 'TSK' }, bucketsFile: file, config })).endpoint, 'http://127.0.0.1:9000');
    // no task keys: the file's line for the bucket
    assert.deepEqual(await resolveObsCredentials('cfec-001', { task: { ak: '', sk: '', endpoint: '' }, bucketsFile: file, config }), {
      ak: 'FILEAK', sk: 'FILESK', endpoint: 'http://127.0.0.1:9000', source: 'obsbuckets',
    });
    // a file line without endpoint takes the config's
    assert.deepEqual(await resolveObsCredentials('noend', { bucketsFile: file, config }), { ak: 'NEAK', sk: 'NESK', endpoint: 'obs.config.test', source: 'obsbuckets' });
    // bucket not in the file: config
    assert.deepEqual(await resolveObsCredentials('elsewhere', { bucketsFile: file, config }), { ak: 'CONFAK', sk: 'CONFSK', endpoint: 'obs.config.test', source: 'config' });
    // a missing file is an empty one
    assert.equal((await resolveObsCredentials('cfec-001', { bucketsFile: path.join(dir, 'none.txt'), config })).source, 'config');

    // nothing anywhere: an error naming the bucket and the places looked at, no secret
    await assert.rejects(
      resolveObsCredentials('elsewhere', { bucketsFile: file, config: { obsak: '', obssk: '', obsendpoint: '' } }),
      (err: unknown) => isBft2Error(err) && err.code === 'OBS_CREDENTIALS' && /elsewhere/.test(err.message) && err.message.includes(file) && !/FILESK|NESK/.test(err.message),
    );
    await assert.rejects(
      resolveObsCredentials('x-bucket', { task: { ak: 'A', sk: 'S' }, config: { obsak: '', obssk: '', obsendpoint: '' } }),
      /no OBS endpoint for bucket x-bucket/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('redact hides the SK and masks the AK; redactText scrubs both out of messages', () => {
  const keys = { ak: 'AKIAEXAMPLEKEY123456', sk: 'verysecretkeyverysecretkey', endpoint: 'https://obs.example.test' };
  const r = redact(keys);
  assert.equal(r.sk, '***');
  assert.equal(r.ak, '***3456');
  assert.equal(r.endpoint, keys.endpoint);
  assert.equal(maskKey('SHORT'), '***');
  const msg = `failed for AKIAEXAMPLEKEY123456 with verysecretkeyverysecretkey`;
  const out = redactText(msg, keys);
  assert.ok(!out.includes(keys.ak) && !out.includes(keys.sk), out);
  assert.ok(!JSON.stringify(redact(keys)).includes(keys.sk));
});

test('createObsClient refuses an empty or malformed endpoint instead of an unhandled rejection', async () => {
  await assert.rejects(createObsClient({ ak: 'a', sk: 'b', endpoint: '' }), /no OBS endpoint/);
  await assert.rejects(createObsClient({ ak: 'a', sk: 'b', endpoint: 'ftp://x' }), /invalid OBS endpoint/);
  await assert.rejects(createObsClient({ ak: '', sk: 'b', endpoint: 'http://127.0.0.1:1' }), /no OBS access key/);
});

test('a wrong access key is refused by the store with a message that names the object, not the key nor the signed URL', async () => {
  const s3 = await startS3Server();
  try {
    const good = await createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
    assert.equal(await good.headObject(s3.bucket, 'dcps/none/file'), undefined);
    assert.deepEqual(await good.listObjects(s3.bucket, 'dcps/'), []);
    good.close();
    const bad = await createObsClient({ ak: 'WRONGACCESSKEY0001', sk: 'WRONGSECRET', endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
    const keyless = (err: Error) => !err.message.includes('WRONGACCESSKEY0001') && !err.message.includes('WRONGSECRET') && !/Signature=|AccessKeyId=/.test(err.message);
    await assert.rejects(bad.listObjects(s3.bucket, 'dcps/'), (err: Error) => {
      assert.match(err.message, /HTTP 403 InvalidAccessKeyId/);
      assert.ok(keyless(err), err.message);
      return true;
    });
    // A download (a GET of a URL the SDK signs): the status and the store's code, the object named.
    await assert.rejects(bad.getObjectFrom(s3.bucket, 'dcps/film/reel.mxf', { start: 0, signal: new AbortController().signal }), (err: Error & { status?: number; code?: string }) => {
      assert.equal(err.status, 403);
      assert.equal(err.code, 'InvalidAccessKeyId');
      assert.match(err.message, new RegExp(`^OBS getObject ${s3.bucket}/dcps/film/reel\\.mxf at .*: HTTP 403 InvalidAccessKeyId`));
      assert.ok(keyless(err), err.message);
      return true;
    });
    bad.close();
    // With the right key, a missing object is a 404 NoSuchKey.
    const again = await createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
    await assert.rejects(again.getObjectFrom(s3.bucket, 'dcps/none/file', { start: 0, signal: new AbortController().signal }), (err: Error & { status?: number; code?: string }) => {
      assert.equal(err.status, 404);
      assert.equal(err.code, 'NoSuchKey');
      assert.ok(!/Signature=|AccessKeyId=/.test(err.message), err.message);
      return true;
    });
    again.close();
  } finally {
    await s3.close();
  }
});
