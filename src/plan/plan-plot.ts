// `bft2 plan --plot FILE`: a plot of each candidate's finish (the last cinema) against its
// cost, as a self-contained SVG a browser opens: one mark per split and policy (circle
// fulltime, square priortime), the chosen one (or the cheapest and the fastest) ringed,
// late ones red, the deadline a dashed line; labels on the candidates no other beats on
// both time and cost, every mark's tooltip says what it is.
// Owns: the drawing. Must not touch the figures (planner.ts).
import { formatDuration, type Candidate, type Plan } from './planner.ts';
import { formatLocalTime } from '../util/time.ts';

const W = 880;
const H = 560;
const M = { left: 90, right: 30, top: 60, bottom: 70 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick steps: 1, 2 or 5 times a power of ten. */
function ticks(lo: number, hi: number, n = 6): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

export function planSvg(plan: Plan): string {
  const done = plan.candidates.filter((c) => c.lastCinemaS !== null);
  const deadlineS = plan.deadline ? (plan.deadline.getTime() - plan.start.getTime()) / 1000 : undefined;
  // Hours when the delivery takes hours, else seconds (a lab scenario).
  const maxS = Math.max(1, ...done.map((c) => c.lastCinemaS!), deadlineS ?? 0);
  const [unit, unitName] = maxS >= 2 * 3600 ? [3600, 'hours'] : maxS >= 120 ? [60, 'minutes'] : [1, 'seconds'];
  const xs = done.map((c) => c.lastCinemaS! / unit);
  const ys = done.map((c) => c.totalCost);
  const xHi = Math.max(...xs, (deadlineS ?? 0) / unit) * 1.08 || 1;
  const yLo = 0;
  const yHi = Math.max(...ys, 0) * 1.1 || 1;
  const px = (x: number) => M.left + (x / xHi) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - yLo) / (yHi - yLo)) * (H - M.top - M.bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${esc(`${plan.scenario}: finish of the last cinema against cost`)}</text>`);
  parts.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">${esc(`hand-out ${formatLocalTime(plan.start).slice(0, 16)}${plan.deadline ? `, deadline ${formatLocalTime(plan.deadline).slice(0, 16)}` : ''}`)}</text>`);
  // Axes and grid.
  for (const x of ticks(0, xHi)) {
    parts.push(`<line x1="${px(x)}" y1="${M.top}" x2="${px(x)}" y2="${H - M.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${px(x)}" y="${H - M.bottom + 18}" text-anchor="middle">${x}</text>`);
  }
  for (const y of ticks(yLo, yHi)) {
    parts.push(`<line x1="${M.left}" y1="${py(y)}" x2="${W - M.right}" y2="${py(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${M.left - 8}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`);
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`);
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 30}" text-anchor="middle">${esc(`last cinema done, ${unitName} after the hand-out`)}</text>`);
  parts.push(`<text x="22" y="${(M.top + H - M.bottom) / 2}" text-anchor="middle" transform="rotate(-90 22 ${(M.top + H - M.bottom) / 2})">${esc(`cost, ${plan.currency}`)}</text>`);
  if (deadlineS !== undefined) {
    const x = px(deadlineS / unit);
    parts.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${H - M.bottom}" stroke="#c00" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${x + 4}" y="${M.top + 12}" fill="#c00">deadline</text>`);
  }
  // Labels only on the efficient candidates (none other both sooner and cheaper): the rest would pile up; their tooltips say what they are.
  const efficient = new Set(done.filter((c) => !done.some((o) => o !== c && o.lastCinemaS! <= c.lastCinemaS! && o.totalCost <= c.totalCost && (o.lastCinemaS! < c.lastCinemaS! || o.totalCost < c.totalCost))));
  const color = (c: Candidate) => (c.verdict === 'late' || c.verdict === 'never' ? '#c33' : c.verdict === 'recommended' || c.verdict === 'cheapest' || c.verdict === 'fastest' ? '#1a7f37' : '#2b6cb0');
  for (const c of done) {
    const x = px(c.lastCinemaS! / unit);
    const y = py(c.totalCost);
    const title = `<title>${esc(`${c.split} ${c.policy}: +${formatDuration(c.lastCinemaS!)}, ${c.totalCost.toFixed(2)} ${plan.currency}; ${c.why}`)}</title>`;
    parts.push(
      c.policy === 'fulltime'
        ? `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="5" fill="${color(c)}" fill-opacity="0.8">${title}</circle>`
        : `<rect x="${(x - 5).toFixed(1)}" y="${(y - 5).toFixed(1)}" width="10" height="10" fill="${color(c)}" fill-opacity="0.8">${title}</rect>`,
    );
    const chosen = c.verdict === 'recommended' || c.verdict === 'cheapest' || c.verdict === 'fastest';
    if (chosen) {
      parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="11" fill="none" stroke="#1a7f37" stroke-width="2"/>`);
      parts.push(`<text x="${(x + 14).toFixed(1)}" y="${(y - 10).toFixed(1)}" fill="#1a7f37" font-weight="bold">${esc(`${c.split} ${c.policy} (${c.verdict})`)}</text>`);
    } else if (efficient.has(c)) {
      parts.push(`<text x="${(x + 7).toFixed(1)}" y="${(y - 6).toFixed(1)}" fill="#555" font-size="11">${esc(`${c.split} ${c.policy}`)}</text>`);
    }
  }
  const ly = H - 12;
  parts.push(`<circle cx="${M.left}" cy="${ly - 4}" r="5" fill="#2b6cb0"/><text x="${M.left + 10}" y="${ly}">fulltime</text>`);
  parts.push(`<rect x="${M.left + 80}" y="${ly - 9}" width="10" height="10" fill="#2b6cb0"/><text x="${M.left + 96}" y="${ly}">priortime</text>`);
  parts.push(`<circle cx="${M.left + 180}" cy="${ly - 4}" r="5" fill="#c33"/><text x="${M.left + 190}" y="${ly}">late</text>`);
  parts.push(`<circle cx="${M.left + 240}" cy="${ly - 4}" r="5" fill="#1a7f37"/><text x="${M.left + 250}" y="${ly}">chosen</text>`);
  const never = plan.candidates.length - done.length;
  if (never) parts.push(`<text x="${W - M.right}" y="${ly}" text-anchor="end" fill="#c33">${never} candidate(s) never finish: not shown</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
