// The status page (SPEC §10) in a real headless browser: Debian's chromium driven by
// playwright-core against a real receiver daemon holding a task in each state — running
// (a throttled CDN download), waiting (for its window), failed (a download that cannot
// succeed, and a task refused at admission), finished. With JavaScript off the page shows
// them all (it is rendered on the server); at 1280 px nothing scrolls sideways; the failed
// and refused rows are red; with JavaScript on it loads with no console error and no
// failed request, the running bar moves without a reload, and a task named like an HTML
// tag is text. Screenshots (the whole page, and the task table with one state at a time)
// go to a temp directory that is kept; its path is printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const CHROMIUM = '/usr/bin/chromium';
// The flags of the machine notes: headless, no sandbox (CI runs as root), and nothing that
// reaches out to Google's hosts on a closed network.
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const HOSTILE = '<img src=x onerror=alert(1)>';
const WIDTH = 1280;

let originRoot: string;
let origin: TestOrigin;
const dcps: Record<string, MadeDcp> = {};
let root: string;
let d: Daemon;
let shots: string;
const profiles: string[] = [];
let browser: BrowserContext | undefined;

before(async () => {
  originRoot = await makeTempRoot();
  const parent = path.join(originRoot, 'cfec-001', 'dcps');
  dcps.slow = await makeDcp(parent, 'slow', [{ file: 'reel1.mxf', size: 24 * MB }, { file: 'CPL.xml', size: 2100 }]);
  dcps.night = await makeDcp(parent, 'night', [{ file: 'trailer.mxf', size: 300 * 1024 }]);
  dcps.done = await makeDcp(parent, 'done', [{ file: 'short.mxf', size: 400 * 1024 }, { file: 'PKL.xml', size: 900 }]);
  origin = await startTestOrigin(originRoot);
  root = await makeTempRoot();
  d = await startDaemon({ root, config: { downloadingnum: 4 }, tuning: { retrydelay: '200ms', quickdelay: '200ms' } });
  shots = await mkdtemp(path.join(os.tmpdir(), 'bft2-status-shots-'));
});
/** Closing a browser is bounded too: a wedged one is left to the process's exit. */
function closeBrowser(b: BrowserContext): Promise<void> {
  return Promise.race([b.close().catch(() => {}), new Promise<void>((r) => setTimeout(r, 10_000).unref())]);
}

after(async () => {
  if (browser) await closeBrowser(browser);
  await d?.stop();
  await origin?.close();
  // The screenshots stay (their directory is printed); everything else goes.
  for (const dir of [originRoot, root, ...profiles]) if (dir) await rm(dir, { recursive: true, force: true });
});

async function launch(javaScriptEnabled: boolean): Promise<BrowserContext> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'bft2-chromium-'));
  profiles.push(profile);
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 30_000, javaScriptEnabled, viewport: { width: WIDTH, height: 900 } });
}

/** The CDN bar of a task as the page shows it (aria-valuenow, 0..100), or undefined while not shown. */
function cdnBar(page: Page, task: string): Promise<number | undefined> {
  return page.evaluate((name) => {
    const row = [...document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')].find((r) => r.dataset.task === name);
    const bar = row?.querySelector('.method[data-method="cdn"] [role="progressbar"]');
    return bar ? Number(bar.getAttribute('aria-valuenow')) : undefined;
  }, task);
}

/** What the page shows of each task: state, the failed mark, the badge's colour, peers and reason. */
function rows(page: Page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')].map((r) => [
        r.dataset.task!,
        {
          state: r.querySelector('.state')!.textContent,
          failed: r.classList.contains('failed'),
          badge: getComputedStyle(r.querySelector('.state')!).backgroundColor,
          peers: r.querySelector('td.peers')!.textContent,
          figures: r.querySelector('.figures')?.textContent ?? '',
          why: r.querySelector('td.why')!.textContent,
        },
      ]),
    ),
  );
}

/** Nothing wider than the window: the page, and every section inside it. */
function overflows(page: Page) {
  return page.evaluate(() => {
    const out: string[] = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth) out.push(`page ${doc.scrollWidth} > ${doc.clientWidth}`);
    for (const el of document.querySelectorAll<HTMLElement>('section, table')) if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.id || el.tagName} ${el.scrollWidth} > ${el.clientWidth}`);
    return out;
  });
}

/** A window that does not hold the present hour: opens in two hours, for one hour. */
function closedWindow(): string {
  const h = (new Date().getHours() + 2) % 24;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(h)}:00-${p((h + 1) % 24)}:00`;
}

