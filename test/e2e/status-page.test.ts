// The status page (SPEC §10) in a real headless browser: Debian's chromium driven by
// playwright-core against a real receiver daemon. The page loads with no console error
// and no failed request, shows a running (throttled) CDN download whose bar moves between
// two looks without a reload, and shows a task named like an HTML tag as text. A
// screenshot goes to os.tmpdir() (never into the repository); its path is printed.
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

let originRoot: string;
let origin: TestOrigin;
let dcp: MadeDcp;
let root: string;
let d: Daemon;
let profile: string;
let browser: BrowserContext | undefined;

before(async () => {
  originRoot = await makeTempRoot();
  dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'slow', [
    { file: 'reel1.mxf', size: 12 * MB },
    { file: 'CPL.xml', size: 2100 },
  ]);
  origin = await startTestOrigin(originRoot);
  root = await makeTempRoot();
  d = await startDaemon({ root, config: { downloadingnum: 2 }, tuning: { retrydelay: '200ms', quickdelay: '200ms' } });
  profile = await mkdtemp(path.join(os.tmpdir(), 'bft2-chromium-'));
});
/** Closing a browser is bounded too: a wedged one is left to the process's exit. */
function closeBrowser(b: BrowserContext): Promise<void> {
  return Promise.race([b.close().catch(() => {}), new Promise<void>((r) => setTimeout(r, 10_000).unref())]);
}

after(async () => {
  if (browser) await closeBrowser(browser);
  await d?.stop();
  await origin?.close();
  for (const dir of [originRoot, root, profile]) if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CDN bar of a task as the page shows it (aria-valuenow, 0..100), or undefined while not shown. */
function cdnBar(page: Page, task: string): Promise<number | undefined> {
  return page.evaluate((name) => {
    const row = [...document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')].find((r) => r.dataset.task === name);
    const bar = row?.querySelector('.method[data-method="cdn"] [role="progressbar"]');
    return bar ? Number(bar.getAttribute('aria-valuenow')) : undefined;
  }, task);
}

test('the status page: loads cleanly, a running download\'s CDN bar moves, a hostile task name is text', { timeout: 120_000 }, async (t) => {
  assert.ok(await stat(CHROMIUM).then(() => true, () => false), `${CHROMIUM} is missing: run tools/install-test-deps as root`);

  // A download slow enough to watch: 12 MiB at 512 KiB/s, about 24 s.
  origin.throttle(MB / 2);
  const cdnUrl = `${origin.url}/dcp/cfec-001/dcps/slow`;
  await writeFile(path.join(d.paths.queues, 'cfec-001-slow.task.json'), JSON.stringify(makeCdnTask({ name: 'slow', basesubdir: 'cfec-001', cdnUrl, filelist: dcp.filelist })));
  // A task whose name is markup, from outside like any task; its URL leads nowhere, so its
  // name also reaches the error list and the log lines.
  await writeFile(
    path.join(d.paths.queues, `cfec-001-${HOSTILE}.task.json`),
    JSON.stringify(makeCdnTask({ name: HOSTILE, basesubdir: 'cfec-001', cdnUrl: `${origin.directUrl}/dcp/cfec-001/dcps/none`, filelist: dcp.filelist, extra: { policy: 'priortime', cdn: { url: `${origin.directUrl}/dcp/cfec-001/dcps/none`, priortime: '00:00-24:00' } } })),
  );
  await waitFor(async () => {
    const p = (await d.api('progress', { taskfile: 'cfec-001-slow.task.json' })).return_content;
    return p.status === 'downloading' && Number.parseFloat(p.cdnpercent) > 0;
  }, { timeoutMs: 30_000, what: 'slow downloading' });

  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 30_000 });
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

  const started = Date.now();
  const res = await page.goto(`${d.apiBase}/`, { waitUntil: 'load' });
  assert.equal(res?.status(), 200);
  assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
  assert.equal(await page.title(), 'bft2 status');
  await page.evaluate(() => ((window as unknown as { loadedOnce: number }).loadedOnce = 1));

  // First look, then a later one: the bar has moved, through the page's own refresh.
  const first = await waitFor(() => cdnBar(page, 'cfec-001-slow'), { timeoutMs: 10_000, what: 'the slow task\'s CDN bar' });
  assert.ok(first > 0 && first < 100, `first look ${first}%`);
  const second = await waitFor(async () => {
    const v = await cdnBar(page, 'cfec-001-slow');
    return v !== undefined && v > first ? v : undefined;
  }, { timeoutMs: 10_000, intervalMs: 250, what: `the CDN bar to move past ${first}%` });
  t.diagnostic(`CDN bar ${first}% then ${second}%`);
  assert.equal(await page.evaluate(() => (window as unknown as { loadedOnce?: number }).loadedOnce), 1, 'refreshed in place, not reloaded');
  const row = page.locator('#tasks tbody tr[data-task="cfec-001-slow"]');
  assert.equal(await row.locator('td').nth(1).textContent(), 'downloading');
  assert.match((await row.locator('td').nth(4).textContent()) ?? '', /^\d+ (B|KB|MB)\/s$/, 'a rate');
  assert.match((await row.locator('.method[data-method="cdn"] .info').textContent()) ?? '', /100\.0% of task/);

  // The hostile name: shown as the very text it is, in its row and in the error list, and
  // no element, handler or dialog came of it.
  const hostileTask = `cfec-001-${HOSTILE}`;
  await waitFor(
    () =>
      page.evaluate((name) => {
        const row = [...document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')].find((r) => r.dataset.task === name);
        return row?.dataset.state === 'downloaderror' && [...document.querySelectorAll('#errors li')].some((li) => li.textContent!.includes(name));
      }, hostileTask),
    { timeoutMs: 20_000, what: 'the hostile task in error, in the row and the error list' },
  );
  const cell = await page.evaluate((name) => [...document.querySelectorAll<HTMLTableRowElement>('#tasks tbody tr[data-task]')].find((r) => r.dataset.task === name)!.querySelector('td.task')!.textContent, hostileTask);
  assert.equal(cell, hostileTask);
  // Its transfer window: the task's own, under its policy.
  const hostileRow = page.locator('#tasks tbody tr[data-state="downloaderror"]');
  assert.equal(await hostileRow.locator('.policy').textContent(), 'policy priortime');
  assert.match((await hostileRow.locator('.method[data-method="cdn"] .info').textContent()) ?? '', /window 00:00-24:00 \(task\)/);
  assert.match((await row.locator('.method[data-method="cdn"] .info').textContent()) ?? '', /fulltime: no window/);
  assert.equal(await page.locator('img').count(), 0, 'no <img> element');
  assert.ok((await page.locator('#tasks tbody').innerHTML()).includes('&lt;img src=x onerror=alert(1)&gt;'), 'the name is escaped in the markup');
  assert.ok((await page.locator('#log').textContent())!.includes(HOSTILE), 'the log lines name it as text too');
  assert.deepEqual(dialogs, []);

  const shot = path.join(os.tmpdir(), `bft2-status-page-${process.pid}-${Date.now()}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  console.log(`status page screenshot: ${shot}`);
  t.diagnostic(`page checks took ${Date.now() - started} ms`);

  await closeBrowser(browser);
  browser = undefined;
  assert.deepEqual(problems, [], 'no console errors, no failed requests');
  origin.throttle(null);
});
