/**
 * The application server's commands: `capstan serve`, `capstan check` and
 * `capstan service`. Each takes its arguments (after the command name) and
 * resolves with the process exit status:
 *
 * | status | meaning                                             |
 * |--------|-----------------------------------------------------|
 * | 0      | done (serve: stopped by a signal after draining)    |
 * | 1      | failed at run time (cannot bind, plugin setup …)    |
 * | 2      | bad command line                                    |
 * | 78     | bad config (EX_CONFIG): nothing was started         |
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isCapstanError } from '../errors.js';
import { loadConfig } from './config/load.js';
import type { Overrides } from './config/resolve.js';
import { LOG_LEVELS, type LogLevel } from './config/schema.js';
import { EXIT, reportStartError, runServe } from './serve.js';
import { enableInstructions, renderUnit } from './systemd.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  config: { type: 'string', short: 'c' },
  workers: { type: 'string', short: 'w' },
  'port-offset': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const SERVE_HELP = `usage: capstan serve [options]

Runs the application server. Without --config it serves the built-in default:
length-prefixed echo on 127.0.0.1:7000, line echo on 7001, TLS echo on 7443
(self-signed certificate), WebSocket echo on 7080 and the admin endpoint on 9100.

options:
  -c, --config FILE      config file (YAML or JSON); see docs/server.md
  -w, --workers N|auto   worker processes, overriding the config (1 = one process)
      --log-level LEVEL  ${LOG_LEVELS.join(', ')} (overrides logging.level)
      --port-offset N    add N to every non-zero port (run a second copy beside the first)
  -v, --version          print the version
  -h, --help             print this help

signals: SIGTERM/SIGINT drain and stop (a second one stops at once);
SIGHUP re-reads the config and certificates.
exit status: 0 stopped cleanly, 1 run-time failure, 2 bad usage, 78 bad config.
`;

const CHECK_HELP = `usage: capstan check [options]

Checks a config the way serve would (schema, plugins and their options, codecs,
certificate files), binds nothing, and exits: 0 when it is good, 78 when not.

options:
  -c, --config FILE      config file to check (default: the built-in default)
  -w, --workers N|auto   check with this --workers override
      --port-offset N    check with this --port-offset
  -q, --quiet            print nothing when the config is good
  -h, --help             print this help
`;

const SERVICE_HELP = `usage: capstan service install|print [options]

Writes (install) or prints (print) a systemd unit that runs 'capstan serve'.
The config is checked first.

options:
  -c, --config FILE      config file the service runs (made absolute)
  -w, --workers N|auto   --workers for the service
      --name NAME        unit name (default capstan)
      --user             a per-user unit (systemctl --user), in ~/.config/systemd/user
      --run-as USER      user a system unit runs as (default: the user invoking sudo, else you)
      --unit-dir DIR     where to write the unit (default /etc/systemd/system, or the user dir)
  -h, --help             print this help
`;

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Parses argv; a bad command line prints the problem and the help and yields `null`. */
function parse(argv: string[], options: Options, help: string): Record<string, string | boolean | undefined> | null {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    (values as Record<string, unknown>)._ = positionals.join(' ');
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    process.stderr.write(`capstan: ${(err as Error).message}\n\n${help}`);
    return null;
  }
}

/** Turns the shared flags into config overrides; null (after printing why) when one is malformed. */
function overridesFrom(v: Record<string, string | boolean | undefined>, help: string): Overrides | null {
  const o: Overrides = {};
  const bad = (msg: string) => {
    process.stderr.write(`capstan: ${msg}\n\n${help}`);
    return null;
  };
  if (typeof v.workers === 'string') {
    if (v.workers === 'auto') o.workers = 'auto';
    else if (/^[1-9][0-9]{0,2}$/.test(v.workers) && Number(v.workers) <= 256) o.workers = Number(v.workers);
    else return bad(`--workers takes auto or a number from 1 to 256, not ${JSON.stringify(v.workers)}`);
  }
  if (typeof v['port-offset'] === 'string') {
    if (!/^-?[0-9]{1,5}$/.test(v['port-offset'])) return bad(`--port-offset takes a whole number, not ${JSON.stringify(v['port-offset'])}`);
    o.portOffset = Number(v['port-offset']);
  }
  if (typeof v['log-level'] === 'string') {
    if (!(LOG_LEVELS as readonly string[]).includes(v['log-level'])) return bad(`--log-level takes one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(v['log-level'])}`);
    o.logLevel = v['log-level'] as LogLevel;
  }
  return o;
}

function unexpected(v: Record<string, unknown>, help: string): boolean {
  if (v._ === '') return false;
  process.stderr.write(`capstan: unexpected argument ${JSON.stringify(v._)}\n\n${help}`);
  return true;
}

