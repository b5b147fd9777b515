/**
 * The dashboard's script (browser code): reads the history the admin thread
 * keeps (`/stats/history.json`, five minutes of snapshots), so the first paint
 * already has charts, then asks every second for the samples after the last
 * one it has, and redraws the charts and tables for the selected listener and
 * worker.
 */
import type { ServerSnapshot } from '../snapshot.js';
import { LineChart } from './chart.js';
import type { Doc, El, Win } from './dom.js';
import { formatBytes, formatCount, formatDuration, formatMicros, formatMillis, formatPercent } from './format.js';
import { ALL, chartData, errorCount, listenerNames, ratePerSec, topCloses, total, WEBSOCKET_COLUMNS, webSocketRows, workerNames, type ChartData, type Selection } from './series.js';

declare const document: Doc;
declare const window: Win;

const POLL_MS = 1000;

/** What `/stats/history.json` answers. */
interface HistoryReply {
  intervalMs: number;
  maxSamples: number;
  /** The number of the last sample taken: ask for what comes after it next time. */
  last: number;
  /** Why the latest sample could not be taken. */
  error?: string;
  samples: ServerSnapshot[];
}

const history: ServerSnapshot[] = [];
let after = 0;
let keep = 300;
/** Without a history on the server (started with `history: false`), the page takes its own snapshots. */
let ownSnapshots = false;
const selection: Selection = { listener: ALL, worker: ALL };

const charts: { key: keyof ChartData; chart: LineChart }[] = [
  { key: 'connections', chart: new LineChart('Active connections', formatCount) },
  { key: 'messages', chart: new LineChart('Messages per second', formatCount) },
  { key: 'bytes', chart: new LineChart('Bytes per second', formatBytes) },
  { key: 'closes', chart: new LineChart('Closes per second by reason', formatCount) },
  { key: 'abnormalCloses', chart: new LineChart('Abnormal closes and refusals per second', formatCount) },
  { key: 'latency', chart: new LineChart('Handler latency', formatMicros) },
  { key: 'eventLoopDelay', chart: new LineChart('Event-loop delay', formatMillis) },
  { key: 'utilization', chart: new LineChart('Event-loop utilization', formatPercent) },
  { key: 'memory', chart: new LineChart('Memory', formatBytes) },
];

function byId(id: string): El {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`dashboard: #${id} is missing from the page`);
  return el;
}

function token(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (m !== null) window.sessionStorage.setItem('capstan-token', decodeURIComponent(m[1] as string));
  return window.sessionStorage.getItem('capstan-token');
}

let inFlight = false;

async function poll(): Promise<void> {
  // A slow server must not pile up requests: skip a tick while one is pending.
  if (inFlight) return;
  inFlight = true;
  const t = token();
  try {
    const path = ownSnapshots ? 'stats.json' : `stats/history.json?after=${after}`;
    const res = await fetch(path, { headers: t === null ? {} : { Authorization: `Bearer ${t}` } });
    if (res.status === 401) return status(t === null ? 'token required: open this page as /#token=…' : 'token rejected: open this page as /#token=… with the right one', 'bad');
    if (res.status === 404 && !ownSnapshots) {
      ownSnapshots = true;
      return;
    }
    if (!res.ok) return status(`${path} answered ${res.status}`, 'bad');
    const reply: HistoryReply = ownSnapshots ? { intervalMs: POLL_MS, maxSamples: keep, last: 0, samples: [(await res.json()) as ServerSnapshot] } : ((await res.json()) as HistoryReply);
    if (reply.last < after) {
      // A restarted admin thread numbers its samples from 1 again: start over from its history.
      history.length = 0;
      after = 0;
      return;
    }
    after = reply.last;
    keep = reply.maxSamples;
    history.push(...reply.samples);
    if (history.length > keep) history.splice(0, history.length - keep);
    if (reply.samples.length > 0) render();
    if (reply.error !== undefined) status(`no new numbers: ${reply.error}`, 'warn');
  } catch (err) {
    status(`cannot reach the server: ${(err as Error).message}`, 'bad');
  } finally {
    inFlight = false;
  }
}

