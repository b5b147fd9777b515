/**
 * The systemd unit `capstan service install` writes. It runs `capstan serve`
 * in the foreground (Type=exec), sends SIGHUP for `systemctl reload`, SIGTERM
 * for stop, and gives the drain its grace period before systemd kills.
 *
 * A config error exits 78 (EX_CONFIG), which the unit excludes from restarts:
 * restarting cannot fix a bad file, and a restart loop would hide the message.
 */
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

export function renderUnit(o: UnitOptions): string {
  const args = [o.node, o.cli, 'serve', ...(o.config !== undefined ? ['--config', o.config] : []), ...(o.workers !== undefined ? ['--workers', o.workers] : [])];
  const stopSec = Math.ceil(o.graceMs / 1000) + 10;
  const lines = [
    '# Written by `capstan service install`. Edit the config file, not this unit;',
    '# `systemctl reload` re-reads it without dropping connections.',
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
    'NoNewPrivileges=yes',
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

/** What to type next, printed after the unit is written. */
export function enableInstructions(name: string, path: string, userUnit: boolean): string {
  const ctl = userUnit ? 'systemctl --user' : 'sudo systemctl';
  return [
    `wrote ${path}`,
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
