/**
 * The application server's commands: `capstan serve` and `capstan check`
 * (`capstan service` is in service-cli.ts, `reload` and `stop` in
 * control.ts). Each takes its arguments (after the command name) and
 * resolves with the process exit status:
 *
 * | status | meaning                                             |
 * |--------|-----------------------------------------------------|
 * | 0      | done (serve: stopped by a signal after draining)    |
 * | 1      | failed at run time (cannot bind, plugin setup …)    |
 * | 2      | bad command line                                    |
 * | 78     | bad config (EX_CONFIG): nothing was started         |
 */
import { resolve } from 'node:path';
import { COMMON, EXIT, help, overridesFrom, parse, readVersion } from './cli-common.js';
import { loadConfig } from './config/load.js';
import { LOG_LEVELS } from './config/schema.js';
import { reportStartError, runServe } from './serve.js';

const SERVE_HELP = `usage: capstan serve [options]

Runs the application server. Without --config it serves the built-in default:
length-prefixed echo on 127.0.0.1:7000, line echo on 7001, TLS echo on 7443
(self-signed certificate), UDP echo on 7002, WebSocket echo on 7080 and the admin
endpoint on 9100.

options:
  -c, --config FILE      config file (YAML or JSON); see docs/server.md
  -w, --workers N|auto   worker processes, overriding the config (1 = one process)
      --log-level LEVEL  ${LOG_LEVELS.join(', ')} (overrides logging.level)
      --port-offset N    add N to every non-zero port (run a second copy beside the first)
      --pidfile PATH     write the server's pid to PATH once listening (removed on exit),
                         for 'capstan reload' and 'capstan stop'; refuses to start while
                         PATH names a running server
  -v, --version          print the version
  -h, --help             print this help

signals: SIGTERM/SIGINT drain and stop (a second one stops at once);
SIGHUP re-reads the config and certificates. Signal the server itself, not a
wrapper such as 'npm start' (npm dies of SIGHUP and leaves the server behind):
capstan reload/stop --pidfile PATH do that.
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

/** `capstan serve`. Resolves when the server has stopped. */
export async function serve(argv: string[]): Promise<number> {
  const v = parse('serve', argv, { ...COMMON, 'log-level': { type: 'string' }, pidfile: { type: 'string' }, version: { type: 'boolean', short: 'v' } });
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(SERVE_HELP);
  if (v.version === true) return help(`${readVersion()}\n`);
  const overrides = overridesFrom('serve', v);
  if (overrides === null) return EXIT.usage;
  return runServe({
    ...(typeof v.config === 'string' ? { config: v.config } : {}),
    ...(typeof v.pidfile === 'string' ? { pidfile: resolve(v.pidfile) } : {}),
    overrides,
    out: process.stdout,
    err: process.stderr,
    version: readVersion(),
  });
}

/** `capstan check`: 0 when the config is good, 78 when it is not. */
export async function check(argv: string[]): Promise<number> {
  const v = parse('check', argv, { ...COMMON, quiet: { type: 'boolean', short: 'q' } });
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(CHECK_HELP);
  const overrides = overridesFrom('check', v);
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

