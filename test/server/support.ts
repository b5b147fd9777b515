/**
 * Running the real `capstan` CLI in tests: spawn it, read what it prints,
 * signal it, and make sure it is gone when the test ends.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { lp4 } from '../support/net.js';
import { udpPortIsFree } from '../support/udp.js';

/** The compiled CLI (tests run from dist/test/server). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export interface ListenerLine {
  name: string;
  transport: string;
  host: string;
  port: number;
  /** Unix socket path, for transport unix. */
  path?: string;
}

export interface CliRun {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Lines printed on stdout so far. */
  readonly out: string[];
  /** Lines printed on stderr so far (JSON log lines and error messages). */
  readonly err: string[];
  /** Resolves with the exit status (or signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line (from line `from` on) matching `re`. */
  waitForOut(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Resolves with the first log record (from stderr) matching `pred`. */
  waitForLog(pred: (rec: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The JSON log records printed so far. */
  logs(): Record<string, unknown>[];
  /** Listeners as printed at start (`listening <name> <transport> <address> …`). */
  listeners(from?: number): Map<string, ListenerLine>;
  /** The admin endpoint's base URL, if printed. */
  adminUrl(): string | undefined;
  /** Kills the process if it is still running (for teardown). */
  kill(): Promise<void>;
}

/** Spawns `node dist/src/cli.js <args>`. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliRun {
  return runNode([CLI, ...args], options);
}

/** Spawns `node <args>` (a script of the test's own, run like the CLI). */
export function runNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliRun {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const out: string[] = [];
  const err: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream | null, into: string[]) => {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      into.push(...parts);
      for (const w of waiters) w();
    });
    // Output that does not end in a newline (a client printing a bare reply) is a line too.
    stream?.on('end', () => {
      if (partial !== '') into.push(partial);
      partial = '';
    });
  };
  collect(child.stdout, out);
  collect(child.stderr, err);
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      // Let the last output arrive before waiters give up; mark the exit before waking them.
      setImmediate(() => {
        hasExited = true;
        resolve({ code, signal });
        for (const w of waiters) w();
      });
    }),
  );

  const waitUntil = <T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (hasExited) {
          done();
          reject(new Error(`the process exited before ${what}\nstdout:\n${out.join('\n')}\nstderr:\n${err.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}\nstdout:\n${out.join('\n')}\nstderr:\n${err.slice(-30).join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const logs = () =>
    err.flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  return {
    child,
    pid: child.pid as number,
    out,
    err,
    exited,
    waitForOut: (re, timeoutMs = 30_000, from = 0) => waitUntil(() => out.slice(from).find((l) => re.test(l)), `a line matching ${re}`, timeoutMs),
    waitForLog: (pred, timeoutMs = 30_000) => waitUntil(() => logs().find(pred), 'a log record', timeoutMs),
    logs,
    listeners(from = 0) {
      const map = new Map<string, ListenerLine>();
      for (const line of out.slice(from)) {
        const m = /^listening (\S+) (\S+) (\S+)/.exec(line);
        if (m === null) continue;
        const [, name = '', transport = '', address = ''] = m;
        if (transport === 'unix') {
          map.set(name, { name, transport, host: '', port: 0, path: address });
          continue;
        }
        const at = address.lastIndexOf(':');
        map.set(name, { name, transport, host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) });
      }
      return map;
    },
    adminUrl: () => out.map((l) => /^admin (http:\/\/\S+)/.exec(l)?.[1]).find((u) => u !== undefined),
    async kill() {
      if (!hasExited) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** What a finished CLI run printed, as text. */
export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the CLI to completion; a run still going after `timeoutMs` is killed
 * (its `code` is then null, which fails any test expecting an exit status).
 */
export async function runToEnd(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const run = runCli(args, options);
  const timer = setTimeout(() => void run.kill(), options.timeoutMs ?? 60_000);
  const { code } = await run.exited;
  clearTimeout(timer);
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join('');
  return { code, out: text(run.out), err: text(run.err) };
}

/** Spawns `capstan serve <args>` and waits until it printed `ready`. */
export async function startServe(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const run = runCli(['serve', ...args], options);
  try {
    await run.waitForOut(/^ready$/, 60_000);
  } catch (err) {
    await run.kill();
    throw err;
  }
  return run;
}

/** A fresh temporary directory, removed by `cleanup`. */
export function tempDir(prefix = 'capstan-server-'): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      return path;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** True when nothing listens on 127.0.0.1:`port` and we may bind it. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** The ports of the built-in default config: lp4 echo, line echo, UDP echo, TLS echo, WebSocket echo, admin. */
export const DEFAULT_PORTS = [7000, 7001, 7002, 7443, 7080, 9100] as const;

/** Of `ports` shifted by `offset`, those taken for TCP or for UDP (the default config binds 7002 for UDP, the rest for TCP; both are checked for all). */
export async function defaultPortsFree(offset: number, ports: readonly number[] = DEFAULT_PORTS): Promise<number[]> {
  const free = await Promise.all(ports.map(async (p) => (await portIsFree(p + offset)) && (await udpPortIsFree(p + offset))));
  return ports.filter((_, i) => !free[i]).map((p) => p + offset);
}

/**
 * An offset that moves every one of `ports` onto a free port (dev machines often run something on
 * 7000 or 9100, and other tests run beside this one).
 */
export async function freePortOffset(ports: readonly number[] = DEFAULT_PORTS): Promise<number> {
  for (let attempt = 0; attempt < 40; attempt++) {
    // Below the ephemeral range (32768+), where other tests' client sockets cannot take the ports meanwhile.
    const offset = 1_000 + Math.floor(Math.random() * 20_000);
    if ((await defaultPortsFree(offset, ports)).length === 0) return offset;
  }
  throw new Error(`no free port offset found for ${ports.join(', ')}`);
}

/** `capstan serve <args>` on the default config's ports shifted by a free offset; tries again when another program takes a port first. */
export async function startServeShifted(args: string[] = []): Promise<{ run: CliRun; offset: number }> {
  for (let attempt = 0; ; attempt++) {
    const offset = await freePortOffset();
    try {
      return { run: await startServe([...args, '--port-offset', String(offset)]), offset };
    } catch (err) {
      if (attempt >= 3 || !/address is in use/.test(String(err))) throw err;
    }
  }
}

/** Reads length-prefixed (4-byte BE) frames from a byte stream. */
export function lp4Frames(buf: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const n = buf.readUInt32BE(at);
    if (at + 4 + n > buf.length) break;
    frames.push(buf.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return frames;
}

/** A TLS client of an lp4 echo listener. */
export interface TlsPeer {
  readonly socket: tls.TLSSocket;
  /** The common name of the certificate the server presented. */
  readonly subject: string | undefined;
  /** True once the server ended or reset the connection. */
  readonly ended: boolean;
  /** Sends one lp4 frame and resolves with the first frame that comes back. */
  roundTrip(text: string): Promise<string>;
}

/** Connects over TLS to 127.0.0.1:`port` without verifying the certificate (tests use throwaway ones). */
export async function tlsPeer(port: number, host = '127.0.0.1'): Promise<TlsPeer> {
  const socket = tls.connect({ host, port, rejectUnauthorized: false });
  let received = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    wake?.();
  });
  const end = () => {
    ended = true;
    wake?.();
  };
  socket.on('end', end);
  socket.on('error', end);
  await once(socket, 'secureConnect');
  const cn = socket.getPeerCertificate().subject?.CN;
  return {
    socket,
    subject: Array.isArray(cn) ? cn[0] : cn,
    get ended() {
      return ended;
    },
    async roundTrip(text) {
      const from = received.length;
      const want = from + 4 + Buffer.byteLength(text);
      socket.write(lp4(text));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(text)} within 30 s`)), 30_000);
        wake = () => {
          if (received.length < want && !ended) return;
          clearTimeout(timer);
          wake = null;
          resolve();
        };
        wake();
      });
      return lp4Frames(received.subarray(from))[0]?.toString() ?? '';
    },
  };
}

