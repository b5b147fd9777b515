/**
 * `capstan service install|print`: the systemd unit that runs `capstan serve`
 * (see systemd.ts for what is in it).
 */
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usageError } from '../cli-args.js';
import { isCapstanError } from '../errors.js';
import { COMMON, EXIT, help, overridesFrom, parse } from './cli-common.js';
import { loadConfig } from './config/load.js';
import { reportStartError } from './serve.js';
import { installUnit, missingDirectories, nextSteps, renderUnit, unitWarnings, unwritable, type UnitOptions } from './systemd.js';

const SERVICE_HELP = `usage: capstan service install|print [options]

Writes (install) or prints (print) a systemd unit that runs 'capstan serve'.
The config is checked first. Warns when the service would run as root, or
when its config is under /tmp (the unit's PrivateTmp=yes hides it).

options:
  -c, --config FILE      config file the service runs (made absolute)
  -w, --workers N|auto   --workers for the service
      --name NAME        unit name (default capstan)
      --user             a per-user unit (systemctl --user), in ~/.config/systemd/user
      --run-as USER      user a system unit runs as (default: the user invoking sudo, else you)
      --unit-dir DIR     where to write the unit (default /etc/systemd/system, or the user dir)
      --dry-run          install: print the unit, where it would go and what to run next;
                         write nothing
  -h, --help             print this help
`;

/** `capstan service install|print`. */
export async function service(argv: string[]): Promise<number> {
  const v = parse(
    'service',
    argv,
    { ...COMMON, name: { type: 'string' }, user: { type: 'boolean' }, 'run-as': { type: 'string' }, 'unit-dir': { type: 'string' }, 'dry-run': { type: 'boolean' } },
    true,
  );
  if (v === null) return EXIT.usage;
  if (v.help === true) return help(SERVICE_HELP);
  const action = v._;
  if (action !== 'install' && action !== 'print') {
    return usageError('capstan service', `needs install or print${action === '' ? '' : `, not ${JSON.stringify(action)}`}`);
  }
  const overrides = overridesFrom('service', v);
  if (overrides === null) return EXIT.usage;
  const name = typeof v.name === 'string' ? v.name : 'capstan';
  if (!/^[A-Za-z0-9_.@-]+$/.test(name)) return usageError('capstan service', `--name ${JSON.stringify(name)} is not a valid unit name (letters, digits, _ . @ -)`);
  const configFile = typeof v.config === 'string' ? resolve(v.config) : undefined;
  let graceMs: number;
  try {
    graceMs = (await loadConfig(configFile, overrides)).shutdown.graceMs;
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    return reportStartError(process.stderr, err, true);
  }
  const userUnit = v.user === true;
  const options: UnitOptions = {
    name,
    node: process.execPath,
    cli: fileURLToPath(new URL('../cli.js', import.meta.url)),
    ...(configFile !== undefined ? { config: configFile } : {}),
    ...(typeof v.workers === 'string' ? { workers: v.workers } : {}),
    workingDirectory: configFile !== undefined ? resolve(configFile, '..') : process.cwd(),
    ...(userUnit ? {} : { user: typeof v['run-as'] === 'string' ? v['run-as'] : (process.env.SUDO_USER ?? userInfo().username) }),
    graceMs,
    userUnit,
  };
  for (const w of unitWarnings(options)) process.stderr.write(`capstan service: warning: ${w}\n`);
  const unit = renderUnit(options);
  if (action === 'print') {
    process.stdout.write(unit);
    return EXIT.ok;
  }
  const dir = typeof v['unit-dir'] === 'string' ? resolve(v['unit-dir']) : userUnit ? join(homedir(), '.config/systemd/user') : '/etc/systemd/system';
  if (v['dry-run'] === true) return dryRun(dir, options, unit);
  let path: string;
  try {
    path = installUnit(dir, name, unit);
  } catch (err) {
    process.stderr.write(`capstan service: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  process.stdout.write(`wrote ${path}\n${nextSteps(name, userUnit)}`);
  return EXIT.ok;
}

/** `install --dry-run`: what install would do, doing none of it. */
function dryRun(dir: string, o: UnitOptions, unit: string): number {
  const out: string[] = ['dry run: nothing is written and systemctl is not run'];
  let missing: string[] = [];
  try {
    missing = missingDirectories(dir);
  } catch {
    // unwritable() below says why.
  }
  for (const d of missing) out.push(`would create the directory ${d}`);
  const path = join(dir, `${o.name}.service`);
  out.push(`would write ${path} (mode 0644):`, '', unit);
  process.stdout.write(`${out.join('\n')}\n${nextSteps(o.name, o.userUnit)}`);
  const why = unwritable(dir);
  if (why === undefined) return EXIT.ok;
  process.stderr.write(`capstan service: the install would fail: ${why}\n`);
  return EXIT.failure;
}
