/**
 * What observability costs: a Capstan length-prefixed echo with the metrics
 * off (counters only: they are always on, plain field increments) and on
 * (the handler-latency recorder, and the admin endpoint with its event-loop
 * and GC probes, scraped every second for /metrics and /stats.json), measured
 * in the same run with ../shared/bench/tcpload. Target: on ≥ 0.98 × off.
 *
 *   node dist/bench/metrics-cost.js [--on latency,probes,admin|latency,probes|…|none] [--method paired|sequential]
 *                                   [--scrape-ms 1000] [--rounds 3] [--seconds 5] [--conns 100]
 *                                   [--size 64] [--depth 16]
 *
 * `--on none` runs two identical servers: the ratio it prints is the method's
 * own bias and its spread the noise, to set beside a real run.
 * `CAPSTAN_BENCH_NODE_ARGS` adds node flags to the servers (`--cpu-prof`, `--trace-deopt`).
 *
 * Server pinned to CPU 0 and load to CPU 1 when `taskset` exists. Prints one
 * line per run (messages/s and the server's CPU time per message, which is
 * steadier than throughput on a shared machine) and a final
 * `RESULT bench=metrics-cost …` line; exit 1 when the messages/s target is missed.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lengthPrefixed, listen, silentLogger, type Server } from '../src/index.js';
import { cTool } from './tools.js';
import { startAdminServer } from '../src/metrics/admin-server.js';
import { collectWorkerSnapshot, combineSnapshots, latencyRecorder } from '../src/metrics/snapshot.js';
import { processStats } from '../src/metrics/process-stats.js';

/**
 * What "on" turns on: the handler-latency recorder (`latency`), the process
 * probes (`probes`: event-loop delay and GC observer, which the first snapshot
 * otherwise starts), and the admin endpoint on its thread, scraped every
 * `scrapeMs` (`admin`, which starts the probes too).
 */
export type MetricsPart = 'latency' | 'probes' | 'admin';
export const METRICS_PARTS: readonly MetricsPart[] = ['latency', 'probes', 'admin'];

export interface MetricsCostOptions {
  /**
   * The parts the "on" server runs (default both). Fewer parts split the cost; none is an
   * A/A run that shows the method's own noise.
   */
  on: MetricsPart[];
  /**
   * `paired` (default): both servers share CPU 0 at the same time, each driven by its own
   * tcpload, so the scheduler gives them equal CPU and outside load hits both alike; the
   * ratio of their messages/s is the ratio of their costs. `sequential`: one server at a
   * time, alternating (closer to a single deployment, noisier on a shared machine).
   */
  method: 'paired' | 'sequential';
  /** How often "on" is scraped (/metrics and /stats.json), ms. Default 1000: an open dashboard. */
  scrapeMs: number;
  rounds: number;
  seconds: number;
  conns: number;
  size: number;
  depth: number;
}

export interface MetricsCostResult {
  offMsgsPerSec: number;
  onMsgsPerSec: number;
  /** Median "on" over median "off" messages per second. */
  ratio: number;
  /** Median server CPU time per message, ns (steadier than throughput on a shared machine). */
  offCpuNsPerMsg: number;
  onCpuNsPerMsg: number;
  runs: { mode: 'on' | 'off'; msgsPerSec: number; cpuNsPerMsg: number }[];
}


/** The load generator: $TCPLOAD, or the copy the benchmark suite builds from ../shared/bench. */
export function tcploadPath(): string {
  if (process.env.TCPLOAD !== undefined) return process.env.TCPLOAD;
  const tcpload = cTool('tcpload');
  if (tcpload.path === null) throw new Error(`${tcpload.problem}\n  Or set TCPLOAD to a tcpload binary.`);
  return tcpload.path;
}

function pinned(cpu: number, command: string, args: string[]): [string, string[]] {
  return existsSync('/usr/bin/taskset') ? ['/usr/bin/taskset', ['-c', String(cpu), command, ...args]] : [command, args];
}

/** Child side: serve the echo with the given metrics parts, report the ports, stay until disconnected. */
async function serve(parts: ReadonlySet<MetricsPart>): Promise<void> {
  const name = 'bench-echo';
  const server: Server = await listen({
    name,
    port: 0,
    codec: lengthPrefixed(),
    logger: silentLogger,
    limits: { maxConnections: 20_000, maxConnectionsPerAddress: 20_000 },
    handler: {
      message(conn, frame) {
        conn.send(frame);
      },
    },
    ...(parts.has('latency') ? { latency: latencyRecorder(name) } : {}),
  });
  const servers = new Map([[name, server]]);
  if (parts.has('probes')) processStats();
  const admin =
    parts.has('admin')
      ? await startAdminServer({ port: 0, logger: silentLogger, source: { ready: () => true, snapshot: async () => combineSnapshots([collectWorkerSnapshot('main', servers)], false) } })
      : null;
  const a = server.address;
  process.send?.({ port: 'port' in a ? a.port : 0, adminPort: admin?.address.port ?? 0 });
  process.once('disconnect', () => {
    void Promise.all([server.close({ graceMs: 500 }), admin?.close()]).then(() => process.exit(0));
  });
}

