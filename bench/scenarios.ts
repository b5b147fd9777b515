/**
 * The benchmark scenarios. Each one runs Capstan and its baseline in the same
 * run, alternating their order round by round so drift (other load, heat) does
 * not favour either, and reports medians and the ratio against the baseline.
 *
 * | scenario     | what                                                             | target (Capstan ÷ baseline) |
 * |--------------|------------------------------------------------------------------|-----------------------------|
 * | throughput   | lp4 echo vs naive raw `net` echo, 100 conns, 64 B, depth 16      | msgs/s ≥ 0.9, CPU/msg ≤ 1.1 |
 * | latency      | the same at depth 1, and at a fixed 500 msgs/s per connection    | CPU/msg ≤ 1.0, p99 ≤ raw's  |
 * | many         | 10,000 connections at 2 msgs/s each                              | CPU/msg ≤ 1.0, p99 ≤ raw's  |
 * | large        | the same with 4 KiB messages                                     | (reported)                  |
 * | idle         | 10,000 idle connections, server RSS growth per connection        | bytes/conn ≤ 1.2            |
 * | churn        | connect, one echo, close, 50 at a time                           | connects/s ≥ 0.95           |
 *
 * The echo scenarios also count the server's read and write system calls
 * (/proc/PID/io) and derive what Capstan itself costs: its CPU time per read
 * minus the raw echo's, and that divided by the frames a read carries.
 * | websocket    | WebSocket echo (tcpload --ws) vs `ws` and the raw `net` echo, 64 B, depth 16 | msgs/s ≥ 0.8 of raw |
 * | ws-idle      | 10,000 idle WebSockets (tcpload --ws --idle) vs `ws`: RSS and heap per connection | RSS/conn ≤ 0.6 of ws |
 * | ws-deflate   | permessage-deflate echo vs `ws` (level 1 both), ~1.2 KB JSON, 100 conns × 4 in flight, and RSS at 1,000 conns; takeover, server_no_context_takeover, none (ws-deflate.ts) | (reported) |
 * | loadgen      | `capstan load` vs `tcpload` against the C echo server            | msgs/s ≥ 0.5                |
 * | filters      | one pass-through filter vs none, paired, with an A/A control     | msgs/s ≥ 0.98               |
 * | compression  | lp4 echo through deflate and brotli vs none (compression.ts)     | (reported)                  |
 * | soak         | 10 min TLS echo with churn through every stage (soak.ts)         | memory slopes bounded       |
 * | udp          | UDP echo (udpload) vs `dgram` and the C echo; paired; idle session memory (udp.ts) | datagrams/s ≥ 1.0, no more loss |
 */
import { compressionScenario } from './compression.js';
import { filters } from './filters.js';
import { soak } from './soak-scenario.js';
import { runMetricsCost } from './metrics-cost.js';
import { websocket } from './websocket.js';
import { wsIdle } from './ws-idle.js';
import { udp } from './udp.js';
import { wsDeflate } from './ws-deflate.js';
import { capstanLoadHere, capstanLoadProcess, tcpload, type LoadFigures, type Shape } from './generators.js';
import { startEchoEpoll, startNodeServer, type BenchServer } from './procs.js';
import type { ServerStats } from './server.js';

export interface BenchContext {
  pin: boolean;
  tcpload: string | null;
  echoEpoll: string | null;
  /** The C UDP load generator (the `udp` scenario's load), or null when it could not be built. */
  udpload: string | null;
  /** Measured seconds per run. */
  seconds: number;
  rounds: number;
  /** Seconds of load before each measured run (JIT warm-up). */
  warmupSec: number;
  /** Hold time for the idle scenario, seconds after the last connection is up. */
  holdSec: number;
  log(line: string): void;
}

/** A metric of a table: how to show it and which way is better. */
export interface Metric {
  key: string;
  label: string;
  unit: 'count' | 'us' | 'bytes' | 'ratio' | 'percent';
  higherIsBetter: boolean;
}

export interface Target {
  metric: string;
  /** `ratio`: Capstan ÷ baseline; `absolute`: Capstan's own figure. */
  kind: 'ratio' | 'absolute';
  op: '>=' | '<=' | '<';
  goal: number;
  actual: number;
  pass: boolean;
}

