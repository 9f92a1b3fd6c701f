// The status page rendered on the server: status-page.html with its two marked places
// filled from a StatusSnapshot (the same rows as `bft2 status`: status-rows.ts), so the
// page reads whole with JavaScript off; its script only fetches it again. Every value is
// escaped by the `html` tag below unless it is markup made here: task names, reasons and
// log lines come from outside (a task file names itself).
// Owns: the page's markup. Must not touch: anything (a pure function of the snapshot).
import type { MethodBar, StatusSnapshot, TaskView } from './status-snapshot.ts';
import { formatBytes } from '../util/format-bytes.ts';

/** Markup made here, passed through `html` unescaped. */
class Markup {
  constructor(readonly text: string) {}
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function part(v: unknown): string {
  if (v instanceof Markup) return v.text;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === undefined || v === null || v === false) return '';
  return escapeHtml(String(v));
}

/** A template whose values are escaped (text and attribute values alike) unless they are Markup. */
function html(strings: TemplateStringsArray, ...values: unknown[]): Markup {
  let out = strings[0];
  values.forEach((v, i) => (out += part(v) + strings[i + 1]));
  return new Markup(out);
}

/** A bar 0..100, with its value for assistive tech (and tests) in aria-valuenow. */
function bar(kind: string, percent: number, label: string): Markup {
  const p = Math.max(0, Math.min(100, Number.isFinite(percent) ? percent : 0));
  return html`<progress class="${kind}" max="100" value="${p.toFixed(2)}" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p.toFixed(3)}" aria-label="${label}" data-method="${kind}"></progress>`;
}

/** The badge's colour: red for a task stopped or refused, blue while it works, green when done. */
function stateClass(t: TaskView): string {
  if (t.failed) return 'state err';
  if (waitsForWindows(t)) return 'state';
  if (/^(downloading|uploading|uploaded|seeding)$/.test(t.state)) return 'state run';
  if (/^(downloaded|ready|finished)$/.test(t.state)) return 'state ok';
  return 'state';
}

function methodInfo(m: MethodBar): string {
  const info = [`${(m.share * 100).toFixed(1)}% of task`];
  if (m.done !== null) info.push(`${(m.done * 100).toFixed(1)}% done`);
  if (m.status) info.push(m.status);
  if (m.rate) info.push(m.rate);
  if (m.window === 'fulltime') info.push('fulltime: no window');
  else if (m.window) info.push(`window ${m.window}${m.windowFrom ? ` (${m.windowFrom})` : ''}`);
  if (m.next) info.push(`opens ${m.next}`);
  return info.join(' · ');
}

function methodsCell(t: TaskView): Markup {
  return html`${t.policy ? html`<div class="small policy">policy ${t.policy}</div>` : ''}${t.methods.map(
    (m) => html`<div class="method" data-method="${m.method}"><span class="mname">${m.method}</span>${m.done === null ? html`<span></span>` : bar(m.method, m.done * 100, `${m.method} share of ${t.task}`)}<span class="info">${methodInfo(m)}</span></div>`,
  )}`;
}

/** Running, but every method with work left waits for its window. */
function waitsForWindows(t: TaskView): boolean {
  const left = t.methods.filter((m) => m.done !== null && m.done < 1);
  return t.state === 'downloading' && left.length > 0 && left.every((m) => m.next !== '');
}

function taskRow(t: TaskView): Markup {
  const pct = Number.parseFloat(t.percent);
  const figures = [t.percent, t.rate, t.eta ? `ETA ${t.eta}` : '', t.traffic].filter(Boolean).join(' · ');
  const rowClass = t.failed ? 'failed' : t.stalled ? 'stalled' : '';
  const why = t.stalled ? `stalled: ${t.stalled}${t.reason ? `; ${t.reason}` : ''}` : t.reason;
  return html`<tr class="${rowClass}" data-role="${t.role}" data-task="${t.task}" data-state="${t.state}"${t.failed ? html` data-failed="true"` : ''}${t.stalled ? html` data-stalled="true"` : ''}>
<td><div class="name">${t.task}</div><div class="small">${t.role}${t.size ? ` · ${formatBytes(t.size)}` : ''}</div></td>
<td><span class="${stateClass(t)}">${t.state}</span>${t.stalled ? html`<br><span class="flag stalled" title="${t.stalled}">stalled</span>` : ''}${waitsForWindows(t) ? html`<br><span class="flag waiting">waiting for its window</span>` : ''}</td>
<td class="progress">${t.percent ? bar('total', Number.isFinite(pct) ? pct : 0, `total of ${t.task}`) : ''}<span class="small num figures">${figures}</span></td>
<td class="num peers">${t.peers === null ? '–' : t.peers}</td>
<td class="methods">${methodsCell(t)}</td>
<td class="why">${why}</td>
</tr>`;
}

