import { formatValue, goalText, trim, type Figure } from './figures.js';

/** The results table as plain text: one row per figure, a blank line between scenarios. */
export function table(figures: readonly Figure[]): string {
  const header = ['scenario', 'case', 'median', 'p99', 'n', 'ratio', 'against', 'goal', 'status'];
  const rows = figures.map((f) => [
    f.scenario,
    f.name,
    formatValue(f.value, f.unit),
    f.p99 === undefined ? '' : formatValue(f.p99, f.unit),
    f.samples === undefined ? '' : String(f.samples),
    Number.isFinite(f.ratio) ? `${trim(f.ratio)}` : '—',
    f.reference,
    f.goal === undefined ? '' : goalText(f.goal),
    f.status === 'MISSED' ? `MISSED (${trim(f.ratio)})` : f.status,
  ]);
  const widths = header.map((h, i) => Math.min(i === 1 ? 64 : i === 6 ? 44 : 40, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i >= 2 && i <= 5)).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let last = '';
  figures.forEach((f, i) => {
    if (last !== '' && f.scenario !== last) out.push('');
    last = f.scenario;
    out.push(line(rows[i]!));
    if (f.note !== undefined && (f.status === 'ERROR' || Number.isNaN(f.value))) out.push(`${' '.repeat(widths[0]! + 2)}  ↳ ${f.note}`);
  });
  return out.join('\n');
}

/** The same table in Markdown, notes included, for bench/README.md. */
export function markdownTable(figures: readonly Figure[]): string {
  const out = ['| scenario | case | median | p99 | n | ratio | against | goal | status | note |', '|---|---|--:|--:|--:|--:|---|---|---|---|'];
  for (const f of figures) {
    const status = f.status === 'MISSED' ? `**MISSED** (${trim(f.ratio)})` : f.status;
    out.push(`| ${[
      f.scenario, f.name, formatValue(f.value, f.unit), f.p99 === undefined ? '' : formatValue(f.p99, f.unit),
      f.samples === undefined ? '' : String(f.samples), Number.isFinite(f.ratio) ? trim(f.ratio) : '—', f.reference,
      f.goal === undefined ? '' : goalText(f.goal), status, f.note ?? '',
    ].map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return out.join('\n');
}

function pad(text: string, width: number, right: boolean): string {
  const cut = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return right ? cut.padStart(width) : cut.padEnd(width);
}
