/**
 * What observability costs: a Capstan length-prefixed echo with the metrics
 * off (counters only: they are always on, plain field increments) and on
 * (handler-latency HDR recorder, event-loop and GC probes, the admin endpoint
 * scraped every second for /metrics and /stats.json), measured alternately in
 * the same run with ../shared/bench/tcpload. Target: on ≥ 0.98 × off.
 *
 *   node dist/bench/metrics-cost.js [--rounds 3] [--seconds 5] [--conns 100] [--size 64] [--depth 16]
 *
 * Server pinned to CPU 0 and load to CPU 1 when `taskset` exists. Prints one
 * line per run and a final `RESULT bench=metrics-cost …` line; exit 1 when the
 * target is missed.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lengthPrefixed, listen, silentLogger, type Server } from '../src/index.js';
import { startAdminServer } from '../src/metrics/admin-server.js';
import { collectWorkerSnapshot, combineSnapshots, latencyRecorder } from '../src/metrics/snapshot.js';

export interface MetricsCostOptions {
  rounds: number;
  seconds: number;
  conns: number;
  size: number;
  depth: number;
}

export interface MetricsCostResult {
  offMsgsPerSec: number;
  onMsgsPerSec: number;
  /** Median "on" over median "off". */
  ratio: number;
  runs: { mode: 'on' | 'off'; msgsPerSec: number }[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOOLS = `${ROOT}dist/tools`;

/** The load generator, built from ../shared/bench into dist/tools (ignored by git) on first use. */
export function tcploadPath(): string {
  const bin = process.env.TCPLOAD ?? `${TOOLS}/tcpload`;
  if (existsSync(bin)) return bin;
  const src = `${ROOT}../shared/bench/tcpload.c`;
  if (!existsSync(src)) throw new Error(`tcpload not found: set TCPLOAD or check out the project next to shared/ (${src})`);
  mkdirSync(TOOLS, { recursive: true });
  execFileSync('gcc', ['-O2', '-pthread', '-o', bin, src], { stdio: 'inherit' });
  return bin;
}

function pinned(cpu: number, command: string, args: string[]): [string, string[]] {
  return existsSync('/usr/bin/taskset') ? ['/usr/bin/taskset', ['-c', String(cpu), command, ...args]] : [command, args];
}

/** Child side: serve the echo with metrics `on` or `off`, report the ports, stay until disconnected. */
async function serve(mode: 'on' | 'off'): Promise<void> {
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
    ...(mode === 'on' ? { latency: latencyRecorder(name) } : {}),
  });
  const servers = new Map([[name, server]]);
  const admin =
    mode === 'on'
      ? await startAdminServer({ port: 0, logger: silentLogger, source: { ready: () => true, snapshot: async () => combineSnapshots([collectWorkerSnapshot('main', servers)], false) } })
      : null;
  const a = server.address;
  process.send?.({ port: 'port' in a ? a.port : 0, adminPort: admin?.address.port ?? 0 });
  process.once('disconnect', () => {
    void Promise.all([server.close({ graceMs: 500 }), admin?.close()]).then(() => process.exit(0));
  });
}

async function startServer(mode: 'on' | 'off'): Promise<{ child: ChildProcess; port: number; adminPort: number }> {
  const self = fileURLToPath(import.meta.url);
  const [cmd, args] = pinned(0, process.execPath, [self, '--serve', mode]);
  // fork() cannot be wrapped in taskset, so the child is spawned with an IPC channel instead.
  const child = existsSync('/usr/bin/taskset') ? spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }) : fork(self, ['--serve', mode]);
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number; adminPort: number }));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { child, ...ports };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

function runLoad(port: number, o: MetricsCostOptions): Promise<number> {
  const [cmd, args] = pinned(1, tcploadPath(), ['--port', String(port), '--lp4', '--conns', String(o.conns), '--size', String(o.size), '--depth', String(o.depth), '--seconds', String(o.seconds)]);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const guard = setTimeout(() => p.kill('SIGKILL'), (o.seconds + 30) * 1000);
    p.once('close', (code) => {
      clearTimeout(guard);
      const m = /^RESULT .*\bmsgs_per_s=(\d+)/m.exec(out);
      if (code !== 0 || m === null) reject(new Error(`tcpload failed (exit ${code}): ${out.trim().split('\n').pop() ?? ''}`));
      else resolve(Number(m[1]));
    });
  });
}

/** Scrapes the admin endpoint once a second, as Prometheus and an open dashboard would. */
function scrape(adminPort: number): () => void {
  const base = `http://127.0.0.1:${adminPort}`;
  const timer = setInterval(() => {
    void fetch(`${base}/metrics`).then((r) => r.text()).catch(() => undefined);
    void fetch(`${base}/stats.json`).then((r) => r.text()).catch(() => undefined);
  }, 1_000);
  return () => clearInterval(timer);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export async function runMetricsCost(o: MetricsCostOptions): Promise<MetricsCostResult> {
  const runs: MetricsCostResult['runs'] = [];
  for (let round = 0; round < o.rounds; round++) {
    // Alternate the order each round so drift (thermal, other load) does not favour one mode.
    const order: ('on' | 'off')[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) {
      const { child, port, adminPort } = await startServer(mode);
      const stopScraping = mode === 'on' ? scrape(adminPort) : () => {};
      try {
        const msgsPerSec = await runLoad(port, o);
        runs.push({ mode, msgsPerSec });
        process.stdout.write(`metrics-cost round ${round + 1} ${mode.padEnd(3)} ${msgsPerSec} msgs/s\n`);
      } finally {
        stopScraping();
        await stopServer(child);
      }
    }
  }
  const off = median(runs.filter((r) => r.mode === 'off').map((r) => r.msgsPerSec));
  const on = median(runs.filter((r) => r.mode === 'on').map((r) => r.msgsPerSec));
  return { offMsgsPerSec: off, onMsgsPerSec: on, ratio: on / off, runs };
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      serve: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      conns: { type: 'string', default: '100' },
      size: { type: 'string', default: '64' },
      depth: { type: 'string', default: '16' },
    },
  });
  if (values.serve === 'on' || values.serve === 'off') {
    await serve(values.serve);
    return 0;
  }
  const o: MetricsCostOptions = { rounds: Number(values.rounds), seconds: Number(values.seconds), conns: Number(values.conns), size: Number(values.size), depth: Number(values.depth) };
  const r = await runMetricsCost(o);
  const ok = r.ratio >= 0.98;
  process.stdout.write(
    `RESULT bench=metrics-cost off_msgs_per_s=${Math.round(r.offMsgsPerSec)} on_msgs_per_s=${Math.round(r.onMsgsPerSec)} ratio=${r.ratio.toFixed(4)} target=0.98 ${ok ? 'pass' : 'FAIL'}\n`,
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