function metaPart(s: StatusSnapshot): Markup {
  return html`<span>${s.node.servertype} · root ${s.node.root} · bft2 ${s.version}</span><span id="updated">updated ${s.now}</span>${s.unreachable ? html`<span class="bad">API: ${s.unreachable}</span>` : ''}${s.node.watching !== 'inotify' ? html`<span class="warn">watching: ${s.node.watching}</span>` : ''}`;
}

function livePart(s: StatusSnapshot): Markup {
  const tasks = s.tasks.length ? s.tasks.map(taskRow) : html`<tr><td colspan="6" class="empty">no tasks</td></tr>`;
  const errs = s.errors.length
    ? s.errors.map((e) => html`<li class="lvl-error">${e.time}  <b>${e.role}/${e.state} ${e.task}</b>: ${e.reason}</li>`)
    : html`<li class="empty">none</li>`;
  const lines = s.log.length
    ? s.log.map((l) => html`<li class="lvl-${l.level === 'error' ? 'error' : 'warn'}">${l.time} ${l.level} [${l.log}] ${l.message}</li>`)
    : html`<li class="empty">none since the daemon started</li>`;
  const w = s.windows;
  return html`<section id="tasks-section">
<h2>Tasks</h2>
<table id="tasks">
<colgroup><col class="c-task"><col class="c-state"><col class="c-progress"><col class="c-peers"><col class="c-methods"><col class="c-why"></colgroup>
<thead><tr><th>Task</th><th>State</th><th>Progress</th><th>Peers</th><th>Methods (share of the task · done · rate · window)</th><th>Why it waits or failed</th></tr></thead>
<tbody>${tasks}</tbody>
</table>
${s.omittedHistory ? html`<p class="small" id="omitted">${s.omittedHistory} older tasks in history are not shown.</p>` : ''}
</section>
<section id="errors-section">
<h2>Recent errors</h2>
<h3>Tasks stopped on an error or refused (<code>.err</code>, first line)</h3>
<ul class="lines" id="errors">${errs}</ul>
<h3>Recent warnings and errors in the log</h3>
<ul class="lines" id="log">${lines}</ul>
</section>
<div class="two">
<section id="windows-section">
<h2>Transfer windows</h2>
<dl class="windows" id="windows"><dt>default policy</dt><dd>${w.priorpolicy}</dd><dt>bttime</dt><dd>${w.bttime}</dd><dt>obstime</dt><dd>${w.obstime}</dd><dt>cdntime</dt><dd>${w.cdntime}</dd></dl>
<p class="small">Under <code>priortime</code> each method downloads only inside its window: the task's <code>&lt;method&gt;.priortime</code> when set, else the config's. Publishing and seeding run at all times.</p>
</section>
<section id="disks-section">
<h2>Disks</h2>
<table id="disks"><thead><tr><th>Area</th><th>Path</th><th>Free</th><th>Size</th><th>Used</th></tr></thead><tbody>${s.disks.map(
    (d) => html`<tr><td>${d.area}</td><td class="name">${d.path}</td><td class="num">${formatBytes(d.free)}</td><td class="num">${formatBytes(d.total)}</td><td>${bar('total', d.total > 0 ? (1 - d.free / d.total) * 100 : 0, `${d.area} used`)}</td></tr>`,
  )}</tbody></table>
</section>
</div>`;
}

/** The page: the template with its marked places filled. */
export function renderStatusPage(template: string, s: StatusSnapshot): string {
  return template.replace('<!-- bft2:meta -->', () => metaPart(s).text).replace('<!-- bft2:live -->', () => livePart(s).text);
}
