/** Runs a compiled example as a child process and reads what it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export interface RunningExample {
  child: ChildProcess;
  /** Everything printed to stdout so far. */
  stdout(): string;
  /** Everything printed to stderr so far. */
  stderr(): string;
  /** Resolves with the first stdout match of `pattern`, failing after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** Ends the process: SIGTERM, then SIGKILL if it is still there after half a minute. */
  stop(): Promise<void>;
}

/** Starts `node dist/examples/<name>.js ...args`. */
export function runExample(name: string, args: readonly string[] = []): RunningExample {
  const file = fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let listeners: Array<() => void> = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        let settled = false;
        const check = () => {
          const m = pattern.exec(out);
          if (m === null || settled) return;
          settled = true;
          clearTimeout(timer);
          listeners = listeners.filter((l) => l !== check);
          resolve(m);
        };
        const timer = setTimeout(() => {
          settled = true;
          listeners = listeners.filter((l) => l !== check);
          reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms; stdout: ${out} stderr: ${err}`));
        }, timeoutMs);
        listeners.push(check);
        void exited.then((code) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code}) before printing ${pattern}; stdout: ${out} stderr: ${err}`));
        });
        check();
      });
    },
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      // Only a hung process waits this long; a tight limit would turn a slow but clean exit (which
      // metrics-echo checks) into a SIGKILL on a loaded machine.
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts a server example on a free port and returns it with the port it printed. */
export async function startServer(name: string, extraArgs: readonly string[] = []): Promise<{ example: RunningExample; port: number; line: string }> {
  const example = runExample(name, ['0', ...extraArgs]);
  try {
    const m = await example.waitFor(/listening on [^\s]+:(\d+).*\n/);
    return { example, port: Number(m[1]), line: m[0] };
  } catch (err) {
    await example.stop();
    throw err;
  }
}

/**
 * Starts a server example before the tests of the enclosing suite and stops it
 * after them; returns a getter for its port.
 */
export function serveExampleForSuite(name: string): () => number {
  let example: RunningExample | undefined;
  let port = 0;
  before(async () => ({ example, port } = await startServer(name)));
  after(() => example?.stop());
  return () => port;
}
