#!/usr/bin/env node
/**
 * The `capstan` command: dispatches to the subcommand's module, loaded on
 * demand so `capstan load` does not pay for the application server.
 */
import { readFileSync } from 'node:fs';
import { didYouMean } from './suggest.js';

type Main = (argv: string[]) => Promise<number>;

/** Loads `export name` from a sibling module (paths kept dynamic so each command's code loads only when used). */
async function entry(module: string, name: string): Promise<Main> {
  const mod = (await import(new URL(module, import.meta.url).href)) as Record<string, Main>;
  const main = mod[name];
  if (typeof main !== 'function') throw new Error(`internal: ${module} has no ${name}()`);
  return main;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Main> }> = {
  serve: { summary: 'run the application server (default config when none is given)', load: () => entry('./server/cli.js', 'serve') },
  check: { summary: 'validate a config file and exit', load: () => entry('./server/cli.js', 'check') },
  load: { summary: 'generate load against a server and measure it', load: () => entry('./load/cli.js', 'main') },
  stats: { summary: "show a running server's counters", load: () => entry('./metrics/stats-cli.js', 'main') },
  reload: { summary: 'make a running server re-read its config (by its --pidfile)', load: () => entry('./server/control.js', 'reload') },
  stop: { summary: 'stop a running server and wait until it has exited (by its --pidfile)', load: () => entry('./server/control.js', 'stop') },
  service: { summary: 'install the server as a systemd service', load: () => entry('./server/service-cli.js', 'service') },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: capstan <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'capstan <command> --help' for a command's options.\n`;
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage());
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const entry = COMMANDS[command];
  if (entry === undefined) {
    const hint = didYouMean(command, Object.keys(COMMANDS)).trimEnd();
    process.stderr.write(`capstan: unknown command ${JSON.stringify(command)}${hint === '' ? '' : ` (${hint})`}\nRun "capstan --help" for the commands.\n`);
    return 2;
  }
  const main = await entry.load();
  return main(rest);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`capstan: ${e.code !== undefined ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
