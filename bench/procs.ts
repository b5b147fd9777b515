/**
 * Server processes under test: started pinned to CPU 0, asked for their CPU
 * time and memory over IPC, and always stopped (by their own pid) when done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerStats } from './server.js';
import { freePort, pinned } from './tools.js';

export interface BenchServer {
  readonly label: string;
  readonly port: number;
  /** RSS and CPU time now; `gc` collects garbage first (for memory readings). */
  stats(gc?: boolean): Promise<ServerStats>;
  stop(): Promise<void>;
}

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));

const LABELS: Record<ServerKind, (framing: string) => string> = {
  capstan: (f) => `capstan ${f}`,
  net: () => 'net raw echo',
  'capstan-ws': () => 'capstan ws',
  ws: () => 'ws echo',
  'capstan-udp': (f) => (f === 'raw' ? 'capstan udp' : `capstan udp ${f}`),
  dgram: () => 'dgram echo',
};

/** Extra node flags for the servers (`CAPSTAN_BENCH_NODE_ARGS="--cpu-prof"`), for profiling a scenario. */
function nodeArgs(): string[] {
  return (process.env.CAPSTAN_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}
const live = new Set<ChildProcess>();

/** Kills every server still running (on exit or interrupt). */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A Node benchmark server (`capstan` with a framing, or `net`) on CPU 0; `script`
 * runs another build's server (bench/ab.ts compares two builds).
 */
/** The kinds of bench/server.ts. */
export type ServerKind = 'capstan' | 'net' | 'capstan-ws' | 'ws' | 'capstan-udp' | 'dgram';

export async function startNodeServer(kind: ServerKind, framing: string, pin: boolean, script = SERVER): Promise<BenchServer> {
  const [cmd, args] = pinned(pin, 0, process.execPath, ['--expose-gc', ...nodeArgs(), script, kind, framing]);
  // spawn with an IPC channel rather than fork, so taskset can wrap the command.
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code} before listening`)));
  });
  let queue: Promise<unknown> = Promise.resolve();
  const ask = (gc: boolean): Promise<ServerStats> =>
    new Promise<ServerStats>((resolve, reject) => {
      child.once('message', (m) => resolve(m as ServerStats));
      if (!child.connected) reject(new Error(`${kind} server is gone`));
      else child.send({ cmd: 'stats', gc });
    });
  return {
    label: LABELS[kind](framing),
    port,
    stats(gc = false) {
      const next = queue.then(() => ask(gc));
      queue = next.catch(() => undefined);
      return next;
    },
    stop: () => stopChild(child),
  };
}

/** User + system CPU time of process `pid` so far, µs (from /proc; taskset execs its command, so its pid is the tool's). */
function cpuOfPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS;
}
/** Linux's USER_HZ, what /proc counts CPU time in. */
const CLOCK_TICKS = 100;

/** The C epoll echo server (the machine's reference) on CPU 0; `udp`: its UDP echo (recvmmsg/sendmmsg), whose CPU time is read from /proc. */
export async function startEchoEpoll(bin: string, pin: boolean, udp = false): Promise<BenchServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const [cmd, args] = pinned(pin, 0, bin, ['--port', String(port), ...(udp ? ['--udp'] : [])]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    track(child);
    const up = await new Promise<boolean>((resolve) => {
      child.stdout?.once('data', () => resolve(true));
      child.once('exit', () => resolve(false));
    });
    if (up) {
      child.stdout?.resume();
      const pid = child.pid as number;
      return {
        label: udp ? 'C echo_epoll --udp' : 'C echo_epoll',
        port,
        stats: () => Promise.resolve({ rssBytes: 0, heapBytes: 0, cpuUs: cpuOfPid(pid), connections: 0, reads: 0, writes: 0, bytesOut: 0, framesOut: 0, zlibContexts: 0 }),
        stop: () => stopChild(child),
      };
    }
    // The port was taken between probing and binding: try another.
    if (attempt === 3) throw new Error('echo_epoll did not start');
  }
}
