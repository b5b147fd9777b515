/**
 * `capstan reload` and `capstan stop`: signal a running `capstan serve` found
 * by its pidfile (see pidfile.ts), the server process itself rather than a
 * wrapper around it.
 *
 * | status | meaning                                                        |
 * |--------|----------------------------------------------------------------|
 * | 0      | reload: SIGHUP sent; stop: the server has exited               |
 * | 1      | no running server at that pidfile, or (stop) still running at  |
 * |        | the end of --timeout                                           |
 * | 2      | bad command line                                               |
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { usageError } from '../cli-args.js';
import { EXIT, help, parse } from './cli-common.js';
import { inspectPidfile, isRunning, removePidfile } from './pidfile.js';

const RELOAD_HELP = `usage: capstan reload --pidfile PATH

Sends SIGHUP to the server whose pid 'capstan serve --pidfile PATH' wrote: it
re-reads its config and certificates. The outcome ('reloaded', or 'reload
failed …' with the old config still running) is in the server's output and log.

options:
      --pidfile PATH     the server's pidfile
  -h, --help             print this help
`;

const STOP_HELP = `usage: capstan stop --pidfile PATH [--timeout S]

Sends SIGTERM to the server whose pid 'capstan serve --pidfile PATH' wrote, and
waits until it has exited: it stops accepting, drains its connections for up
to shutdown.graceMs, and removes the pidfile. Running stop again while it drains
is a second SIGTERM: the server then exits at once, without waiting.

options:
      --pidfile PATH     the server's pidfile
      --timeout S        seconds to wait for the exit (default 60)
  -h, --help             print this help
`;

/** How often `stop` looks whether the server has gone. */
const POLL_MS = 100;

/** `capstan reload --pidfile PATH`. */
export async function reload(argv: string[]): Promise<number> {
  const v = parse('reload', argv, { pidfile: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(RELOAD_HELP);
  const server = find('reload', v.pidfile);
  if ('exit' in server) return server.exit;
  const sent = signal('reload', server, 'SIGHUP');
  if (sent !== EXIT.ok) return sent;
  process.stdout.write(`capstan reload: sent SIGHUP to the server (pid ${server.pid}); it reports 'reloaded' or 'reload failed' in its output and log\n`);
  return EXIT.ok;
}

/** `capstan stop --pidfile PATH [--timeout S]`. */
export async function stop(argv: string[]): Promise<number> {
  const v = parse('stop', argv, { pidfile: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(STOP_HELP);
  const timeoutSec = typeof v.timeout === 'string' ? Number(v.timeout.replace(/s$/, '')) : 60;
  if (!(timeoutSec > 0 && timeoutSec <= 86_400)) return usageError('capstan stop', `--timeout takes a number of seconds from 0 to 86400, not ${JSON.stringify(v.timeout)}`);
  const server = find('stop', v.pidfile);
  if ('exit' in server) return server.exit;
  const { pid, path } = server;
  const sent = signal('stop', server, 'SIGTERM');
  if (sent !== EXIT.ok) return sent;
  const started = Date.now();
  const deadline = started + timeoutSec * 1000;
  // Bounded by the deadline: one look per POLL_MS.
  while (isRunning(pid)) {
    if (Date.now() >= deadline) {
      process.stderr.write(
        `capstan stop: pid ${pid} is still running after ${timeoutSec} s (draining connections? see its log); wait longer with --timeout, or run capstan stop again to stop it at once\n`,
      );
      return EXIT.failure;
    }
    await sleep(POLL_MS);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  // A server that was killed before it could clean up leaves its pidfile behind.
  const leftBehind = existsSync(path);
  if (leftBehind) removePidfile(path, pid);
  process.stdout.write(`capstan stop: the server (pid ${pid}) has exited after ${seconds} s${leftBehind && !existsSync(path) ? '; removed its pidfile' : ''}\n`);
  return EXIT.ok;
}

interface Found {
  pid: number;
  path: string;
}

/** The running server the pidfile names, or, after saying why there is none, the exit status. */
function find(command: string, pidfile: string | boolean | undefined): Found | { exit: number } {
  if (typeof pidfile !== 'string') return { exit: usageError(`capstan ${command}`, 'needs --pidfile PATH (the file capstan serve --pidfile PATH writes)') };
  const path = resolve(pidfile);
  const fail = (why: string) => {
    process.stderr.write(`capstan ${command}: ${why}\n`);
    return { exit: EXIT.failure };
  };
  let state: ReturnType<typeof inspectPidfile>;
  try {
    state = inspectPidfile(path);
  } catch (err) {
    return fail(`cannot read ${path}: ${(err as Error).message}`);
  }
  switch (state.kind) {
    case 'absent':
      return fail(`no pidfile at ${path}: is the server running, and was it started with --pidfile ${path}?`);
    case 'garbled':
      return fail(`${path} holds no pid (it begins ${JSON.stringify(state.text)}): is it the pidfile?`);
    case 'stale':
      return fail(`${path} names pid ${state.pid}, but ${state.why}: the server is not running (it was killed before it could remove the file)`);
    case 'live':
      return { pid: state.pid, path };
  }
}

function signal(command: string, server: Found, name: NodeJS.Signals): number {
  try {
    process.kill(server.pid, name);
    return EXIT.ok;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EPERM' ? 'not allowed (it runs as another user: use sudo, or that user)' : code === 'ESRCH' ? 'it has just exited' : (err as Error).message;
    process.stderr.write(`capstan ${command}: cannot send ${name} to pid ${server.pid}: ${why}\n`);
    return EXIT.failure;
  }
}
