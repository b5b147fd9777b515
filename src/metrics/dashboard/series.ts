/**
 * From a history of snapshots to what the dashboard and `capstan stats` show:
 * per-second rates between successive snapshots and chart series for a chosen
 * listener and worker. Pure functions, shared by the browser and the terminal.
 */
import type { ListenerSnapshot, ServerSnapshot } from '../snapshot.js';
import { formatBytes, formatCount } from './format.js';

/** `'*'` means every listener (or, for `worker`, every worker combined). */
export interface Selection {
  listener: string;
  worker: string;
}

export const ALL = '*';

/**
 * Close reasons that end a conversation normally; every other one is abnormal.
 * The same split as `isAbnormal` in connection/close-reason.ts (a test holds
 * them together), written out here because this module runs in the browser.
 */
export const NORMAL_CLOSES: readonly string[] = ['peer-closed', 'local-end', 'local-destroy', 'shutdown'];

/** True for a close reason that is not a normal end (`frame-too-large`, `handler-error`, `idle-timeout` …). */
export function isAbnormalClose(reason: string): boolean {
  return !NORMAL_CLOSES.includes(reason);
}

/**
 * A listener's errors since start: connections that ended abnormally. Handler
 * errors and TLS handshake failures are in it too, each closing its
 * connection with `handler-error` or `tls-error`, so nothing counts twice.
 */
export function errorCount(l: ListenerSnapshot): number {
  let n = 0;
  for (const [reason, count] of Object.entries(l.closes)) if (isAbnormalClose(reason)) n += count;
  return n;
}

export interface NamedSeries {
  label: string;
  values: (number | null)[];
}

/** The listeners seen by the selected worker (or combined). */
export function listenersOf(s: ServerSnapshot, worker: string): Record<string, ListenerSnapshot> {
  if (worker === ALL) return s.combined.listeners;
  return s.workers.find((w) => w.worker === worker)?.listeners ?? {};
}

/** Listeners to include for a selection. */
function selected(s: ServerSnapshot, sel: Selection): ListenerSnapshot[] {
  const ls = listenersOf(s, sel.worker);
  if (sel.listener === ALL) return Object.values(ls);
  const l = ls[sel.listener];
  return l === undefined ? [] : [l];
}

/** Sum of `pick` over the selected listeners, or `null` when none is present. */
export function total(s: ServerSnapshot, sel: Selection, pick: (l: ListenerSnapshot) => number): number | null {
  const ls = selected(s, sel);
  if (ls.length === 0) return null;
  let n = 0;
  for (const l of ls) n += pick(l);
  return n;
}

/**
 * Per-second rate of a counter between two snapshots; `null` when either has
 * no value, no time passed, or the counter went down (a restarted worker).
 */
export function ratePerSec(prev: ServerSnapshot, cur: ServerSnapshot, read: (s: ServerSnapshot) => number | null): number | null {
  const a = read(prev);
  const b = read(cur);
  const dt = (cur.time - prev.time) / 1000;
  if (a === null || b === null || dt <= 0 || b < a) return null;
  return (b - a) / dt;
}

/** A rate per point of the history (the first point has none). */
export function rates(history: readonly ServerSnapshot[], read: (s: ServerSnapshot) => number | null): (number | null)[] {
  return history.map((s, i) => (i === 0 ? null : ratePerSec(history[i - 1] as ServerSnapshot, s, read)));
}

/** Every listener name in the history, sorted. */
export function listenerNames(history: readonly ServerSnapshot[]): string[] {
  const names = new Set<string>();
  for (const s of history) for (const n of Object.keys(s.combined.listeners)) names.add(n);
  return [...names].sort();
}

/** Every worker name in the history, in order of appearance. */
export function workerNames(history: readonly ServerSnapshot[]): string[] {
  const names = new Set<string>();
  for (const s of history) for (const w of s.workers) names.add(w.worker);
  return [...names];
}

export interface ChartData {
  connections: NamedSeries[];
  messages: NamedSeries[];
  bytes: NamedSeries[];
  /** Normal closes by reason: the usual traffic, on a scale of its own. */
  closes: NamedSeries[];
  /** Abnormal closes by reason and refusals at accept, so a few per second are not flattened by thousands of normal ones. */
  abnormalCloses: NamedSeries[];
  latency: NamedSeries[];
  eventLoopDelay: NamedSeries[];
  utilization: NamedSeries[];
  memory: NamedSeries[];
}

