/**
 * The text `capstan stats` draws: a listener table with per-second rates
 * (between two successive snapshots) and a worker table. Pure, so the view is
 * tested without a terminal.
 */
import { formatBytes, formatCount, formatDuration, formatMicros, formatMillis, formatPercent } from './dashboard/format.js';
import { ALL, errorCount, ratePerSec, topCloses, total, WEBSOCKET_COLUMNS, webSocketRows } from './dashboard/series.js';
import type { ListenerSnapshot, ServerSnapshot } from './snapshot.js';

interface Column {
  title: string;
  width: number;
  left?: boolean;
}

function table(columns: readonly Column[], rows: readonly string[][]): string[] {
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const v = cells[i] ?? '';
        return c.left === true ? v.padEnd(c.width) : v.padStart(c.width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)];
}

/** Renders the view of `cur`; rates need `prev` (shown as `–` without it). */
export function renderStats(cur: ServerSnapshot, prev: ServerSnapshot | undefined, source: string): string {
  const out: string[] = [];
  const state = cur.draining ? 'DRAINING' : 'ready';
  out.push(`capstan stats  ${source}  ${state}  ${cur.workers.length} worker${cur.workers.length === 1 ? '' : 's'}  ${new Date(cur.time).toISOString().slice(11, 19)} UTC`);
  out.push('');
  const names = Object.keys(cur.combined.listeners).sort();
  const nameWidth = Math.max(8, ...names.map((n) => n.length));
  const rate = (name: string, pick: (l: ListenerSnapshot) => number) =>
    prev === undefined ? null : ratePerSec(prev, cur, (s) => total(s, { listener: name, worker: ALL }, pick));
  const fmt = (v: number | null, f: (n: number) => string) => (v === null ? '–' : f(v));
  const listenerRows = names.map((name) => {
    const l = cur.combined.listeners[name] as ListenerSnapshot;
    const lat = l.latencyUs !== undefined && l.latencyUs.count > 0 ? l.latencyUs : undefined;
    return [
      name,
      formatCount(l.active),
      fmt(rate(name, (x) => x.accepted), formatCount),
      fmt(rate(name, (x) => x.framesIn), formatCount),
      fmt(rate(name, (x) => x.framesOut), formatCount),
      fmt(rate(name, (x) => x.bytesIn), formatBytes),
      fmt(rate(name, (x) => x.bytesOut), formatBytes),
      formatBytes(l.bufferedBytes),
      lat === undefined ? '–' : formatMicros(lat.p50),
      lat === undefined ? '–' : formatMicros(lat.p99),
      formatCount(errorCount(l)),
      topCloses(l),
    ];
  });
  out.push(
    ...table(
      [
        { title: 'LISTENER', width: nameWidth, left: true },
        { title: 'ACTIVE', width: 7 },
        { title: 'ACCEPT/s', width: 8 },
        { title: 'MSGS IN/s', width: 9 },
        { title: 'MSGS OUT/s', width: 10 },
        { title: 'BYTES IN/s', width: 10 },
        { title: 'BYTES OUT/s', width: 11 },
        { title: 'QUEUED', width: 9 },
        { title: 'P50', width: 7 },
        { title: 'P99', width: 7 },
        { title: 'ERRORS', width: 6 },
        { title: 'CLOSES (since start)', width: 0, left: true },
      ],
      listenerRows,
    ),
  );
  out.push('');
  const wsRows = webSocketRows(cur, prev, ALL);
  if (wsRows.length > 0) {
    const columns = WEBSOCKET_COLUMNS.map((title, i): Column => ({
      title: i === 0 ? 'WEBSOCKET' : title.toUpperCase().replace('/S', '/s'),
      width: Math.max(title.length, ...wsRows.map((r) => (r[i] ?? '').length)),
      left: i === 0 || i >= 10,
    }));
    out.push(...table(columns, wsRows), '');
  }
  const workerRows = cur.workers.map((w) => {
    const p = w.process;
    return [
      w.worker,
      String(w.pid),
      formatDuration(p.uptimeSec),
      formatBytes(p.rssBytes),
      formatBytes(p.heapUsedBytes),
      formatPercent(p.eventLoopUtilization),
      formatMillis(p.eventLoopDelayMs.p99),
      `${formatCount(p.gc.count)} (max ${formatMillis(p.gc.maxPauseMs)})`,
    ];
  });
  out.push(
    ...table(
      [
        { title: 'WORKER', width: Math.max(6, ...cur.workers.map((w) => w.worker.length)), left: true },
        { title: 'PID', width: 7 },
        { title: 'UPTIME', width: 7 },
        { title: 'RSS', width: 10 },
        { title: 'HEAP', width: 10 },
        { title: 'LOOP BUSY', width: 9 },
        { title: 'DELAY P99', width: 9 },
        { title: 'GC', width: 0, left: true },
      ],
      workerRows,
    ),
  );
  return `${out.join('\n')}\n`;
}
