/**
 * The systemd unit `capstan service install` writes, and writing it. It runs
 * `capstan serve` in the foreground (Type=exec, so systemd knows the server's
 * own pid and needs no PIDFile=), sends SIGHUP for `systemctl reload`, SIGTERM
 * for stop, and gives the drain its grace period before systemd kills.
 *
 * A config error exits 78 (EX_CONFIG), which the unit excludes from restarts:
 * restarting cannot fix a bad file, and a restart loop would hide the message.
 */
import { accessSync, constants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface UnitOptions {
  /** Unit name without `.service`. Default `capstan`. */
  name: string;
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of the capstan CLI script. */
  cli: string;
  /** Absolute config path; absent: the built-in default. */
  config?: string;
  /** Working directory. */
  workingDirectory: string;
  /** `--workers` passed to serve, if any. */
  workers?: string;
  /** User and group to run as (system units). */
  user?: string;
  group?: string;
  /** Drain time the server was configured with, ms; systemd waits this plus a margin. */
  graceMs: number;
  /** A per-user unit (`systemctl --user`): no User=, installed for the default target. */
  userUnit: boolean;
  /** File descriptor limit. Default 65536. */
  limitNofile?: number;
}

/** Quotes a word for an Exec line when it needs it (systemd's own quoting rules). */
function execWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `/tmp` and `/var/tmp`, which PrivateTmp=yes replaces with empty ones of the service's own. */
export function underPrivateTmp(path: string): boolean {
  return /^\/(var\/)?tmp(\/|$)/.test(path);
}

/** What in these options deserves a word before the unit is used (one line each, for stderr). */
export function unitWarnings(o: UnitOptions): string[] {
  const out: string[] = [];
  if (!o.userUnit && o.user === 'root') {
    out.push('the service would run as root (User=root): a bug in a plugin would own the machine; pass --run-as USER for an unprivileged user');
  }
  const tmp = (path: string) => (path.startsWith('/var/') ? '/var/tmp' : '/tmp');
  const hidden = `which the service cannot see (PrivateTmp=yes gives it an empty one of its own)`;
  if (o.config !== undefined && underPrivateTmp(o.config)) {
    out.push(`the config ${o.config} lies under ${tmp(o.config)}, ${hidden}; move it out, e.g. to /etc/capstan/`);
  } else if (underPrivateTmp(o.workingDirectory)) {
    // Without a config the working directory is where install ran; systemd cannot enter it.
    out.push(`the working directory ${o.workingDirectory} lies under ${tmp(o.workingDirectory)}, ${hidden}; run this from elsewhere, or pass --config`);
  }
  return out;
}

/** The unit file, with a comment for each warning and for what RuntimeDirectory= and PrivateTmp= mean here. */
export function renderUnit(o: UnitOptions): string {
  const args = [o.node, o.cli, 'serve', ...(o.config !== undefined ? ['--config', o.config] : []), ...(o.workers !== undefined ? ['--workers', o.workers] : [])];
  const stopSec = Math.ceil(o.graceMs / 1000) + 10;
  const runtime = o.userUnit ? `$XDG_RUNTIME_DIR/${o.name}` : `/run/${o.name}`;
  const lines = [
    '# Written by `capstan service install`. Edit the config file, not this unit;',
    '# `systemctl reload` re-reads it without dropping connections.',
    ...unitWarnings(o).map((w) => `# WARNING: ${w}`),
    '[Unit]',
    `Description=Capstan application server (${o.name})`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${args.map(execWord).join(' ')}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    `WorkingDirectory=${execWord(o.workingDirectory)}`,
    ...(o.userUnit ? [] : [`User=${o.user ?? 'capstan'}`, `Group=${o.group ?? o.user ?? 'capstan'}`]),
    'KillSignal=SIGTERM',
    // Workers get the stop from the primary; systemd signalling them too would be a second signal.
    'KillMode=mixed',
    `TimeoutStopSec=${stopSec}`,
    'Restart=on-failure',
    'RestartSec=2',
    'RestartPreventExitStatus=78 2',
    `LimitNOFILE=${o.limitNofile ?? 65536}`,
    `# ${runtime} is made for the service (owned by its user) at start and removed at stop:`,
    `# the place for Unix socket listeners (path: ${runtime}/capstan.sock).`,
    `RuntimeDirectory=${o.name}`,
    'NoNewPrivileges=yes',
    '# The service gets an empty /tmp and /var/tmp of its own: keep the config, certificates',
    '# and sockets elsewhere, or it will not find them.',
    'PrivateTmp=yes',
    'ProtectSystem=full',
    'Environment=NODE_ENV=production',
    '',
    '[Install]',
    `WantedBy=${o.userUnit ? 'default.target' : 'multi-user.target'}`,
    '',
  ];
  return lines.join('\n');
}

/** What to type next to start the service, once its unit is in place. */
export function nextSteps(name: string, userUnit: boolean): string {
  const ctl = userUnit ? 'systemctl --user' : 'sudo systemctl';
  return [
    'to start it now and at every boot:',
    `  ${ctl} daemon-reload`,
    `  ${ctl} enable --now ${name}`,
    'then:',
    `  ${ctl} status ${name}      # is it running?`,
    `  ${ctl} reload ${name}      # re-read the config (SIGHUP)`,
    `  journalctl ${userUnit ? '--user ' : ''}-u ${name} -f     # its logs`,
    '',
  ].join('\n');
}

/**
 * The directories that `dir` needs created, outermost first: the missing
 * tail of its path. Bounded by the path's depth.
 * @throws Error with a message for the user when the nearest existing ancestor is not a directory.
 */
export function missingDirectories(dir: string): string[] {
  const missing: string[] = [];
  // Each step is a shorter path, and `/` always exists: at most one step per path component.
  for (let at = dir; ; at = dirname(at)) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`cannot look at ${at}: ${whyNot(err, dirname(at))}`);
      missing.unshift(at);
      continue;
    }
    if (!isDir) throw new Error(`${at} is not a directory`);
    return missing;
  }
}