/** `capstan serve`. Resolves when the server has stopped. */
export async function serve(argv: string[]): Promise<number> {
  const v = parse(argv, { ...COMMON, 'log-level': { type: 'string' }, version: { type: 'boolean', short: 'v' } }, SERVE_HELP);
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(SERVE_HELP);
  if (v.version === true) return help(`${readVersion()}\n`);
  if (unexpected(v, SERVE_HELP)) return EXIT.usage;
  const overrides = overridesFrom(v, SERVE_HELP);
  if (overrides === null) return EXIT.usage;
  return runServe({
    ...(typeof v.config === 'string' ? { config: v.config } : {}),
    overrides,
    out: process.stdout,
    err: process.stderr,
    version: readVersion(),
  });
}

/** `capstan check`: 0 when the config is good, 78 when it is not. */
export async function check(argv: string[]): Promise<number> {
  const v = parse(argv, { ...COMMON, quiet: { type: 'boolean', short: 'q' } }, CHECK_HELP);
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(CHECK_HELP);
  if (unexpected(v, CHECK_HELP)) return EXIT.usage;
  const overrides = overridesFrom(v, CHECK_HELP);
  if (overrides === null) return EXIT.usage;
  try {
    const config = await loadConfig(typeof v.config === 'string' ? v.config : undefined, overrides);
    if (v.quiet !== true) {
      const lines = config.listeners.map((l) => {
        const where = l.transport === 'unix' ? l.path : `${l.host}:${l.port}`;
        const serves =
          l.websocket !== undefined
            ? `websocket ${l.websocket.endpoints.map((e) => `${String(e.settings.path)} plugin ${e.plugin.ref}`).join(', ')}`
            : `codec ${l.codec?.name ?? '(the plugin’s, or raw)'}, plugin ${l.plugin?.ref}`;
        return `  ${l.name}: ${l.transport} ${where}, ${serves}`;
      });
      const admin = config.admin === null ? 'off' : `${config.admin.host}:${config.admin.port}`;
      process.stdout.write(`${config.file}: ok\n${lines.join('\n')}\n  admin: ${admin}; workers: ${config.workers}\n`);
    }
    return EXIT.ok;
  } catch (err) {
    return reportStartError(process.stderr, err, true);
  }
}

/** `capstan service install|print`. */
export async function service(argv: string[]): Promise<number> {
  const v = parse(
    argv,
    { ...COMMON, name: { type: 'string' }, user: { type: 'boolean' }, 'run-as': { type: 'string' }, 'unit-dir': { type: 'string' } },
    SERVICE_HELP,
  );
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(SERVICE_HELP);
  const action = v._;
  if (action !== 'install' && action !== 'print') {
    process.stderr.write(`capstan: service needs install or print${action === '' ? '' : `, not ${JSON.stringify(action)}`}\n\n${SERVICE_HELP}`);
    return EXIT.usage;
  }
  const overrides = overridesFrom(v, SERVICE_HELP);
  if (overrides === null) return EXIT.usage;
  const name = typeof v.name === 'string' ? v.name : 'capstan';
  if (!/^[A-Za-z0-9_.@-]+$/.test(name)) {
    process.stderr.write(`capstan: --name ${JSON.stringify(name)} is not a valid unit name (letters, digits, _ . @ -)\n`);
    return EXIT.usage;
  }
  const configFile = typeof v.config === 'string' ? resolve(v.config) : undefined;
  let graceMs: number;
  try {
    graceMs = (await loadConfig(configFile, overrides)).shutdown.graceMs;
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    return reportStartError(process.stderr, err, true);
  }
  const userUnit = v.user === true;
  const unit = renderUnit({
    name,
    node: process.execPath,
    cli: fileURLToPath(new URL('../cli.js', import.meta.url)),
    ...(configFile !== undefined ? { config: configFile } : {}),
    ...(typeof v.workers === 'string' ? { workers: v.workers } : {}),
    workingDirectory: configFile !== undefined ? resolve(configFile, '..') : process.cwd(),
    ...(userUnit ? {} : { user: typeof v['run-as'] === 'string' ? v['run-as'] : (process.env.SUDO_USER ?? userInfo().username) }),
    graceMs,
    userUnit,
  });
  if (action === 'print') {
    process.stdout.write(unit);
    return EXIT.ok;
  }
  const dir = typeof v['unit-dir'] === 'string' ? resolve(v['unit-dir']) : userUnit ? join(homedir(), '.config/systemd/user') : '/etc/systemd/system';
  const path = join(dir, `${name}.service`);
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    writeFileSync(path, unit, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EPERM' ? ' (permission denied: run with sudo, or use --user for a per-user unit)' : '';
    process.stderr.write(`capstan: cannot write ${path}: ${(err as Error).message}${hint}\n`);
    return EXIT.failure;
  }
  process.stdout.write(enableInstructions(name, path, userUnit));
  return EXIT.ok;
}

function help(text: string): number {
  process.stdout.write(text);
  return EXIT.ok;
}