function status(text: string, kind: 'ok' | 'warn' | 'bad'): void {
  const el = byId('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

function render(): void {
  const cur = history[history.length - 1];
  if (cur === undefined) return;
  status(cur.draining ? 'draining' : 'ready', cur.draining ? 'warn' : 'ok');
  byId('updated').textContent = new Date(cur.time).toLocaleTimeString();
  syncSelect('listener', listenerNames(history), 'All listeners');
  syncSelect('worker', workerNames(history), 'All workers');
  const data = chartData(history, selection);
  const times = history.map((s) => s.time);
  for (const { key, chart } of charts) chart.draw(times, data[key]);
  renderListeners(cur);
  renderWebSockets(cur);
  renderWorkers(cur);
}

function syncSelect(id: 'listener' | 'worker', names: string[], allLabel: string): void {
  const el = byId(id);
  const want = [ALL, ...names].join('\n');
  if (el.dataset.options === want) return;
  el.dataset.options = want;
  el.replaceChildren(...[ALL, ...names].map((n) => option(n, n === ALL ? allLabel : n)));
  el.value = selection[id];
}

function option(value: string, label: string): El {
  const o = document.createElement('option');
  o.setAttribute('value', value);
  o.textContent = label;
  return o;
}

function row(cells: string[], header = false): El {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement(header ? 'th' : 'td');
    td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

function renderListeners(cur: ServerSnapshot): void {
  const prev = history[history.length - 2];
  const head = row(['listener', 'active', 'accepted', 'msgs in/s', 'msgs out/s', 'bytes in/s', 'bytes out/s', 'p99', 'errors', 'closes'], true);
  const rows = Object.entries(selection.worker === ALL ? cur.combined.listeners : (cur.workers.find((w) => w.worker === selection.worker)?.listeners ?? {})).map(([name, l]) => {
    const sel = { listener: name, worker: selection.worker };
    const r = (pick: (x: typeof l) => number) => (prev === undefined ? null : ratePerSec(prev, cur, (s) => total(s, sel, pick)));
    const fmt = (v: number | null, f: (n: number) => string) => (v === null ? '–' : f(v));
    return row([
      name,
      formatCount(l.active),
      formatCount(l.accepted),
      fmt(r((x) => x.framesIn), formatCount),
      fmt(r((x) => x.framesOut), formatCount),
      fmt(r((x) => x.bytesIn), formatBytes),
      fmt(r((x) => x.bytesOut), formatBytes),
      l.latencyUs !== undefined && l.latencyUs.count > 0 ? formatMicros(l.latencyUs.p99) : '–',
      formatCount(errorCount(l)),
      topCloses(l),
    ]);
  });
  byId('listeners').replaceChildren(head, ...rows);
}

/** The WebSocket table, shown only while some listener serves WebSocket. */
function renderWebSockets(cur: ServerSnapshot): void {
  const rows = webSocketRows(cur, history[history.length - 2], selection.worker);
  byId('websockets-section').style.display = rows.length === 0 ? 'none' : '';
  byId('websockets').replaceChildren(row([...WEBSOCKET_COLUMNS], true), ...rows.map((cells) => row(cells)));
}

function renderWorkers(cur: ServerSnapshot): void {
  const head = row(['worker', 'pid', 'uptime', 'rss', 'heap', 'loop busy', 'loop delay p99', 'gc runs', 'gc max'], true);
  const rows = cur.workers.map((w) =>
    row([
      w.worker,
      String(w.pid),
      formatDuration(w.process.uptimeSec),
      formatBytes(w.process.rssBytes),
      formatBytes(w.process.heapUsedBytes),
      formatPercent(w.process.eventLoopUtilization),
      formatMillis(w.process.eventLoopDelayMs.p99),
      formatCount(w.process.gc.count),
      formatMillis(w.process.gc.maxPauseMs),
    ]),
  );
  byId('workers').replaceChildren(head, ...rows);
}

function start(): void {
  const grid = byId('charts');
  for (const { chart } of charts) grid.appendChild(chart.root);
  for (const id of ['listener', 'worker'] as const) {
    const el = byId(id);
    el.addEventListener('change', () => {
      selection[id] = el.value;
      render();
    });
  }
  window.addEventListener('resize', render);
  void poll();
  setInterval(() => void poll(), POLL_MS);
}

start();