/** Leaves a Unix socket file at `path` that no server answers on, as a server killed with SIGKILL does. */
export function staleSocket(path: string): void {
  const bindAndDie = "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))";
  const r = spawnSync(process.execPath, ['-e', bindAndDie, path], { timeout: 10_000 });
  if (r.signal !== 'SIGKILL') throw new Error(`could not leave a stale socket at ${path}: ${r.stderr.toString()}`);
}

/** Sends SIGHUP and resolves with the reload's outcome line (`reloaded` or `reload failed …`) and where its output starts. */
export async function hangUp(run: CliRun): Promise<{ line: string; from: number }> {
  const from = run.out.length;
  run.child.kill('SIGHUP');
  const line = await run.waitForOut(/^reload(ed| failed)/, 30_000, from);
  return { line, from };
}

/** Kills worker `id` (the first process to start under that id) and waits for the primary to report its replacement started. */
export async function replaceWorker(run: CliRun, id: string): Promise<void> {
  const ready = await run.waitForLog((r) => r.workerId === id && /ready/.test(String(r.msg)));
  process.kill(ready.workerPid as number, 'SIGKILL');
  const outcome = await run.waitForLog((r) => r.workerId === id && (r.msg === `worker ${id} replaced` || /^replacement worker/.test(String(r.msg))));
  assert.equal(outcome.msg, `worker ${id} replaced`, `the replacement worker started (${String(outcome.message ?? '')})`);
}

/** A port on 127.0.0.1 that something else holds until `release`. */
export async function occupiedPort(): Promise<{ port: number; release(): Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  return {
    port: (blocker.address() as net.AddressInfo).port,
    release: () => new Promise<void>((resolve) => blocker.close(() => resolve())),
  };
}

/** A schema error, a duplicate name, an unknown codec and two missing certificate files. */
export const MIXED_PROBLEMS = [
  'listeners:',
  '  - name: a',
  '    port: 7000',
  '    plugin: echo',
  '    limits: { idleTimeoutMs: soon }',
  '  - name: a',
  '    port: 7001',
  '    plugin: echo',
  '    codec: lp5',
  '  - name: t',
  '    transport: tls',
  '    port: 7443',
  '    plugin: echo',
  '    tls: { certFile: missing.pem,',
  '           keyFile: missing.key }',
].join('\n');
