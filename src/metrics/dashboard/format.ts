/**
 * Number formatting shared by the dashboard (in the browser) and `capstan stats`
 * (in a terminal): short, fixed-width-friendly, with units.
 */

/** 1234 → "1.23k", 5600000 → "5.60M". */
export function formatCount(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(2)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Bytes in binary units: 1536 → "1.5 KiB". */
export function formatBytes(v: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(x) : x.toFixed(1)} ${units[i]}`;
}

/** Microseconds as µs, ms or s: 850 → "850µs", 12500 → "12.5ms". */
export function formatMicros(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)}s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(us >= 1e4 ? 1 : 2)}ms`;
  return `${Math.round(us)}µs`;
}

/** Milliseconds: 0.42 → "0.42ms". */
export function formatMillis(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  return `${ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)}ms`;
}

/** A 0..1 ratio as a percentage: 0.253 → "25.3%". */
export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** Seconds as a duration: 3725 → "1h02m". */
export function formatDuration(sec: number): string {
  const s = Math.floor(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}
