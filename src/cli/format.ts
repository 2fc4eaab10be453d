/** How the command line writes sizes, times and tables. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units, three significant digits: `0 B`, `512 B`, `64.0 KiB`, `1.21 GiB`. */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${value} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${sign}${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** An exact count with thousands separators: `63,052,800`. */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** How long ago, as `docker ps` says it: `5 seconds ago`, `3 hours ago`. */
export function formatAgo(date: Date, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  const steps: [number, string][] = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [52, 'week'], [Infinity, 'year']];
  let value = seconds;
  for (const [size, name] of steps) {
    if (value < size) return value === 0 && name === 'second' ? 'just now' : `${value} ${name}${value === 1 ? '' : 's'} ago`;
    value = Math.floor(value / size);
  }
  return `${value} years ago`;
}

/** `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. */
  readonly align?: 'left' | 'right';
}

/**
 * Rows as aligned columns, two spaces apart, with a header row; the last column is not padded.
 * Widths count UTF-16 units, which is right for everything cowstack prints.
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const render = (cells: readonly string[]): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        if (column.align === 'right') return cell.padStart(widths[i]!);
        return i === columns.length - 1 ? cell : cell.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  return [render(columns.map((column) => column.header)), ...rows.map(render)];
}
