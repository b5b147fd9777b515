/**
 * Load generators for the benchmark: the C `tcpload` (never the bottleneck of a
 * Node server here), `capstan load` as its own process (to measure the load
 * client itself), and `runLoad` in this process (fixed-rate runs, and every
 * scenario when the C tool cannot be built). Each run is bounded: a generator
 * that overstays its time is killed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runLoad } from '../src/load/run.js';
import type { LoadOptions } from '../src/load/options.js';
import type { LoadResult } from '../src/load/result.js';
import { pinned } from './tools.js';

/** What one load run measured (latencies in µs). */
export interface LoadFigures {
  msgsPerSec: number;
  /** Messages completed in the window. */
  msgs: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  /** CPU seconds the generator process used over its whole life (0 when run in this process). */
  cpuSec: number;
  /** The load client's own CPU µs per message inside its measured window (`capstan load` only). */
  windowCpuPerMsgUs?: number;
}

export interface Shape {
  conns: number;
  size: number;
  depth: number;
  seconds: number;
  /** `lp4`, `raw` or `ws` (WebSocket: tcpload's handshake and masked binary frames). */
  framing: 'lp4' | 'raw' | 'ws';
  mode: 'echo' | 'idle' | 'churn';
  /** Source addresses for many connections, `127.0.0.2-127.0.0.50`. */
  srcIps?: string;
}

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

const running = new Set<number>();

/** Kills every load generator still running (by its process group, which it leads). */
export function killGenerators(): void {
  for (const pgid of running) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/**
 * Runs a child to completion, collecting stdout; `onLine` sees each line as it
 * arrives. A shell around it reports the child's CPU time (`times`), so the
 * load generators' own cost is measured the same way for each. Killed (with
 * its process group) after `limitMs`.
 */
export function runChild(cmd: string, args: string[], limitMs: number, onLine?: (line: string) => void): Promise<{ code: number | null; out: string; cpuSec: number }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', '"$@"; rc=$?; times 1>&2; exit $rc', 'sh', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid as number;
    running.add(pgid);
    let out = '';
    let err = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        onLine?.(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const guard = setTimeout(() => killGenerators(), limitMs);
    child.once('close', (code) => {
      clearTimeout(guard);
      running.delete(pgid);
      const lines = err.trimEnd().split('\n');
      // The last line of `times` is the children's user and system time: "0m1.23s 0m0.45s".
      const t = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '');
      const cpuSec = t === null ? 0 : Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]);
      if (code !== 0) process.stderr.write(`${lines.slice(-6, -2).join('\n')}\n`);
      resolve({ code, out, cpuSec });
    });
  });
}

/** The figures of a C tool's `RESULT k=v …` line, by key (0 for a key it did not print). */
function resultOf(tool: string, out: string): (key: string) => number {
  const line = /^RESULT (.*)$/m.exec(out);
  if (line === null) throw new Error(`${tool} printed no result: ${out.trim().split('\n').pop() ?? ''}`);
  const kv = Object.fromEntries((line[1] as string).split(' ').map((p) => p.split('=') as [string, string]));
  return (key) => Number(kv[key] ?? 0);
}

function tcploadArgs(port: number, s: Shape): string[] {
  const args = ['--port', String(port), '--conns', String(s.conns), '--size', String(s.size), '--depth', String(s.depth), '--seconds', String(s.seconds)];
  if (s.framing === 'lp4') args.push('--lp4');
  if (s.framing === 'ws') args.push('--ws');
  if (s.mode === 'idle') args.push('--idle');
  if (s.mode === 'churn') args.push('--churn');
  if (s.srcIps !== undefined) args.push('--src-ips', s.srcIps);
  return args;
}

/**
 * Runs tcpload on CPU 1. In idle mode `onEstablished` is called once every
 * connection is up (tcpload then holds them for `seconds`).
 */
export async function tcpload(bin: string, port: number, s: Shape, pin: boolean, onEstablished?: (ok: number) => void): Promise<LoadFigures> {
  const [cmd, args] = pinned(pin, 1, bin, tcploadArgs(port, s));
  const { out, cpuSec } = await runChild(cmd, args, (s.seconds + 120) * 1000, (line) => {
    const m = /^ESTABLISHED ok=(\d+)/.exec(line);
    if (m !== null) onEstablished?.(Number(m[1]));
  });
  const num = resultOf('tcpload', out);
  return {
    msgsPerSec: num('msgs_per_s'),
    msgs: num('msgs'),
    p50: num('p50_us'),
    p99: num('p99_us'),
    p999: num('p999_us'),
    errors: num('connect_fail') + num('handshake_fail') + num('verify_err') + num('peer_closed'),
    cpuSec,
  };
}