test('the status page: rendered on the server (JavaScript off), fits 1280 px, failed and refused tasks red; with JavaScript the running bar moves; a hostile task name is text', { timeout: 150_000 }, async (t) => {
  assert.ok(await stat(CHROMIUM).then(() => true, () => false), `${CHROMIUM} is missing: run tools/install-test-deps as root`);
  const url = (name: string) => `${origin.url}/dcp/cfec-001/dcps/${name}`;
  const drop = (name: string, task: Record<string, unknown>) => writeFile(path.join(d.paths.queues, `cfec-001-${name}.task.json`), JSON.stringify(task));

  // running: 24 MiB at 512 KiB/s, about 48 s.
  origin.throttle(MB / 2);
  await drop('slow', makeCdnTask({ name: 'slow', basesubdir: 'cfec-001', cdnUrl: url('slow'), filelist: dcps.slow.filelist }));
  // finished
  await drop('done', makeCdnTask({ name: 'done', basesubdir: 'cfec-001', cdnUrl: url('done'), filelist: dcps.done.filelist }));
  // waiting: for its CDN window, which opens in two hours
  const window = closedWindow();
  await drop('night', makeCdnTask({ name: 'night', basesubdir: 'cfec-001', cdnUrl: url('night'), filelist: dcps.night.filelist, extra: { policy: 'priortime', cdn: { url: url('night'), priortime: window } } }));
  // failed: a task whose name is markup, from outside like any task; its URL leads nowhere,
  // so its name also reaches the error list and the log lines.
  const none = `${origin.directUrl}/dcp/cfec-001/dcps/none`;
  await drop(HOSTILE, makeCdnTask({ name: HOSTILE, basesubdir: 'cfec-001', cdnUrl: none, filelist: dcps.done.filelist, extra: { policy: 'priortime', cdn: { url: none, priortime: '00:00-24:00' } } }));
  // refused at admission: its size is not the sum of its files
  await drop('refused', { ...makeCdnTask({ name: 'refused', basesubdir: 'cfec-001', cdnUrl: url('done'), filelist: dcps.done.filelist }), size: 12345 });

  const progress = async (name: string) => (await d.api('progress', { taskfile: `cfec-001-${name}.task.json` })).return_content;
  await waitFor(async () => (await progress('done')).status === 'downloaded', { timeoutMs: 30_000, what: 'done downloaded' });
  await waitFor(async () => (await progress('night')).cdnnext !== '', { timeoutMs: 30_000, what: 'night waiting for its window' });
  await waitFor(async () => (await progress(HOSTILE)).status === 'downloaderror', { timeoutMs: 30_000, what: 'the hostile task in downloaderror' });
  await waitFor(() => stat(path.join(d.paths.queues, 'cfec-001-refused.err')).then(() => true), { timeoutMs: 30_000, what: 'refused.err' });
  await waitFor(async () => {
    const p = await progress('slow');
    return p.status === 'downloading' && Number.parseFloat(p.cdnpercent) > 0;
  }, { timeoutMs: 30_000, what: 'slow downloading' });

  // ----- JavaScript off: the server's page alone -----
  browser = await launch(false);
  const plain = browser.pages()[0] ?? (await browser.newPage());
  plain.setDefaultTimeout(15_000);
  const res = await plain.goto(`${d.apiBase}/`, { waitUntil: 'load' });
  assert.equal(res?.status(), 200);
  assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
  assert.equal(await plain.title(), 'bft2 status');
  assert.doesNotMatch((await plain.locator('body').textContent()) ?? '', /loading…/);
  const seen: Record<string, Awaited<ReturnType<typeof rows>>[string]> = await rows(plain);
  const hostileTask = `cfec-001-${HOSTILE}`;
  assert.deepEqual(Object.keys(seen).sort(), ['cfec-001-done', 'cfec-001-night', 'cfec-001-refused', 'cfec-001-slow', hostileTask].sort());
  assert.equal(seen['cfec-001-slow'].state, 'downloading');
  assert.match(seen['cfec-001-slow'].figures, /^\d+\.\d{3}% · \d+ (B|KB|MB)\/s/, 'percent and rate');
  assert.equal(seen['cfec-001-slow'].peers, '0', 'the peer count of progress');
  assert.equal(seen['cfec-001-night'].state, 'downloading');
  assert.equal(seen['cfec-001-night'].why, `waiting for cdn window ${window.slice(0, 5)}`);
  assert.equal(seen['cfec-001-done'].state, 'downloaded');
  assert.equal(seen['cfec-001-done'].figures, '100.000%');
  // Failed and refused: red, with the reason.
  const red = 'rgb(180, 35, 24)';
  for (const name of [hostileTask, 'cfec-001-refused']) {
    assert.equal(seen[name].failed, true, `${name} marked failed`);
    assert.equal(seen[name].badge, red, `${name}: a red badge`);
  }
  assert.equal(seen['cfec-001-refused'].state, 'queues');
  assert.match(seen['cfec-001-refused'].why, /^totalsize != all lists sum : /);
  assert.match(seen[hostileTask].why, /cdn download error: /);
  for (const name of ['cfec-001-slow', 'cfec-001-night', 'cfec-001-done']) assert.notEqual(seen[name].badge, red, `${name} is not red`);
  assert.deepEqual(await overflows(plain), [], `nothing scrolls sideways at ${WIDTH} px`);

  // Screenshots: the whole page, then the task table with one state at a time.
  await plain.screenshot({ path: path.join(shots, 'status-page.png'), fullPage: true });
  for (const [state, names] of [
    ['running', ['cfec-001-slow']],
    ['waiting', ['cfec-001-night']],
    ['failed', [hostileTask, 'cfec-001-refused']],
    ['finished', ['cfec-001-done']],
  ] as const) {
    await plain.evaluate((keep) => {
      for (const r of document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')) r.hidden = !keep.includes(r.dataset.task!);
    }, [...names] as string[]);
    await plain.locator('#tasks-section').screenshot({ path: path.join(shots, `status-${state}.png`) });
  }
  t.diagnostic(`screenshots in ${shots}`);
  console.log(`status page screenshots: ${shots}`);
  await closeBrowser(browser);

  // ----- JavaScript on: it refreshes in place -----
  browser = await launch(true);
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(`${d.apiBase}/`, { waitUntil: 'load' });
  await page.evaluate(() => ((window as unknown as { loadedOnce: number }).loadedOnce = 1));
  // First look, then a later one: the bar has moved, through the page's own refresh.
  const first = await waitFor(() => cdnBar(page, 'cfec-001-slow'), { timeoutMs: 10_000, what: 'the slow task\'s CDN bar' });
  assert.ok(first > 0 && first < 100, `first look ${first}%`);
  const updated = await page.locator('#updated').textContent();
  const second = await waitFor(async () => {
    const v = await cdnBar(page, 'cfec-001-slow');
    return v !== undefined && v > first ? v : undefined;
  }, { timeoutMs: 10_000, intervalMs: 250, what: `the CDN bar to move past ${first}%` });
  t.diagnostic(`CDN bar ${first}% then ${second}%`);
  assert.notEqual(await page.locator('#updated').textContent(), updated, 'the time moved with it');
  assert.equal(await page.evaluate(() => (window as unknown as { loadedOnce?: number }).loadedOnce), 1, 'refreshed in place, not reloaded');
  const row = page.locator('#tasks tbody tr[data-task="cfec-001-slow"]');
  assert.match((await row.locator('.method[data-method="cdn"] .info').textContent()) ?? '', /100\.0% of task/);
  assert.match((await row.locator('.method[data-method="cdn"] .info').textContent()) ?? '', /fulltime: no window/);
  assert.deepEqual(await overflows(page), [], `nothing scrolls sideways at ${WIDTH} px after a refresh`);

  // The hostile name: shown as the very text it is, in its row and in the error list, and
  // no element, handler or dialog came of it.
  const cell = await page.evaluate((name) => [...document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')].find((r) => r.dataset.task === name)!.querySelector('.name')!.textContent, hostileTask);
  assert.equal(cell, hostileTask);
  assert.ok(await page.evaluate((name) => [...document.querySelectorAll('#errors li')].some((li) => li.textContent!.includes(name)), hostileTask), 'in the error list');
  // Its transfer window: the task's own, under its policy.
  const hostileRow = page.locator('#tasks tbody tr[data-state="downloaderror"]');
  assert.equal(await hostileRow.locator('.policy').textContent(), 'policy priortime');
  assert.match((await hostileRow.locator('.method[data-method="cdn"] .info').textContent()) ?? '', /window 00:00-24:00 \(task\)/);
  assert.match((await page.locator('#tasks tbody tr[data-task="cfec-001-night"] .method[data-method="cdn"] .info').textContent()) ?? '', new RegExp(`window ${window} \\(task\\) · opens `));
  assert.equal(await page.locator('img').count(), 0, 'no <img> element');
  assert.ok((await page.locator('#tasks tbody').innerHTML()).includes('&lt;img src=x onerror=alert(1)&gt;'), 'the name is escaped in the markup');
  assert.ok((await page.locator('#log').textContent())!.includes(HOSTILE), 'the log lines name it as text too');
  assert.deepEqual(dialogs, []);

  await closeBrowser(browser);
  browser = undefined;
  assert.deepEqual(problems, [], 'no console errors, no failed requests');
  origin.throttle(null);
});
