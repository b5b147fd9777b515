/**
 * The benchmark's helpers for the machine: the C reference tools (built from
 * ../shared/bench into bench/.bin on first use), CPU pinning with taskset, and
 * free loopback ports.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/bench/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bench/.bin`;

/** Where the C sources live: `CAPSTAN_SHARED_BENCH`, or shared/bench next to the checkout. */
function sharedBench(): string {
  return process.env.CAPSTAN_SHARED_BENCH ?? `${ROOT}../shared/bench`;
}

/**
 * The path of a C tool (`tcpload`, `echo_epoll`), compiled with gcc when missing or
 * older than its source; `null` when neither a binary nor a source and gcc exist.
 */
export function cTool(name: 'tcpload' | 'echo_epoll'): string | null {
  const bin = `${BIN}/${name}`;
  const src = `${sharedBench()}/${name}.c`;
  const fresh = existsSync(bin) && (!existsSync(src) || statSync(bin).mtimeMs >= statSync(src).mtimeMs);
  if (fresh) return bin;
  if (!existsSync(src)) return existsSync(bin) ? bin : null;
  try {
    mkdirSync(BIN, { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', bin, src], { stdio: ['ignore', 'ignore', 'inherit'] });
    return bin;
  } catch {
    return null;
  }
}

const TASKSET = '/usr/bin/taskset';

/** Whether processes can be pinned (taskset present and at least two CPUs). */
export function canPin(cpus: number): boolean {
  return cpus >= 2 && existsSync(TASKSET);
}

/** The command that runs `command args` on `cpu`, or unchanged when pinning is off. */
export function pinned(pin: boolean, cpu: number, command: string, args: string[]): [string, string[]] {
  return pin ? [TASKSET, ['-c', String(cpu), command, ...args]] : [command, args];
}

/** Pins this process (all its threads) to `cpu`; children inherit it unless they are pinned elsewhere. */
export function pinSelf(cpu: number): void {
  execFileSync(TASKSET, ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/** A loopback port free right now (for tools that cannot bind port 0 and report it). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** `ulimit -n` of processes started from here. */
export function fileLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  } catch {
    return 0;
  }
}