/** A UDP load: `socks` connect()ed sockets, each keeping `depth` datagrams of `size` bytes in flight. */
export interface UdpShape {
  socks: number;
  size: number;
  depth: number;
  /** Measured seconds (udpload: whole seconds, after its own 1 s warm-up). */
  seconds: number;
  /** A datagram with no echo this long is lost (udpload's default: 200). */
  timeoutMs?: number;
}

/** What udpload measured over its window. */
export interface UdpFigures {
  /** Echoes received per second in the window: delivered datagrams/s. */
  msgsPerSec: number;
  /** Echoes received in the window. */
  received: number;
  sent: number;
  lost: number;
  lossPct: number;
  late: number;
  p50: number;
  p99: number;
  p999: number;
  /** Verification errors and ICMP refusals. */
  errors: number;
}

/**
 * Runs udpload on CPU 1. Its window starts after its own 1 s warm-up:
 * `onWindow` is called then (about: from this side of the spawn), so a caller
 * can read the server's CPU time at the start of the window.
 */
export async function udpload(bin: string, port: number, s: UdpShape, pin: boolean, onWindow?: () => void): Promise<UdpFigures> {
  const args = ['--port', String(port), '--socks', String(s.socks), '--size', String(s.size), '--depth', String(s.depth), '--seconds', String(Math.max(1, Math.round(s.seconds)))];
  if (s.timeoutMs !== undefined) args.push('--timeout-ms', String(s.timeoutMs));
  const [cmd, cmdArgs] = pinned(pin, 1, bin, args);
  const timer = onWindow === undefined ? null : setTimeout(onWindow, 1000);
  const { out } = await runChild(cmd, cmdArgs, (s.seconds + 120) * 1000);
  if (timer !== null) clearTimeout(timer);
  const num = resultOf('udpload', out);
  return {
    msgsPerSec: num('msgs_per_s'),
    received: num('received'),
    sent: num('sent'),
    lost: num('lost'),
    lossPct: num('loss_pct'),
    late: num('late'),
    p50: num('p50_us'),
    p99: num('p99_us'),
    p999: num('p999_us'),
    errors: num('verify_err') + num('refused'),
  };
}

function loadOptions(port: number, s: Shape, extra: Partial<LoadOptions>): LoadOptions {
  const o: LoadOptions = { target: `tcp://127.0.0.1:${port}`, connections: s.conns, size: s.size, depth: s.depth, durationSec: s.seconds, framing: s.framing, mode: s.mode, ...extra };
  if (s.srcIps !== undefined) {
    const [lo = '', hi = lo] = s.srcIps.split('-');
    const base = lo.split('.').slice(0, 3).join('.');
    const from = Number(lo.split('.')[3]);
    const to = Number(hi.split('.')[3]);
    o.sourceAddresses = Array.from({ length: to - from + 1 }, (_, i) => `${base}.${from + i}`);
  }
  return o;
}

function figures(r: LoadResult, cpuSec = 0): LoadFigures {
  // What a send run handed to its sockets is not what the server got: count what it confirmed.
  const msgs = r.mode === 'send' ? (r.delivery?.delivered ?? r.sent.msgs) : r.received.msgs;
  return { msgsPerSec: r.msgsPerSec, msgs, p50: r.latencyUs.p50, p99: r.latencyUs.p99, p999: r.latencyUs.p999, errors: r.errors.total, cpuSec, windowCpuPerMsgUs: r.clientCpu.perMsgUs };
}

/** Runs `capstan load` as its own process on CPU 1 (what a user runs), parsing its `--json`. */
export async function capstanLoadProcess(port: number, s: Shape, pin: boolean): Promise<LoadFigures> {
  const o = loadOptions(port, s, {});
  const args = [CLI, 'load', o.target, '-c', String(s.conns), '--size', String(s.size), '--depth', String(s.depth), '-d', String(s.seconds), '--framing', s.framing, '--mode', s.mode, '--json', '-q'];
  if (s.srcIps !== undefined) args.push('--src-ips', s.srcIps);
  const [cmd, cmdArgs] = pinned(pin, 1, process.execPath, args);
  const { out, cpuSec } = await runChild(cmd, cmdArgs, (s.seconds + 120) * 1000);
  const json = out.split('\n').find((l) => l.startsWith('{'));
  if (json === undefined) throw new Error('capstan load printed no result');
  return figures(JSON.parse(json) as LoadResult, cpuSec);
}

/** Runs the load client in this process (the benchmark pins itself to CPU 1). */
export async function capstanLoadHere(port: number, s: Shape, extra: Partial<LoadOptions> = {}, onConnected?: (n: number) => void): Promise<LoadFigures> {
  const r = await runLoad(loadOptions(port, s, extra), onConnected === undefined ? {} : { onConnected });
  return figures(r);
}
