import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateTask, planDownload, checkMethodsAvailable, unsafeRelativePath } from '../../src/task/validate-task.ts';

const H = 'a'.repeat(40);
function task(over: Record<string, unknown> = {}) {
  return {
    name: 'dcp1',
    basesubdir: 'cfec-001',
    size: 300,
    'bt-obs-cdn': '0:0:1',
    cdn: { url: 'http://127.0.0.1:1/dcp/cfec-001/dcps/dcp1', priortime: '00:00-23:59' },
    filelist: [
      { file: 'a.mxf', hash: H, size: 100 },
      { file: 'sub/b.xml', hash: H.toUpperCase(), size: '200' },
    ],
    btlist: [''],
    obslist: [''],
    cdnlist: ['a.mxf', 'sub/b.xml'],
    localsamefiles: [''],
    custom_field: { kept: true },
    ...over,
  };
}
const code = (c: string) => (err: Error & { code?: string }) => err.code === c;

test('a good task validates; [""] lists are empty; unknown fields are kept; sizes as strings count', () => {
  const t = validateTask(task(), 'f');
  assert.deepEqual(t.btlist, []);
  assert.deepEqual(t.cdnlist, ['a.mxf', 'sub/b.xml']);
  assert.equal(t.filelist[1].size, 200);
  assert.equal(t.filelist[1].hash, H);
  assert.deepEqual((t as Record<string, unknown>).custom_field, { kept: true });
});

test('the seed checks give the seed texts', () => {
  assert.throws(() => validateTask(task({ size: 0 }), '/q/x.task.json'), { message: 'total files size equal 0 :/q/x.task.json' });
  assert.throws(() => validateTask(task({ size: 301 }), '/q/x.task.json'), { message: 'totalsize != all lists sum : /q/x.task.json' });
  assert.throws(() => validateTask(task({ cdnlistsize: 5 }), '/q/x.task.json'), { message: 'totalsize != all lists sum : /q/x.task.json' });
});

test('unsafe paths are refused, naming the value and the reason', () => {
  for (const [file, why] of [
    ['../etc/passwd', '..'],
    ['/etc/passwd', 'absolute'],
    ['a//b', 'empty segment'],
    ['a\\b', 'backslash'],
    ['a\0b', 'NUL'],
    ['./a', '. segment'],
  ]) {
    const t = task({ filelist: [{ file, hash: H, size: 300 }], cdnlist: [file] });
    assert.throws(() => validateTask(t, 'f'), (err: Error & { code?: string }) => err.code === 'TASK_UNSAFE_PATH' && err.message.includes(why), file);
  }
  assert.throws(() => validateTask(task({ name: 'a/b' }), 'f'), /unsafe path in name: "a\/b" \(contains \/\)/);
  assert.throws(() => validateTask(task({ name: '..' }), 'f'), code('TASK_UNSAFE_PATH'));
  assert.throws(() => validateTask(task({ basesubdir: '../x' }), 'f'), code('TASK_UNSAFE_PATH'));
  assert.equal(unsafeRelativePath('sub/dir/file.mxf'), undefined);
});

test('lists must partition filelist', () => {
  assert.throws(() => validateTask(task({ cdnlist: ['a.mxf'] }), 'f'), /not in any method list: sub\/b.xml/);
  assert.throws(() => validateTask(task({ btlist: ['a.mxf'] }), 'f'), /a.mxf is in both btlist and cdnlist/);
  assert.throws(() => validateTask(task({ cdnlist: ['a.mxf', 'sub/b.xml', 'c'] }), 'f'), /cdnlist names c, which is not in filelist/);
  const dup = task({ filelist: [{ file: 'a', hash: H, size: 1 }, { file: 'a', hash: H, size: 1 }], cdnlist: ['a'], size: 2 });
  assert.throws(() => validateTask(dup, 'f'), /a appears twice in filelist/);
  const nested = task({ filelist: [{ file: 'a', hash: H, size: 1 }, { file: 'a/b', hash: H, size: 1 }], cdnlist: ['a', 'a/b'], size: 2 });
  assert.throws(() => validateTask(nested, 'f'), /a is both a file and a directory/);
});

test('schema problems name the field', () => {
  assert.throws(() => validateTask({ name: 'x' }, 'f'), (err: Error) => /size/.test(err.message) && /filelist/.test(err.message));
  assert.throws(() => validateTask(task({ filelist: [{ file: 'a.mxf', hash: 'xyz', size: 300 }], cdnlist: ['a.mxf'] }), 'f'), /filelist.0.hash: must be a sha1/);
  assert.throws(() => validateTask(task({ size: -1 }), 'f'), /size: must not be negative/);
  assert.throws(() => validateTask('not an object', 'f'), code('TASK_SCHEMA'));
});

test('plan: lists2 minus local files, a share without URL is refused, unavailable methods named', () => {
  const t = validateTask(task(), 'f');
  const plan = planDownload(t, new Set(['a.mxf']), 'f');
  assert.deepEqual(plan.lists2.cdn, ['sub/b.xml']);
  assert.equal(plan.sizes2.cdn, 200);
  assert.equal(plan.localsameSize, 100);
  assert.throws(() => planDownload(validateTask(task({ cdn: { url: '' } }), 'f'), new Set(), '/q/x'), { message: 'cdn has files but cdn.url is empty : /q/x' });
  const bt = validateTask(task({ btlist: ['a.mxf'], cdnlist: ['sub/b.xml'], bt: { url: 'http://127.0.0.1:1/x.torrent' } }), 'f');
  assert.throws(() => checkMethodsAvailable(planDownload(bt, new Set(), 'f'), new Set(['cdn'])), { message: 'bt method not available on this node yet' });
  checkMethodsAvailable(planDownload(bt, new Set(['a.mxf']), 'f'), new Set(['cdn']));
});
