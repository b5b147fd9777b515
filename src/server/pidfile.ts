/**
 * The pidfile `capstan serve --pidfile PATH` keeps, and finding the server by
 * it for `capstan reload` and `capstan stop`. It holds the pid of the server
 * process itself (the primary, with workers), so a signal reaches the server
 * and not a wrapper such as `npm start`, which dies of SIGHUP and leaves the
 * server running without a parent.
 *
 * ```
 * serve start ─► PATH names a live `capstan serve`? ─► refuse (exit 1)
 *                PATH names nothing running        ─► stale: replaced
 * listening   ─► write PATH.<pid>.tmp, rename to PATH (readers never see half a file)
 * exit        ─► remove PATH, if it still names this process
 * ```
 */
import { accessSync, constants, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What a pidfile says, checked against the running processes. */
export type PidfileState =
  | { readonly kind: 'absent' }
  /** A file that is not a pidfile (it may be something else entirely: never overwrite it). */
  | { readonly kind: 'garbled'; readonly text: string }
  | { readonly kind: 'stale'; readonly pid: number; readonly why: string }
  | { readonly kind: 'live'; readonly pid: number };

/** Reads the pidfile at `path` and tells whether it names a running capstan server. */
export function inspectPidfile(path: string): PidfileState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  const m = /^\s*([1-9][0-9]{0,9})\s*$/.exec(text);
  if (m === null) return { kind: 'garbled', text: text.slice(0, 40) };
  const pid = Number(m[1]);
  // In a container the server is often pid 1 at every start: its own pid in the file is the last run's.
  if (pid === process.pid) return { kind: 'stale', pid, why: 'it is this process' };
  if (!isRunning(pid)) return { kind: 'stale', pid, why: 'no such process is running' };
  if (isServer(pid) === false) return { kind: 'stale', pid, why: 'that pid now belongs to another program' };
  return { kind: 'live', pid };
}

/** True while `pid` is a process that has not exited (a zombie has). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie (exited, not yet reaped by its parent) still takes signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch (err) {
    // ENOENT: it exited since; otherwise there is no /proc to ask (not Linux) and the signal test stands.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * Whether `pid` runs `capstan serve` (its command line has a `serve`
 * argument), so a pid reused by another program after a crash is never
 * signalled. `undefined` where the command line cannot be read.
 */
function isServer(pid: number): boolean | undefined {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  return cmdline.split('\0').includes('serve');
}

/**
 * Checks, before anything starts, that the pidfile can be written later.
 * @returns why not, or `undefined`.
 */
export function pidfileUnwritable(path: string): string | undefined {
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `the directory ${dir} does not exist` : code === 'EACCES' || code === 'EROFS' ? `${dir} is not writable` : (err as Error).message;
  }
  return undefined;
}

/** Writes `pid` to `path` atomically: a reader sees the old file or the whole new one. */
export function writePidfile(path: string, pid: number = process.pid): void {
  const temporary = `${path}.${pid}.tmp`;
  try {
    writeFileSync(temporary, `${pid}\n`, { mode: 0o644 });
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

/** Removes the pidfile if it still names `pid` (a newer server's file is left alone). */
export function removePidfile(path: string, pid: number = process.pid): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(pid)) rmSync(path, { force: true });
  } catch {
    // Already gone, or unreadable: nothing of ours to remove.
  }
}

/** Before `serve` starts: why it must not (a live server's pidfile, a file that is no pidfile, a directory it cannot write), and a stale file it will replace. */
export function checkPidfile(path: string): { refusal?: string; stale?: { pid: number; why: string } } {
  let state: PidfileState;
  try {
    state = inspectPidfile(path);
  } catch (err) {
    return { refusal: `cannot read the pidfile ${path}: ${(err as Error).message}` };
  }
  if (state.kind === 'live') {
    return { refusal: `${path} names pid ${state.pid}, a capstan server that is still running; stop it first (capstan stop --pidfile ${path}) or choose another --pidfile` };
  }
  if (state.kind === 'garbled') {
    return { refusal: `${path} exists and holds no pid (it begins ${JSON.stringify(state.text)}); remove it or choose another --pidfile` };
  }
  const unwritable = pidfileUnwritable(path);
  if (unwritable !== undefined) return { refusal: `cannot write the pidfile ${path}: ${unwritable}` };
  return state.kind === 'stale' ? { stale: { pid: state.pid, why: state.why } } : {};
}