/** Series for every dashboard chart. Latency is in µs, delay in ms, utilization 0..1, memory in bytes. */
export function chartData(history: readonly ServerSnapshot[], sel: Selection): ChartData {
  const listeners = sel.listener === ALL ? listenerNames(history) : [sel.listener];
  const one = (name: string): Selection => ({ listener: name, worker: sel.worker });
  const workers = sel.worker === ALL ? workerNames(history) : [sel.worker];
  const proc = (w: string, s: ServerSnapshot) => s.workers.find((x) => x.worker === w)?.process;
  return {
    connections: listeners.map((n) => ({ label: n, values: history.map((s) => total(s, one(n), (l) => l.active)) })),
    messages: [
      { label: 'in/s', values: rates(history, (s) => total(s, sel, (l) => l.framesIn)) },
      { label: 'out/s', values: rates(history, (s) => total(s, sel, (l) => l.framesOut)) },
    ],
    bytes: [
      { label: 'in/s', values: rates(history, (s) => total(s, sel, (l) => l.bytesIn)) },
      { label: 'out/s', values: rates(history, (s) => total(s, sel, (l) => l.bytesOut)) },
    ],
    closes: closeSeries(history, sel, false),
    abnormalCloses: [
      ...closeSeries(history, sel, true),
      { label: 'refused', values: rates(history, (s) => total(s, sel, (l) => Object.values(l.refused).reduce((a, b) => a + b, 0))) },
    ],
    latency:
      sel.listener === ALL
        ? listeners.map((n) => ({ label: `${n} p99`, values: history.map((s) => latencyOf(s, one(n), 'p99')) }))
        : (['p50', 'p90', 'p99', 'p999'] as const).map((p) => ({ label: p, values: history.map((s) => latencyOf(s, sel, p)) })),
    eventLoopDelay:
      workers.length === 1
        ? (['mean', 'p50', 'p99', 'max'] as const).map((k) => ({ label: k, values: history.map((s) => proc(workers[0] as string, s)?.eventLoopDelayMs[k] ?? null) }))
        : workers.map((w) => ({ label: `${w} p99`, values: history.map((s) => proc(w, s)?.eventLoopDelayMs.p99 ?? null) })),
    utilization: workers.map((w) => ({ label: w, values: history.map((s) => proc(w, s)?.eventLoopUtilization ?? null) })),
    memory: workers.flatMap((w) => [
      { label: `${w} rss`, values: history.map((s) => proc(w, s)?.rssBytes ?? null) },
      { label: `${w} heap`, values: history.map((s) => proc(w, s)?.heapUsedBytes ?? null) },
    ]),
  };
}

function latencyOf(s: ServerSnapshot, sel: Selection, p: 'p50' | 'p90' | 'p99' | 'p999'): number | null {
  const l = listenersOf(s, sel.worker)[sel.listener];
  const lat = l?.latencyUs;
  return lat === undefined || lat.count === 0 ? null : lat[p];
}

/** Closes per second by reason, for the reasons (normal or abnormal ones) that occurred. */
function closeSeries(history: readonly ServerSnapshot[], sel: Selection, abnormal: boolean): NamedSeries[] {
  const reasons = new Set<string>();
  for (const s of history) {
    for (const l of Object.values(listenersOf(s, sel.worker))) for (const [r, n] of Object.entries(l.closes)) if (n > 0 && isAbnormalClose(r) === abnormal) reasons.add(r);
  }
  return [...reasons].sort().map((r) => ({ label: r, values: rates(history, (s) => total(s, sel, (l) => (l.closes as Record<string, number>)[r] ?? 0)) }));
}

/** The `n` most frequent close reasons since start, e.g. `peer-closed 120, idle-timeout 3` (`–` when none). */
export function topCloses(l: ListenerSnapshot, n = 3): string {
  const top = Object.entries(l.closes)
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([reason, count]) => `${reason} ${formatCount(count)}`);
  return top.length === 0 ? '–' : top.join(', ');
}

/** The columns of {@link webSocketRows}, for a table header. */
export const WEBSOCKET_COLUMNS = ['listener', 'open', 'upgrades/s', 'refused', 'msgs in/s', 'msgs out/s', 'bytes in/s', 'bytes out/s', 'pings in/out', 'pongs in/out', 'closes sent', 'closes received', 'deflate', 'topics'] as const;

/** `{ '404': 3, '426': 1 }` → `404 3, 426 1` (`–` when empty). */
function counts(record: Record<string, number>): string {
  const parts = Object.entries(record)
    .filter(([, n]) => n > 0)
    .map(([key, n]) => `${key} ${formatCount(n)}`);
  return parts.length === 0 ? '–' : parts.join(', ');
}

/**
 * One row per WebSocket listener of the selected worker (or combined): open
 * sockets, rates between `prev` and `cur` (`–` without `prev`), and since
 * start the refusals by status, control frames, close codes, the
 * permessage-deflate ratio (plain per wire byte, sent) and pub/sub topics
 * (where the server counts them).
 */
export function webSocketRows(cur: ServerSnapshot, prev: ServerSnapshot | undefined, worker: string): string[][] {
  const rows: string[][] = [];
  for (const [name, l] of Object.entries(listenersOf(cur, worker)).sort(([a], [b]) => a.localeCompare(b))) {
    const ws = l.websocket;
    if (ws === undefined) continue;
    const sel = { listener: name, worker };
    const r = (pick: (w: NonNullable<ListenerSnapshot['websocket']>) => number, f: (n: number) => string) => {
      const v = prev === undefined ? null : ratePerSec(prev, cur, (s) => total(s, sel, (x) => (x.websocket === undefined ? 0 : pick(x.websocket))));
      return v === null ? '–' : f(v);
    };
    const d = ws.deflate;
    const topics = ws.topics === undefined ? undefined : Object.values(ws.topics);
    rows.push([
      name,
      formatCount(ws.open),
      r((w) => w.handshakesAccepted, formatCount),
      counts(ws.handshakesRefused),
      r((w) => w.messagesIn, formatCount),
      r((w) => w.messagesOut, formatCount),
      r((w) => w.bytesIn, formatBytes),
      r((w) => w.bytesOut, formatBytes),
      `${formatCount(ws.pingsIn)}/${formatCount(ws.pingsOut)}`,
      `${formatCount(ws.pongsIn)}/${formatCount(ws.pongsOut)}`,
      counts(ws.closesSent),
      counts(ws.closesReceived),
      d !== undefined && (d.wireOut ?? 0) > 0 ? `${((d.plainOut ?? 0) / (d.wireOut as number)).toFixed(2)}x` : '–',
      topics === undefined ? '–' : `${formatCount(topics.length)} (${formatCount(topics.reduce((a, b) => a + b, 0))} subs, ${formatCount(ws.publishes ?? 0)} pubs)`,
    ]);
  }
  return rows;
}