/**
 * Writes the unit as `dir/name.service`, creating missing directories one
 * level at a time. Fails at once, with a message for the user, where a
 * directory cannot be made or written (`mkdir -p` in Node 20 retries forever on
 * a virtual file system such as /proc, whose mkdir answers ENOENT under an
 * existing parent).
 * @returns the unit's path.
 */
export function installUnit(dir: string, name: string, unit: string): string {
  for (const d of missingDirectories(dir)) {
    try {
      mkdirSync(d);
    } catch (err) {
      throw new Error(`cannot create ${d}: ${whyNot(err, dirname(d))}`);
    }
  }
  const path = join(dir, `${name}.service`);
  try {
    writeFileSync(path, unit, { mode: 0o644 });
  } catch (err) {
    throw new Error(`cannot write ${path}: ${whyNot(err, dir)}`);
  }
  return path;
}

/** For a dry run: why writing into `dir` would fail, when that can be told without writing. */
export function unwritable(dir: string): string | undefined {
  let missing: string[];
  try {
    missing = missingDirectories(dir);
  } catch (err) {
    return (err as Error).message;
  }
  const existing = missing.length === 0 ? dir : dirname(missing[0] as string);
  try {
    accessSync(existing, constants.W_OK);
    return undefined;
  } catch (err) {
    return whyNot(err, existing);
  }
}

function whyNot(err: unknown, parent: string): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EACCES':
    case 'EPERM':
      return process.getuid?.() === 0
        ? `${parent} refuses it even to root (a protected or virtual file system?)`
        : `permission denied in ${parent} (run with sudo, or use --user for a per-user unit)`;
    case 'EROFS':
      return `${parent} is on a read-only file system`;
    case 'ENOENT':
      // The parent exists (it was just checked): this file system takes no new entries.
      return `${parent} takes no new entries (mkdir answers ENOENT there, as on a virtual file system such as /proc); choose another --unit-dir`;
    case 'ENOTDIR':
      return `${parent} is not a directory`;
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return (err as Error).message;
  }
}
