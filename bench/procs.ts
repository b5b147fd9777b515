/**
 * Server processes under test: started pinned to CPU 0, asked for their CPU
 * time and memory over IPC, and always stopped (by their own pid) when done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
export async function startNodeServer(kind: 'capstan' | 'net' | 'capstan-ws' | 'ws', framing: string, pin: boolean, script = SERVER): Promise<BenchServer> {
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
    label: kind === 'capstan' ? `capstan ${framing}` : kind === 'net' ? 'net raw echo' : kind === 'ws' ? 'ws echo' : 'capstan ws',
    port,
    stats(gc = false) {
      const next = queue.then(() => ask(gc));
      queue = next.catch(() => undefined);
      return next;
    },
    stop: () => stopChild(child),
  };
}

/** The C epoll echo server (the machine's reference) on CPU 0. */
export async function startEchoEpoll(bin: string, pin: boolean): Promise<BenchServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const [cmd, args] = pinned(pin, 0, bin, ['--port', String(port)]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    track(child);
    const up = await new Promise<boolean>((resolve) => {
      child.stdout?.once('data', () => resolve(true));
      child.once('exit', () => resolve(false));
    });
    if (up) {
      child.stdout?.resume();
      return {
        label: 'C echo_epoll',
        port,
        stats: () => Promise.reject(new Error('echo_epoll reports no stats')),
        stop: () => stopChild(child),
      };
    }
    // The port was taken between probing and binding: try another.
    if (attempt === 3) throw new Error('echo_epoll did not start');
  }
}
