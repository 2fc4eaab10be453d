import { goalText, trim, type Figure } from './figures.js';

const WIDTH = 1300;
const LABEL = 430;
const ROW = 26;
const TOP = 70;
const CHART = 480;

/**
 * A hand-written SVG of the headline comparisons: one bar per headline figure, its ratio on a
 * logarithmic axis (ratios here span 0.001× to 10,000×), the goal as a tick, green when the goal
 * is met, red when it is missed, grey without a goal.
 */
export function chart(figures: readonly Figure[], subtitle: string): string {
  const rows = figures.filter((f) => f.headline === true && Number.isFinite(f.ratio) && f.ratio > 0);
  const values = rows.flatMap((f) => [f.ratio, ...(f.goal === undefined ? [] : [f.goal.target])]);
  const lo = Math.floor(Math.log10(Math.min(0.1, ...values)));
  const hi = Math.ceil(Math.log10(Math.max(10, ...values)));
  const x = (ratio: number): number => LABEL + ((Math.log10(ratio) - lo) / (hi - lo)) * CHART;
  const height = TOP + rows.length * ROW + 50;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">cowstack benchmarks: headline ratios</text>`,
    `<text x="16" y="44" fill="#555">${escape(subtitle)}</text>`,
  ];
  for (let p = lo; p <= hi; p++) {
    const at = x(10 ** p);
    out.push(`<line x1="${at.toFixed(1)}" y1="${TOP - 8}" x2="${at.toFixed(1)}" y2="${TOP + rows.length * ROW}" stroke="${p === 0 ? '#888' : '#e4e4e4'}"/>`);
    out.push(`<text x="${at.toFixed(1)}" y="${TOP + rows.length * ROW + 16}" text-anchor="middle" fill="#555">${p >= 0 ? 10 ** p : (10 ** p).toFixed(-p)}×</text>`);
  }
  rows.forEach((f, i) => {
    const y = TOP + i * ROW;
    const colour = f.status === 'ok' ? '#2e9d4a' : f.status === 'MISSED' ? '#d23b2f' : '#8a8f98';
    const from = x(1);
    const to = x(f.ratio);
    out.push(`<text x="${LABEL - 8}" y="${y + 15}" text-anchor="end">${escape(shorten(`${f.scenario}: ${f.name}`, 66))}</text>`);
    out.push(`<rect x="${Math.min(from, to).toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(to - from)).toFixed(1)}" height="${ROW - 10}" fill="${colour}"/>`);
    if (f.goal !== undefined) {
      const g = x(f.goal.target);
      out.push(`<line x1="${g.toFixed(1)}" y1="${y + 1}" x2="${g.toFixed(1)}" y2="${y + ROW - 3}" stroke="#111" stroke-width="2"/>`);
    }
    const label = `${trim(f.ratio)}× ${escape(shorten(f.reference, 28))}${f.goal === undefined ? '' : ` (goal ${goalText(f.goal)}${f.status === 'MISSED' ? ': MISSED' : ''})`}`;
    out.push(`<text x="${(LABEL + CHART + 6).toFixed(1)}" y="${y + 15}" fill="${colour}" font-size="10">${shortenLabel(label)}</text>`);
  });
  out.push(`<text x="16" y="${height - 12}" fill="#555">bar: ratio against the reference, log scale, from 1×; black tick: goal. green: met, red: missed, grey: no goal.</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function shortenLabel(text: string): string {
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}
