import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { renderStatusPage, escapeHtml } from '../../src/observe/status-page.ts';
import { formatRows, trafficOf, type StatusRow } from '../../src/observe/status-rows.ts';
import type { StatusSnapshot, TaskView } from '../../src/observe/status-snapshot.ts';

const template = await readFile(new URL('../../src/observe/status-page.html', import.meta.url), 'utf8');

function task(over: Partial<TaskView>): TaskView {
  return { role: 'receiver', state: 'downloading', dir: 'downloading', task: 'cfec-001-x', percent: '10.000%', rate: '1 MB/s', eta: '5 min', etaMinutes: 5, reason: '', failed: false, stalled: '', peers: 3, traffic: '', policy: 'fulltime', size: 1000, methods: [], ...over };
}

function snapshot(tasks: TaskView[]): StatusSnapshot {
  return {
    now: '2026-12-07 10:00:00',
    version: '2.1.0',
    node: { servertype: 'receiver', root: '/r', apilisten: '127.0.0.1:8191', metricslisten: '', watching: 'inotify' },
    windows: { priorpolicy: 'fulltime', bttime: '00:00-23:59', obstime: '00:00-08:00', cdntime: '08:00-18:00' },
    tasks,
    omittedHistory: 0,
    errors: [],
    log: [],
    disks: [],
  };
}

test('the page is rendered whole: rows, peers, a stalled flag, a refused task marked failed; the script and style untouched', () => {
  const page = renderStatusPage(
    template,
    snapshot([
      task({ task: 'cfec-001-moving', methods: [{ method: 'bt', share: 1, done: 0.25, rate: '1 MB/s', status: '', window: 'fulltime', windowFrom: '', next: '' }] }),
      task({ task: 'cfec-001-stuck', stalled: 'no data for 45 s from bt', peers: 0 }),
      task({ task: 'cfec-001-refused', state: 'queues', dir: 'queues', percent: '', rate: '', eta: '', peers: null, failed: true, reason: 'totalsize != all lists sum : /q/cfec-001-refused.task.json' }),
    ]),
  );
  assert.ok(!page.includes('<!-- bft2:'), 'every marked place filled');
  assert.ok(page.includes(template.slice(template.indexOf('<script>'), template.indexOf('</script>'))), 'the script as in the template (its CSP hash holds)');
  assert.match(page, /<tr class="" data-role="receiver" data-task="cfec-001-moving" data-state="downloading">/);
  assert.match(page, /<td class="num peers">3<\/td>/);
  assert.match(page, /<progress class="bt" max="100" value="25.00" role="progressbar" [^>]*aria-valuenow="25.000"/);
  assert.match(page, /<tr class="stalled" [^>]*data-task="cfec-001-stuck"[^>]* data-stalled="true">/);
  assert.match(page, /<span class="flag stalled" title="no data for 45 s from bt">stalled<\/span>/);
  assert.match(page, /<td class="why">stalled: no data for 45 s from bt<\/td>/);
  assert.match(page, /<tr class="failed" [^>]*data-task="cfec-001-refused" data-state="queues" data-failed="true">/);
  assert.match(page, /<span class="state err">queues<\/span>/);
  assert.match(page, /<td class="num peers">–<\/td>/);
});

test('every value from outside is escaped, in text and in attributes; $ patterns stay as they are', () => {
  const hostile = `<img src=x onerror=alert(1)>"'&$&$'`;
  const page = renderStatusPage(template, snapshot([task({ task: hostile, reason: hostile, failed: true })]));
  assert.ok(!page.includes('<img'), 'no element made of a name');
  assert.ok(page.includes(`data-task="${escapeHtml(hostile)}"`));
  assert.ok(page.includes(`<div class="name">${escapeHtml(hostile)}</div>`));
  assert.equal(escapeHtml(hostile), '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;$&amp;$&#39;');
});

test('bft2 status prints the same peers and stall as the page', () => {
  const row = (over: Partial<StatusRow>): StatusRow => ({ role: 'receiver', state: 'downloading', task: 'cfec-001-x', dir: 'downloading', taskfile: '', percent: '50.000%', rate: '0 B/s', etaMinutes: null, reason: '', failed: false, stalled: '', peers: 0, traffic: '', methods: {}, answer: {}, ok: true, ...over });
  assert.deepEqual(formatRows([row({ task: 'a', methods: { bt: 0.5 }, peers: 1, stalled: 'no data for 45 s from bt' }), row({ task: 'b', methods: { cdn: 0.5 }, reason: 'cdn waits for its window' })]), [
    'receiver/downloading  a  50.000%  0 B/s  1 peer  stalled: no data for 45 s from bt',
    'receiver/downloading  b  50.000%  0 B/s          cdn waits for its window',
  ]);
});

test('status and the page show what a task cost or sent: the bill of a download, the bytes a sender sent per method', () => {
  assert.equal(trafficOf({ totalcost: 1.234, currency: 'EUR', btcost: 0 }), 'cost 1.23 EUR');
  assert.equal(trafficOf({ totalcost: 0, currency: 'CNY' }), '', 'nothing billed yet: nothing to say');
  assert.equal(trafficOf({ btuploaded: 3 * 1024 ** 3, obsuploaded: 0, cdnuploaded: 300 * 1024 ** 2 }), 'sent bt 3.0 GiB, cdn 300.0 MiB');
  const row = (over: Partial<StatusRow>): StatusRow => ({ role: 'receiver', state: 'downloading', task: 'x', dir: 'downloading', taskfile: '', percent: '50.000%', rate: '1 MB/s', etaMinutes: null, reason: '', failed: false, stalled: '', peers: null, traffic: '', methods: {}, answer: {}, ok: true, ...over });
  assert.deepEqual(formatRows([row({ traffic: 'cost 1.23 EUR', reason: 'bt waits for its window' })]), ['receiver/downloading  x  50.000%  1 MB/s  cost 1.23 EUR  bt waits for its window']);
  const page = renderStatusPage(template, snapshot([task({ task: 'cfec-001-billed', traffic: 'cost 1.23 EUR' })]));
  assert.match(page, /<span class="small num figures">10.000% · 1 MB\/s · ETA 5 min · cost 1.23 EUR<\/span>/);
});