export interface Table {
  scenario: string;
  title: string;
  /** What generated the load. */
  load: string;
  metrics: Metric[];
  /** One row per contender; the last row is the baseline. */
  rows: { label: string; values: Record<string, number>; runs: Record<string, number>[] }[];
  ratios: Record<string, number>;
  targets: Target[];
  /** Derived figures, printed under the table, and their values. */
  notes?: string[];
  derived?: Record<string, number>;
}

export const MSGS: Metric = { key: 'msgsPerSec', label: 'msgs/s', unit: 'count', higherIsBetter: true };
export const P50: Metric = { key: 'p50', label: 'p50', unit: 'us', higherIsBetter: false };
export const P99: Metric = { key: 'p99', label: 'p99', unit: 'us', higherIsBetter: false };
const P999: Metric = { key: 'p999', label: 'p99.9', unit: 'us', higherIsBetter: false };
export const CPU: Metric = { key: 'cpuPerMsgUs', label: 'CPU/msg', unit: 'us', higherIsBetter: false };
export const ERRORS: Metric = { key: 'errors', label: 'errors', unit: 'count', higherIsBetter: false };
export const READS: Metric = { key: 'readsPerSec', label: 'reads/s', unit: 'count', higherIsBetter: false };
export const WRITES: Metric = { key: 'writesPerSec', label: 'writes/s', unit: 'count', higherIsBetter: false };
export const CPU_READ: Metric = { key: 'cpuPerReadUs', label: 'CPU/read', unit: 'us', higherIsBetter: false };
export const PER_READ: Metric = { key: 'msgsPerRead', label: 'msgs/read', unit: 'ratio', higherIsBetter: true };

/**
 * What Capstan adds to each read and each frame: its CPU time per read minus the
 * raw echo's (both count the same system calls), and that over its frames per read.
 */
