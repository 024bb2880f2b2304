// Formatting helpers and the cluster colour palette.

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

export function fmtTime(ms: number): string {
  const s = Math.max(0, ms / 1000);
  const m = Math.floor(s / 60);
  const sec = s - m * 60;
  return `${m}:${sec < 10 ? '0' : ''}${sec.toFixed(1)}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export function fmtSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function fmtEta(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '';
  if (s < 1) return 'less than a second';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

/** The part of `path` below `base` (or the path itself). */
export function relativeTo(path: string, base: string): string {
  const b = base.replace(/[\\/]+$/, '');
  if (path.startsWith(`${b}/`) || path.startsWith(`${b}\\`)) return path.slice(b.length + 1);
  return path;
}

// Distinct colours that read on light and dark backgrounds (Tableau-like).
const PALETTE = [
  '#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#edc948',
  '#76b7b2', '#ff9da7', '#9c755f', '#2f9e9e', '#8f6bd6', '#d4a017',
  '#c2477a', '#5c8f2f', '#3d7fd1', '#e0703a',
];
export const UNSORTED_COLOUR = '#9aa0a6';

export function clusterColours(clusters: { id: number; kind: string }[]): Map<number, string> {
  const m = new Map<number, string>();
  let i = 0;
  for (const c of [...clusters].sort((a, b) => a.id - b.id)) {
    if (c.kind === 'unsorted') m.set(c.id, UNSORTED_COLOUR);
    else m.set(c.id, PALETTE[i++ % PALETTE.length]!);
  }
  return m;
}
