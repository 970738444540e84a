import type { StatsCellView, StatsSeriesView } from '#contracts';

/** Chart rows from a stats series: one row per published day, one key per group value. */
export function seriesRows(series: StatsSeriesView): {
  rows: Record<string, string | number>[];
  keys: string[];
} {
  const keys = new Set<string>();
  const rows = series.points.map((p) => {
    const row: Record<string, string | number> = { date: p.date.slice(5) };
    for (const c of p.cells) {
      keys.add(c.value);
      row[c.value] = c.submissions;
    }
    return row;
  });
  const ordered = [...keys].sort((a, b) => (a === '(other)' ? 1 : b === '(other)' ? -1 : a.localeCompare(b)));
  // Every row names every key, so stacked bars line up on days a value was not published.
  for (const row of rows) for (const k of ordered) row[k] ??= 0;
  return { rows, keys: ordered };
}

/** Cells largest first, `(other)` (the values seen by fewer than k agents) last. */
export function rankCells(cells: StatsCellView[]): StatsCellView[] {
  return [...cells].sort((a, b) =>
    a.value === '(other)' ? 1 : b.value === '(other)' ? -1 : b.submissions - a.submissions,
  );
}

/** Seconds as a short age: 42 s, 3 min, 2.5 h, 4.0 d. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

const PALETTE = ['blue.6', 'teal.6', 'orange.6', 'grape.6', 'cyan.6', 'lime.6', 'pink.6', 'indigo.6'];
const FIXED: Record<string, string> = {
  clean: 'teal.6',
  suspicious: 'orange.6',
  malicious: 'red.6',
  '(other)': 'gray.5',
};

/** A colour per series key: verdicts keep their badge colours, others take the palette in order. */
export const colorOf = (key: string, index: number): string =>
  FIXED[key] ?? PALETTE[index % PALETTE.length] ?? 'blue.6';