export function frameworkCost(t: Table): void {
  const [capstan, raw] = [t.rows[0]?.values, t.rows[t.rows.length - 1]?.values];
  if (capstan === undefined || raw === undefined || !(capstan.cpuPerReadUs ?? 0) || !(raw.cpuPerReadUs ?? 0)) return;
  const perRead = (capstan.cpuPerReadUs as number) - (raw.cpuPerReadUs as number);
  const perFrame = perRead / Math.max(1, capstan.msgsPerRead ?? 1);
  (t.notes ??= []).push(
    `Capstan's own cost: ${(perRead * 1000).toFixed(0)} ns per read, ${(perFrame * 1000).toFixed(0)} ns per frame (CPU per read minus the raw echo's; ${(capstan.msgsPerRead ?? 0).toFixed(1)} frames a read)`,
  );
  t.derived = { frameworkNsPerRead: perRead * 1000, frameworkNsPerFrame: perFrame * 1000 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function check(metric: string, kind: Target['kind'], op: Target['op'], goal: number, actual: number): Target {
  const pass = op === '>=' ? actual >= goal : op === '<=' ? actual <= goal : actual < goal;
  return { metric, kind, op, goal, actual, pass };
}

/** Builds a table from per-run values of each contender (baseline last). */
export function summarize(scenario: string, title: string, load: string, metrics: Metric[], runs: Map<string, Record<string, number>[]>): Table {
  const rows = [...runs].map(([label, rs]) => ({
    label,
    values: Object.fromEntries(metrics.map((m) => [m.key, median(rs.map((r) => r[m.key] ?? 0))])),
    runs: rs,
  }));
  const first = rows[0]?.values ?? {};
  const base = rows[rows.length - 1]?.values ?? {};
  const ratios = Object.fromEntries(
    metrics.filter((m) => m.key !== 'errors' && (base[m.key] ?? 0) > 0).map((m) => [m.key, (first[m.key] ?? 0) / (base[m.key] as number)]),
  );
  return { scenario, title, load, metrics, rows, ratios, targets: [] };
}

type Measure = (server: BenchServer) => Promise<Record<string, number>>;

/** Runs `measure` against fresh Capstan and raw `net` servers, `rounds` times each, alternating which goes first. */
async function versusNet(ctx: BenchContext, name: string, framing: string, measure: Measure, rounds = ctx.rounds): Promise<Map<string, Record<string, number>[]>> {
  const runs = new Map<string, Record<string, number>[]>([
    [`capstan ${framing}`, []],
    ['net raw echo', []],
  ]);
  for (let round = 0; round < rounds; round++) {
    const order: Array<'capstan' | 'net'> = round % 2 === 0 ? ['capstan', 'net'] : ['net', 'capstan'];
    for (const kind of order) {
      const server = await startNodeServer(kind, framing, ctx.pin);
      try {
        const values = await measure(server);
        runs.get(server.label)?.push(values);
        ctx.log(`  ${name} round ${round + 1}/${rounds} ${server.label.padEnd(13)} ${Object.entries(values).map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`).join(' ')}`);
      } finally {
        await server.stop();
      }
    }
  }
  return runs;
}

/** One echo run: warm-up, then the measured run with the server's CPU time around it. */
export async function echoRun(ctx: BenchContext, server: BenchServer, shape: Shape): Promise<Record<string, number>> {
  const generate = (s: Shape): Promise<LoadFigures> => (ctx.tcpload !== null ? tcpload(ctx.tcpload, server.port, s, ctx.pin) : capstanLoadHere(server.port, s));
  await generate({ ...shape, seconds: ctx.warmupSec });
  const before = await server.stats();
  const f = await generate(shape);
  const after = await server.stats();
  return { msgsPerSec: f.msgsPerSec, p50: f.p50, p99: f.p99, p999: f.p999, ...serverCost(before, after, f.msgs, shape.seconds), errors: f.errors };
}

/** The server's CPU time and system calls between two readings, per message and per read. */
export function serverCost(before: ServerStats, after: ServerStats, msgs: number, seconds: number): Record<string, number> {
  const cpuUs = after.cpuUs - before.cpuUs;
  const reads = after.reads - before.reads;
  const writes = after.writes - before.writes;
  return {
    cpuPerMsgUs: msgs > 0 ? cpuUs / msgs : 0,
    readsPerSec: reads / seconds,
    writesPerSec: writes / seconds,
    cpuPerReadUs: reads > 0 ? cpuUs / reads : 0,
    msgsPerRead: reads > 0 ? msgs / reads : 0,
  };
}

export function loadName(ctx: BenchContext): string {
  return ctx.tcpload !== null ? 'tcpload (C)' : 'capstan load (in process; tcpload could not be built)';
}

async function echoScenario(ctx: BenchContext, name: string, title: string, shape: Omit<Shape, 'seconds'>): Promise<Table> {
  const runs = await versusNet(ctx, name, 'lp4', (server) => echoRun(ctx, server, { ...shape, seconds: ctx.seconds }));
  const t = summarize(name, title, loadName(ctx), [MSGS, P99, CPU, READS, WRITES, PER_READ, CPU_READ, ERRORS], runs);
  frameworkCost(t);
  return t;
}

export async function throughput(ctx: BenchContext): Promise<Table[]> {
  const t = await echoScenario(ctx, 'throughput', 'lp4 echo vs naive raw net echo: 100 connections, 64 B, 16 in flight', {
    conns: 100,
    size: 64,
    depth: 16,
    framing: 'lp4',
    mode: 'echo',
  });
  t.targets.push(check('msgsPerSec', 'ratio', '>=', 0.9, t.ratios.msgsPerSec ?? 0), check('cpuPerMsgUs', 'ratio', '<=', 1.1, t.ratios.cpuPerMsgUs ?? 0));
  return [t];
}

export async function latency(ctx: BenchContext): Promise<Table[]> {
  const depth1 = await echoScenario(ctx, 'latency', 'lp4 echo vs naive raw net echo: 100 connections, 64 B, 1 in flight', {
    conns: 100,
    size: 64,
    depth: 1,
    framing: 'lp4',
    mode: 'echo',
  });
  depth1.targets.push(check('cpuPerMsgUs', 'ratio', '<=', 1.0, depth1.ratios.cpuPerMsgUs ?? 0), check('p99', 'ratio', '<=', 1.0, depth1.ratios.p99 ?? 0));
  // tcpload has no fixed-rate mode: the load client runs it, in this process (pinned to CPU 1).
  const rate = 500;
  const shape: Shape = { conns: 100, size: 64, depth: 64, framing: 'lp4', mode: 'echo', seconds: ctx.seconds };
  const runs = await versusNet(ctx, 'latency-rate', 'lp4', async (server) => {
    await capstanLoadHere(server.port, { ...shape, seconds: ctx.warmupSec }, { rate });
    const before = await server.stats();
    const f = await capstanLoadHere(server.port, shape, { rate });
    const after = await server.stats();
    return { msgsPerSec: f.msgsPerSec, p50: f.p50, p99: f.p99, p999: f.p999, ...serverCost(before, after, f.msgs, shape.seconds), errors: f.errors };
  });
  const fixed = summarize('latency-rate', `the same at a fixed ${rate} msgs/s per connection (${(rate * 100).toLocaleString('en-US')} msgs/s)`, 'capstan load --rate (in process)', [MSGS, P50, P99, P999, CPU, PER_READ, CPU_READ, ERRORS], runs);
  frameworkCost(fixed);
  fixed.targets.push(
    check('p99', 'absolute', '<', 10_000, fixed.rows[0]?.values.p99 ?? 0),
    check('cpuPerMsgUs', 'ratio', '<=', 1.0, fixed.ratios.cpuPerMsgUs ?? 0),
    check('p99', 'ratio', '<=', 1.0, fixed.ratios.p99 ?? 0),
  );
  return [depth1, fixed];
}

/**
 * The shape Capstan exists for: many connections, each sending now and then, so
 * every read carries one message and batching cannot help. The connections are
 * made first (from many source addresses); the server's CPU time is read from
 * the moment the last one is up.
 */
export async function many(ctx: BenchContext, connections = 10_000, rate = 2): Promise<Table[]> {
  const shape: Shape = { conns: connections, size: 64, depth: 4, framing: 'lp4', mode: 'echo', seconds: Math.max(ctx.seconds, 5), srcIps: '127.0.0.2-127.0.0.41' };
  const runs = await versusNet(
    ctx,
    'many',
    'lp4',
    async (server) => {
      let before: Promise<ServerStats> | null = null;
      const f = await capstanLoadHere(server.port, shape, { rate, maxConnecting: 500 }, () => {
        before = server.stats();
      });
      const after = await server.stats();
      if (before === null) throw new Error('the load never reported its connections established');
      return { msgsPerSec: f.msgsPerSec, p50: f.p50, p99: f.p99, p999: f.p999, ...serverCost(await (before as Promise<ServerStats>), after, f.msgs, shape.seconds), errors: f.errors };
    },
    Math.min(ctx.rounds, 2),
  );
  const t = summarize(
    'many',
    `${connections.toLocaleString('en-US')} connections at ${rate} msgs/s each (${(connections * rate).toLocaleString('en-US')} msgs/s), 64 B`,
    'capstan load --rate (in process)',
    [MSGS, P50, P99, P999, CPU, PER_READ, CPU_READ, ERRORS],
    runs,
  );
  frameworkCost(t);
  t.targets.push(check('cpuPerMsgUs', 'ratio', '<=', 1.0, t.ratios.cpuPerMsgUs ?? 0), check('p99', 'ratio', '<=', 1.0, t.ratios.p99 ?? 0));
  return [t];
}

export async function large(ctx: BenchContext): Promise<Table[]> {
  const t = await echoScenario(ctx, 'large', 'lp4 echo vs naive raw net echo: 100 connections, 4 KiB, 16 in flight', {
    conns: 100,
    size: 4096,
    depth: 16,
    framing: 'lp4',
    mode: 'echo',
  });
  t.metrics.splice(1, 0, { key: 'mbPerSec', label: 'MB/s', unit: 'count', higherIsBetter: true });
  for (const row of t.rows) row.values.mbPerSec = Math.round(((row.values.msgsPerSec ?? 0) * 4096) / 1e6);
  t.ratios.mbPerSec = t.ratios.msgsPerSec ?? 0;
  return [t];
}

/**
 * The server's memory (after GC) once it holds `n` connections, or when the
 * load's hold time is nearly up: the clients see their connects complete
 * while the last ones still wait in the accept queue.
 */
export async function statsOnceHeld(ctx: BenchContext, server: BenchServer, n: number): Promise<ServerStats> {
  const deadline = Date.now() + (ctx.holdSec - 1.5) * 1000;
  while ((await server.stats()).connections < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 500));
  return server.stats(true);
}

/**
 * One idle run: `shape.conns` connections held by the load (tcpload, or the load client in
 * process), and the server's memory growth per connection once it has accepted them all.
 */
export async function idleRun(ctx: BenchContext, server: BenchServer, shape: Shape): Promise<Record<string, number>> {
  const base = await server.stats(true);
  let reading: Promise<ServerStats> | null = null;
  let established = 0;
  const settled = (n: number): void => {
    established = n;
    reading = statsOnceHeld(ctx, server, n);
  };
  const f = ctx.tcpload !== null ? await tcpload(ctx.tcpload, server.port, shape, ctx.pin, settled) : await capstanLoadHere(server.port, shape, {}, settled);
  if (reading === null) throw new Error('the idle load never reported its connections established');
  const held = await (reading as Promise<ServerStats>);
  const per = (bytes: number): number => (held.connections > 0 ? bytes / held.connections : 0);
  return { bytesPerConn: per(held.rssBytes - base.rssBytes), heapPerConn: per(held.heapBytes - base.heapBytes), established, held: held.connections, errors: f.errors };
}

/** The idle tables' columns. */
export const IDLE_METRICS: Metric[] = [
  { key: 'bytesPerConn', label: 'RSS/conn', unit: 'bytes', higherIsBetter: false },
  { key: 'heapPerConn', label: 'heap/conn', unit: 'bytes', higherIsBetter: false },
  { key: 'established', label: 'established', unit: 'count', higherIsBetter: true },
  { key: 'held', label: 'server held', unit: 'count', higherIsBetter: true },
  ERRORS,
];

export async function idle(ctx: BenchContext, connections = 10_000): Promise<Table[]> {
  const shape: Shape = { conns: connections, size: 64, depth: 1, framing: 'raw', mode: 'idle', seconds: ctx.holdSec, srcIps: '127.0.0.2-127.0.0.50' };
  const runs = await versusNet(ctx, 'idle', 'lp4', (server) => idleRun(ctx, server, shape), Math.min(ctx.rounds, 2));
  const t = summarize('idle', `${connections.toLocaleString('en-US')} idle connections: server RSS growth per connection`, loadName(ctx), IDLE_METRICS, runs);
  t.targets.push(check('bytesPerConn', 'ratio', '<=', 1.2, t.ratios.bytesPerConn ?? 0));
  return [t];
}

export async function churn(ctx: BenchContext): Promise<Table[]> {
  const shape: Shape = { conns: 50, size: 64, depth: 1, framing: 'lp4', mode: 'churn', seconds: ctx.seconds, srcIps: '127.0.0.2-127.0.0.50' };
  const runs = await versusNet(ctx, 'churn', 'lp4', async (server) => {
    const f = await echoRun(ctx, server, shape);
    return { connectsPerSec: f.msgsPerSec ?? 0, p50: f.p50 ?? 0, p99: f.p99 ?? 0, cpuPerConnUs: f.cpuPerMsgUs ?? 0, errors: f.errors ?? 0 };
  });
  const t = summarize('churn', 'connection churn: connect, one 64 B lp4 echo, close; 50 at a time', loadName(ctx), [
    { key: 'connectsPerSec', label: 'conns/s', unit: 'count', higherIsBetter: true },
    P50,
    P99,
    { key: 'cpuPerConnUs', label: 'CPU/conn', unit: 'us', higherIsBetter: false },
    ERRORS,
  ], runs);
  t.targets.push(check('connectsPerSec', 'ratio', '>=', 0.95, t.ratios.connectsPerSec ?? 0));
  return [t];
}

export async function loadgen(ctx: BenchContext): Promise<Table[]> {
  if (ctx.tcpload === null || ctx.echoEpoll === null) {
    ctx.log('  loadgen skipped: tcpload or echo_epoll could not be built (why, and what to do: at the start of this run)');
    return [];
  }
  const shape: Shape = { conns: 100, size: 64, depth: 16, framing: 'raw', mode: 'echo', seconds: ctx.seconds };
  const runs = new Map<string, Record<string, number>[]>([
    ['capstan load', []],
    ['tcpload (C)', []],
  ]);
  const server = await startEchoEpoll(ctx.echoEpoll, ctx.pin);
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      const order = round % 2 === 0 ? ['capstan load', 'tcpload (C)'] : ['tcpload (C)', 'capstan load'];
      for (const gen of order) {
        const f = gen === 'capstan load' ? await capstanLoadProcess(server.port, shape, ctx.pin) : await tcpload(ctx.tcpload, server.port, shape, ctx.pin);
        // The generator's CPU time over its whole run (start-up included) per message of the window.
        const values = {
          msgsPerSec: f.msgsPerSec,
          p50: f.p50,
          p99: f.p99,
          cpuPerMsgUs: f.msgs > 0 ? (f.cpuSec * 1e6) / f.msgs : 0,
          windowCpuPerMsgUs: f.windowCpuPerMsgUs ?? 0,
          errors: f.errors,
        };
        runs.get(gen)?.push(values);
        ctx.log(`  loadgen round ${round + 1}/${ctx.rounds} ${gen.padEnd(13)} msgsPerSec=${f.msgsPerSec} p50=${f.p50} p99=${f.p99} cpuSec=${f.cpuSec}`);
      }
    }
  } finally {
    await server.stop();
  }
  const t = summarize('loadgen', 'the load client itself: one capstan load process vs tcpload against the C echo server (raw, 100 connections, 64 B, 16 in flight)', 'both, in turn', [
    MSGS,
    P50,
    P99,
    { ...CPU, label: 'client CPU/msg' },
    // Start-up (module loading, ~0.3 s of CPU for capstan load) weighs on short runs; this leaves it out.
    { key: 'windowCpuPerMsgUs', label: 'in window', unit: 'us', higherIsBetter: false },
    ERRORS,
  ], runs);
  t.targets.push(check('msgsPerSec', 'ratio', '>=', 0.5, t.ratios.msgsPerSec ?? 0));
  return [t];
}

/**
 * The cost of metrics (see metrics-cost.ts): the echo with everything on (latency recorder,
 * process probes, the admin endpoint on its thread scraped every second for /metrics and
 * /stats.json, as with a dashboard open) against the same echo with none of it.
 */
export async function metrics(ctx: BenchContext): Promise<Table[]> {
  if (ctx.tcpload === null) {
    ctx.log('  metrics skipped: tcpload could not be built (why, and what to do: at the start of this run)');
    return [];
  }
  process.env.TCPLOAD ??= ctx.tcpload;
  // Each round starts new processes, and one process's JIT can land a couple of per cent off
  // another's, so this takes many short rounds and the median of their paired ratios.
  const r = await runMetricsCost({ on: ['latency', 'probes', 'admin'], method: 'paired', scrapeMs: 1000, rounds: ctx.rounds * 4 + 1, seconds: Math.min(ctx.seconds, 4), conns: 100, size: 64, depth: 16 });
  const label = 'metrics on, scraped 1/s';
  const runs = new Map<string, Record<string, number>[]>([
    [label, []],
    ['metrics off', []],
  ]);
  for (const run of r.runs) runs.get(run.mode === 'on' ? label : 'metrics off')?.push({ msgsPerSec: run.msgsPerSec, cpuPerMsgUs: run.cpuNsPerMsg / 1000 });
  const t = summarize('metrics', "cost of counters and histograms: lp4 echo with the latency recorder, process probes and the admin endpoint scraped every second vs none of it, both servers on CPU 0 at once (100 connections, 64 B, 16 in flight); ratio: median of the rounds' paired ratios", 'tcpload (C), one per server', [MSGS, CPU], runs);
  t.ratios.msgsPerSec = r.ratio;
  t.targets.push(check('msgsPerSec', 'ratio', '>=', 0.98, r.ratio));
  return [t];
}

export const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<Table[]>> = { throughput, latency, many, large, idle, churn, loadgen, metrics, filters, compression: compressionScenario, soak, websocket, 'ws-idle': wsIdle, 'ws-deflate': wsDeflate, udp };