/**
 * Steady state is what is measured: a one-second load warms the JIT, and for
 * "on" {@link WARM_SCRAPES} scrapes of each admin path load prom-client and let
 * V8 compile the scrape path, as a server scraped every second for a few
 * minutes has it. Without them the first scrapes of a run cost several times
 * more (20 ms for the first /metrics under load, about 2 ms a few seconds later,
 * 0.25 ms compiled), which is the start-up of a process, not what metrics cost.
 */
async function warmUp(server: { port: number; adminPort: number }, o: MetricsCostOptions): Promise<void> {
  if (server.adminPort !== 0) {
    for (let i = 0; i < WARM_SCRAPES; i++) {
      for (const path of ['metrics', 'stats.json']) await fetch(`http://127.0.0.1:${server.adminPort}/${path}`, { signal: AbortSignal.timeout(30_000) }).then((r) => r.text());
    }
  }
  await runLoad(server.port, { ...o, seconds: 1 });
}

/** Scrapes of each admin path before measuring: about three minutes of a once-a-second dashboard. */
const WARM_SCRAPES = 200;

interface Started {
  child: ChildProcess;
  port: number;
  adminPort: number;
}

async function startServer(mode: 'on' | 'off', o: MetricsCostOptions): Promise<Started> {
  const self = fileURLToPath(import.meta.url);
  const serveArgs = ['--serve', mode === 'on' ? o.on.join(',') || 'none' : 'none'];
  const [cmd, args] = pinned(0, process.execPath, [...(process.env.CAPSTAN_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), self, ...serveArgs]);
  // fork() cannot be wrapped in taskset, so the child is spawned with an IPC channel instead.
  const child = existsSync('/usr/bin/taskset') ? spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }) : fork(self, serveArgs);
  try {
    const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench server (${mode}) did not start within 30 s`)), 30_000);
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as { port: number; adminPort: number });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`bench server (${mode}) exited with ${code}`));
      });
    });
    return { child, ...ports };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

let ticksPerSec = 0;

/** User plus system CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  ticksPerSec ||= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSec;
}

function runLoad(port: number, o: MetricsCostOptions): Promise<{ msgs: number; msgsPerSec: number }> {
  const [cmd, args] = pinned(1, tcploadPath(), ['--port', String(port), '--lp4', '--conns', String(o.conns), '--size', String(o.size), '--depth', String(o.depth), '--seconds', String(o.seconds)]);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const guard = setTimeout(() => p.kill('SIGKILL'), (o.seconds + 30) * 1000);
    p.once('close', (code) => {
      clearTimeout(guard);
      const m = /^RESULT .*\bmsgs=(\d+) msgs_per_s=(\d+)/m.exec(out);
      if (code !== 0 || m === null) reject(new Error(`tcpload failed (exit ${code}): ${out.trim().split('\n').pop() ?? ''}`));
      else resolve({ msgs: Number(m[1]), msgsPerSec: Number(m[2]) });
    });
  });
}

/** Scrapes the admin endpoint every `everyMs`, as Prometheus and an open dashboard would. */
function scrape(adminPort: number, everyMs: number): () => void {
  if (adminPort === 0 || everyMs <= 0) return () => {};
  const base = `http://127.0.0.1:${adminPort}`;
  const timer = setInterval(() => {
    for (const path of ['metrics', 'stats.json']) void fetch(`${base}/${path}`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text()).catch(() => undefined);
  }, everyMs);
  return () => clearInterval(timer);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Both modes at once on the same CPU; the median of per-round ratios is the result. */
async function runPaired(o: MetricsCostOptions): Promise<MetricsCostResult> {
  const runs: MetricsCostResult['runs'] = [];
  const ratios: number[] = [];
  for (let round = 0; round < o.rounds; round++) {
    // The server started second gets a small edge on a shared CPU, so the order alternates by round.
    const first = round % 2 === 0 ? 'off' : 'on';
    const started: Started[] = [];
    try {
      started.push(await startServer(first, o));
      started.push(await startServer(first === 'off' ? 'on' : 'off', o));
      const [a, b] = started as [Started, Started];
      const [off, on] = first === 'off' ? [a, b] : [b, a];
      const servers = [off, on];
      await Promise.all(servers.map((x) => warmUp(x, o)));
      const stopScraping = scrape(on.adminPort, o.scrapeMs);
      try {
        const cpu0 = servers.map((x) => cpuSeconds(x.child.pid as number));
        // The load generators start in the servers' start order, which alternates by round: A/A runs
        // showed a bias of about 0.7 % against the server whose load always started second.
        const loading = new Map(started.map((x) => [x, runLoad(x.port, o)]));
        const loads = await Promise.all(servers.map((x) => loading.get(x) as Promise<{ msgs: number; msgsPerSec: number }>));
        servers.forEach((x, i) => {
          const { msgs, msgsPerSec } = loads[i] as { msgs: number; msgsPerSec: number };
          const cpuNsPerMsg = ((cpuSeconds(x.child.pid as number) - (cpu0[i] as number)) * 1e9) / Math.max(1, msgs);
          const mode = x === off ? 'off' : 'on';
          runs.push({ mode, msgsPerSec, cpuNsPerMsg });
          process.stdout.write(`metrics-cost round ${round + 1} ${mode.padEnd(3)} ${msgsPerSec} msgs/s ${Math.round(cpuNsPerMsg)} ns CPU/msg\n`);
        });
        ratios.push((loads[1] as { msgsPerSec: number }).msgsPerSec / (loads[0] as { msgsPerSec: number }).msgsPerSec);
      } finally {
        stopScraping();
      }
    } finally {
      await Promise.all(started.map((x) => stopServer(x.child)));
    }
  }
  return summarizeRuns(runs, median(ratios));
}

function summarizeRuns(runs: MetricsCostResult['runs'], ratio?: number): MetricsCostResult {
  const med = (mode: 'on' | 'off', pick: (r: MetricsCostResult['runs'][number]) => number) => median(runs.filter((r) => r.mode === mode).map(pick));
  const off = med('off', (r) => r.msgsPerSec);
  const on = med('on', (r) => r.msgsPerSec);
  return { offMsgsPerSec: off, onMsgsPerSec: on, ratio: ratio ?? on / off, offCpuNsPerMsg: med('off', (r) => r.cpuNsPerMsg), onCpuNsPerMsg: med('on', (r) => r.cpuNsPerMsg), runs };
}

export async function runMetricsCost(o: MetricsCostOptions): Promise<MetricsCostResult> {
  if (o.method === 'paired') return runPaired(o);
  const runs: MetricsCostResult['runs'] = [];
  for (let round = 0; round < o.rounds; round++) {
    // Alternate the order each round so drift (thermal, other load) does not favour one mode.
    const order: ('on' | 'off')[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) {
      const { child, port, adminPort } = await startServer(mode, o);
      let stopScraping = () => {};
      try {
        await warmUp({ port, adminPort }, o);
        if (mode === 'on') stopScraping = scrape(adminPort, o.scrapeMs);
        const cpu0 = cpuSeconds(child.pid as number);
        const { msgs, msgsPerSec } = await runLoad(port, o);
        const cpuNsPerMsg = ((cpuSeconds(child.pid as number) - cpu0) * 1e9) / Math.max(1, msgs);
        runs.push({ mode, msgsPerSec, cpuNsPerMsg });
        process.stdout.write(`metrics-cost round ${round + 1} ${mode.padEnd(3)} ${msgsPerSec} msgs/s ${Math.round(cpuNsPerMsg)} ns CPU/msg\n`);
      } finally {
        stopScraping();
        await stopServer(child);
      }
    }
  }
  return summarizeRuns(runs);
}

/** `latency,admin`, `latency`, `none` … as a list of parts. */
function parseParts(text: string): MetricsPart[] {
  if (text === 'none' || text === '') return [];
  return text.split(',').map((p) => {
    if (!(METRICS_PARTS as readonly string[]).includes(p)) throw new Error(`--on takes parts from ${METRICS_PARTS.join(', ')} (or none), got '${p}'`);
    return p as MetricsPart;
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      serve: { type: 'string' },
      on: { type: 'string', default: METRICS_PARTS.join(',') },
      method: { type: 'string', default: 'paired' },
      'scrape-ms': { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      conns: { type: 'string', default: '100' },
      size: { type: 'string', default: '64' },
      depth: { type: 'string', default: '16' },
    },
  });
  if (values.serve !== undefined) {
    await serve(new Set(parseParts(values.serve)));
    return 0;
  }
  if (values.method !== 'paired' && values.method !== 'sequential') throw new Error(`--method must be paired or sequential, got '${values.method}'`);
  const o: MetricsCostOptions = { on: parseParts(values.on), method: values.method, scrapeMs: Number(values['scrape-ms']), rounds: Number(values.rounds), seconds: Number(values.seconds), conns: Number(values.conns), size: Number(values.size), depth: Number(values.depth) };
  const r = await runMetricsCost(o);
  const ok = r.ratio >= 0.98;
  process.stdout.write(
    `RESULT bench=metrics-cost on=${o.on.join(',') || 'none'} method=${o.method} scrape_ms=${o.scrapeMs} off_msgs_per_s=${Math.round(r.offMsgsPerSec)} on_msgs_per_s=${Math.round(r.onMsgsPerSec)} ratio=${r.ratio.toFixed(4)} ` +
      `off_cpu_ns_per_msg=${Math.round(r.offCpuNsPerMsg)} on_cpu_ns_per_msg=${Math.round(r.onCpuNsPerMsg)} cpu_ratio=${(r.onCpuNsPerMsg / r.offCpuNsPerMsg).toFixed(4)} target=0.98 ${ok ? 'pass' : 'FAIL'}\n`,
  );
  return ok ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`metrics-cost: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
