/**
 * The benchmark's helpers for the machine: the C reference tools (built from
 * ../shared/bench, or CAPSTAN_SHARED_BENCH, into bench/.bin on first use), CPU
 * pinning with taskset, and free loopback ports.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/bench/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bench/.bin`;

/** Where the C sources live, and whether someone said so (`CAPSTAN_SHARED_BENCH`) or it is the default next to the checkout. */
function sharedBench(): { dir: string; named: boolean } {
  const named = process.env.CAPSTAN_SHARED_BENCH;
  return named !== undefined && named !== '' ? { dir: named, named: true } : { dir: `${ROOT}../shared/bench`, named: false };
}

/** A C tool of the benchmark: where it is, or what was looked for, why it is not there and what to do. */
export type CTool =
  | { path: string; problem?: undefined; lacking?: undefined }
  | {
      path: null;
      problem: string;
      /** What is missing: the C sources (they live outside this repository), or a compiler that builds them. */
      lacking: 'sources' | 'compiler';
    };

const HOW_TO_FIX =
  '  To fix: CAPSTAN_SHARED_BENCH=/path/to/shared/bench npm run bench (the directory with tcpload.c, echo_epoll.c and udpload.c),\n' +
  '  and a C compiler: apt-get install gcc (Debian, Ubuntu).';

/**
 * The C tool `name` (`tcpload`, `echo_epoll`, `udpload`), compiled with gcc into bench/.bin
 * when missing or older than its source. Without the source, an earlier build
 * still serves, unless CAPSTAN_SHARED_BENCH names a place that lacks it: then
 * the setting is wrong, and running on a stale binary would hide that.
 */
export function cTool(name: 'tcpload' | 'echo_epoll' | 'udpload'): CTool {
  const bin = `${BIN}/${name}`;
  const shared = sharedBench();
  const src = `${shared.dir}/${name}.c`;
  if (!existsSync(src)) {
    if (existsSync(bin) && !shared.named) return { path: bin };
    const where = existsSync(shared.dir) ? `${shared.dir} is there but holds no ${name}.c` : `there is no directory ${shared.dir}`;
    const from = shared.named ? 'CAPSTAN_SHARED_BENCH' : 'the default, ../shared/bench next to this checkout';
    return { path: null, lacking: 'sources', problem: `${name} could not be built: ${src} was not found (${where}; the path is ${from}).\n${HOW_TO_FIX}` };
  }
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return { path: bin };
  mkdirSync(BIN, { recursive: true });
  const args = ['-O2', '-Wall', '-pthread', '-o', bin, src];
  const r = spawnSync('gcc', args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  if (r.error !== undefined) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'gcc is not installed (not found on PATH)' : `gcc did not run: ${r.error.message}`;
    return { path: null, lacking: 'compiler', problem: `${name} could not be built from ${src}: ${why}.\n  To fix: apt-get install gcc (Debian, Ubuntu), or put a C compiler named gcc on PATH.` };
  }
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').slice(-10).map((l) => `    ${l}`).join('\n');
    return {
      path: null,
      lacking: 'compiler',
      problem: `${name} could not be built: gcc ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${last}\n  To fix: correct ${src}, or point CAPSTAN_SHARED_BENCH at a good copy of the sources.`,
    };
  }
  // Warnings still reach the reader, as they did when gcc wrote to this terminal.
  if (r.stderr !== '') process.stderr.write(r.stderr);
  return { path: bin };
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
