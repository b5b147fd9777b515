/**
 * Every link and every shell command in README.md and docs/*.md, checked
 * against the code as it is: links resolve, capstan subcommands and flags
 * exist, and the commands that talk to the default server run against one
 * (its ports shifted to free ones, durations cut to a second, latency
 * thresholds dropped: a busy machine must not turn a right command red).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { parseCommand } from '../../src/load/args.js';
import { CLI, DEFAULT_PORTS, ROOT, runCli, runNode, startServeShifted, type CliRun } from '../server/support.js';
import { startServer } from '../examples/spawn-example.js';
import { headingAnchors, namedPaths, proseOf, readDocs, relativeLinks, usageLines } from './markdown.js';
import { exampleCommands, inlineCapstanCommands, shellCommands, type ShellCommand } from './shell.js';

const docs = readDocs(ROOT);
/** What a reader copies: the shell blocks of the Markdown, and the usage lines heading each example. */
const commands = docs.flatMap((d) => (d.path.endsWith('.md') ? shellCommands(d.path, d.text) : exampleCommands(d.path, d.text)));
/** Commands quoted in passing (`capstan load --framing lp4`): often partial, so only their names and flags are checked. */
const mentioned = docs.flatMap((d) => [...inlineCapstanCommands(d.path, proseOf(d)), ...inlineCapstanCommands(d.path, usageLines(d))]);

describe('links and paths in the docs', () => {
  it('resolves every relative link to a file, and every #anchor to a heading of it', () => {
    const broken: string[] = [];
    for (const doc of docs) {
      for (const link of relativeLinks(doc)) {
        const file = link.target === '' ? doc.path : posix.normalize(posix.join(posix.dirname(doc.path), link.target));
        if (!existsSync(join(ROOT, file))) broken.push(`${doc.path}:${link.line}: ${link.target} does not exist`);
        else if (link.anchor !== undefined && file.endsWith('.md') && !headingAnchors(readFileSync(join(ROOT, file), 'utf8')).has(link.anchor)) {
          broken.push(`${doc.path}:${link.line}: ${file} has no heading for #${link.anchor}`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('names only repository paths that exist (dist/ as the build leaves it)', () => {
    const missing = docs.flatMap((doc) => namedPaths(doc).filter((p) => !existsSync(join(ROOT, p.target))).map((p) => `${doc.path}:${p.line}: ${p.target}`));
    assert.deepEqual(missing, []);
  });
});

/** What a command is, after `sudo`: the capstan CLI, npm, a node one-liner, … */
type Kind =
  | { kind: 'capstan'; args: string[] }
  | { kind: 'npm'; args: string[] }
  | { kind: 'tool'; bin: string }
  | { kind: 'node-eval'; args: string[] }
  | { kind: 'file'; path: string }
  | { kind: 'system' }
  | { kind: 'interactive' }
  | { kind: 'unknown' };

/** Programs the docs may name for a systemd host, which this test cannot run. */
const SYSTEM = new Set(['systemctl', 'journalctl']);

function classify({ words, piped }: Pick<ShellCommand, 'words' | 'piped'>): Kind {
  const [program, ...rest] = words[0] === 'sudo' ? words.slice(1) : words;
  // A session a reader types into. netcat only as `nc HOST PORT`: its options differ between
  // systems, and fed by a pipe it waits for the server to close on some and not on others.
  if (!piped && ((program === 'nc' && rest.length === 2 && !rest.some((a) => a.startsWith('-'))) || (program === 'openssl' && rest[0] === 's_client'))) {
    return { kind: 'interactive' };
  }
  if (program === 'capstan') return { kind: 'capstan', args: rest };
  if (program === 'npx' && rest[0] === 'capstan') return { kind: 'capstan', args: rest.slice(1) };
  if (program === 'npx' && rest[0] !== undefined && !rest[0].startsWith('-')) return { kind: 'tool', bin: rest[0] };
  if (program === 'npm') return { kind: 'npm', args: rest };
  if (program === 'node' && (rest[0] === '-e' || rest[0] === '--eval')) return { kind: 'node-eval', args: rest };
  if (program === 'node' && rest[0] === 'dist/src/cli.js') return { kind: 'capstan', args: rest.slice(1) };
  if (program === 'node' && rest[0] !== undefined && !rest[0].startsWith('-')) return { kind: 'file', path: rest[0] };
  if (program !== undefined && SYSTEM.has(program)) return { kind: 'system' };
  return { kind: 'unknown' };
}

function ofKind<K extends Kind['kind']>(kind: K, from: readonly ShellCommand[] = commands): Array<{ cmd: ShellCommand; k: Extract<Kind, { kind: K }> }> {
  const seen = new Set<string>();
  return from.flatMap((cmd) => {
    const k = classify(cmd);
    const key = JSON.stringify(k);
    if (k.kind !== kind || seen.has(key)) return [];
    seen.add(key);
    return [{ cmd, k: k as Extract<Kind, { kind: K }> }];
  });
}

/** The flags a help text lists (`-c, --connections N` gives -c and --connections). */
function helpFlags(args: string[]): { status: number | null; flags: Set<string>; text: string } {
  const r = spawnSync(process.execPath, [CLI, ...args, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, flags: new Set([...r.stdout.matchAll(/(?<![\w-])(--[a-z0-9][\w-]*|-[a-zA-Z])(?![\w-])/g)].map((m) => m[1] as string)), text: r.stdout };
}

/** The flags a command line uses, one per letter for bundled short flags (`-kq`). */
function flagsUsed(args: readonly string[]): string[] {
  // Usage lines write optional flags in brackets: `[-c FILE]`.
  return args.map((a) => a.replace(/^\[|\]$/g, '')).flatMap((a) => {
    if (/^--[a-zA-Z]/.test(a)) return [a.split('=')[0] as string];
    if (/^-[a-zA-Z]+$/.test(a)) return [...a.slice(1)].map((c) => `-${c}`);
    return [];
  });
}

/** The default ports in `text` moved by `offset` (targets, URLs, and ports inside a one-liner). */
function shift(text: string, offset: number): string {
  const ports = DEFAULT_PORTS.join('|');
  return text.replace(new RegExp(`(?<![\\d.])(${ports})(?!\\d)`, 'g'), (p) => String(Number(p) + offset));
}

/** `args` without each of `flags` and the value after it. */
function without(args: readonly string[], flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (flags.includes(a)) i++;
    else if (!flags.some((f) => a.startsWith(`${f}=`))) out.push(a);
  }
  return out;
}

/** Waits for a process to end, killing it (by PID) and failing if it takes longer than `ms`. */
async function ended(run: CliRun, what: string, ms = 90_000): Promise<{ code: number | null; out: string; err: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const result = await Promise.race([run.exited, late]);
  clearTimeout(timer);
  if (result === 'late') {
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    assert.fail(`${what} did not exit within ${ms / 1000} s\nstdout:\n${run.out.join('\n')}\nstderr:\n${run.err.join('\n')}`);
  }
  // A pipe may still hold the last bytes when the exit is reported.
  if (run.child.stdout !== null && !run.child.stdout.readableEnded) await Promise.race([once(run.child.stdout, 'end'), new Promise((r) => setTimeout(r, 5_000))]);
  return { code: result.code, out: run.out.join('\n'), err: run.err.join('\n') };
}

/** The file a `-c`/`--config` argument names, if any. */
function configOf(args: readonly string[]): string | undefined {
  const i = args.findIndex((a) => a === '-c' || a === '--config');
  return i < 0 ? args.find((a) => a.startsWith('--config='))?.slice('--config='.length) : args[i + 1];
}

/** The exit status `capstan check` (or `service print`) must give for these arguments: 78 when the config is not there to read. */
function expectedCheckStatus(args: readonly string[]): number {
  const config = configOf(args);
  return config === undefined || existsSync(resolve(ROOT, config)) ? 0 : 78;
}

describe('the shell commands in the docs', () => {
  let server: CliRun | undefined;
  let offset = 0;
  before(async () => ({ run: server, offset } = await startServeShifted()));
  after(() => server?.kill());

  it('finds the commands of README.md and docs/*.md', () => {
    assert.ok(commands.length >= 20, `only ${commands.length} commands found`);
    assert.ok(ofKind('capstan').length >= 8);
  });

  it('uses only programs it can check (netcat only for a session typed by hand)', () => {
    const unknown = commands.filter((c) => classify(c).kind === 'unknown').map((c) => `${c.where}: ${c.words[0]} in: ${c.source}`);
    assert.deepEqual(unknown, []);
  });

  it('names capstan subcommands and flags that exist', () => {
    const top = helpFlags([]);
    assert.equal(top.status, 0);
    const subcommands = new Set([...top.text.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1] as string));
    const helps = new Map<string, Set<string>>();
    const problems: string[] = [];
    for (const { cmd, k } of ofKind('capstan', [...commands, ...mentioned])) {
      const [sub = '', ...args] = k.args;
      if (sub.startsWith('-')) {
        if (!['--version', '-v', '--help', '-h'].includes(sub)) problems.push(`${cmd.where}: capstan has no option ${sub}`);
        continue;
      }
      if (!subcommands.has(sub)) {
        problems.push(`${cmd.where}: capstan has no command '${sub}'`);
        continue;
      }
      let flags = helps.get(sub);
      if (flags === undefined) {
        const help = helpFlags([sub]);
        assert.equal(help.status, 0, `capstan ${sub} --help`);
        flags = help.flags;
        helps.set(sub, flags);
      }
      for (const f of flagsUsed(args)) if (!flags.has(f)) problems.push(`${cmd.where}: capstan ${sub} has no option ${f}: ${cmd.source}`);
    }
    assert.deepEqual(problems, []);
  });

  it('gives capstan load values it accepts', () => {
    const problems: string[] = [];
    for (const { cmd, k } of ofKind('capstan').filter(({ k }) => k.args[0] === 'load')) {
      try {
        parseCommand(k.args.slice(1));
      } catch (err) {
        problems.push(`${cmd.where}: ${(err as Error).message}: ${cmd.source}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('runs each capstan load aimed at the default server for a second, with no errors', async () => {
    let ran = 0;
    for (const { cmd, k } of ofKind('capstan').filter(({ k }) => k.args[0] === 'load')) {
      const args = k.args.slice(1);
      const target = parseCommand(args).options.target;
      const local = /^(?:(?:tcp|tls|udp):\/\/)?(?:(?:127\.0\.0\.1|localhost):)?(\d+)$/.exec(target);
      if (local === null || !(DEFAULT_PORTS as readonly number[]).includes(Number(local[1]))) continue;
      // Thresholds on timing and on UDP loss are left out: on a loaded machine a stall of a few ms overflows
      // a UDP socket's receive buffer, and the run still fails when nothing at all is answered.
      const bounded = [...without(args, ['-d', '--duration', '--max-p99', '--max-loss']).map((a) => (a === target ? shift(a, offset) : a)), '-d', '1', '-q'];
      const r = await ended(runCli(['load', ...bounded]), cmd.source);
      assert.equal(r.code, 0, `${cmd.where}: ${cmd.source}\n(run as: capstan load ${bounded.join(' ')})\n${r.out}\n${r.err}`);
      ran++;
    }
    assert.ok(ran >= 2, `${ran} load commands aimed at the default server`);
  });

  it('runs each capstan stats against the default server once', async () => {
    const runs = ofKind('capstan').filter(({ k }) => k.args[0] === 'stats');
    assert.ok(runs.length > 0);
    for (const { cmd, k } of runs) {
      let args = k.args.slice(1).map((a) => shift(a, offset));
      if (!args.some((a) => a.startsWith('--url'))) args.push('--url', `http://127.0.0.1:${9100 + offset}`);
      if (!args.includes('--json') && !args.some((a) => a.startsWith('--count'))) args = [...without(args, ['--interval']), '--count', '1', '--interval', '0.2'];
      const r = await ended(runCli(['stats', ...args]), cmd.source);
      assert.equal(r.code, 0, `${cmd.where}: ${cmd.source}\n${r.out}\n${r.err}`);
      assert.match(r.out, /echo-lp4/);
    }
  });

  it('checks the config of each capstan serve, check and service command, binding and writing nothing', async () => {
    const problems: string[] = [];
    for (const { cmd, k } of ofKind('capstan')) {
      const [sub, ...args] = k.args;
      let run: string[];
      if (sub === 'check') run = ['check', ...args];
      // serve's config is what check reads; the default config is served by this suite's own server.
      else if (sub === 'serve') run = ['check', ...without(args, ['--log-level', '--pidfile'])];
      // print is install without the writing.
      else if (sub === 'service') run = ['service', ...args.map((a) => (a === 'install' ? 'print' : a))];
      else continue;
      const r = await ended(runCli(run), cmd.source);
      const want = expectedCheckStatus(args);
      if (r.code !== want) problems.push(`${cmd.where}: ${cmd.source}: exit ${r.code}, expected ${want} (as capstan ${run.join(' ')})\n${r.err}`);
    }
    assert.deepEqual(problems, []);
  });

  it('runs each node one-liner against the server it is shown with, and each exits by itself after printing the reply', async () => {
    const oneLiners = ofKind('node-eval');
    assert.ok(oneLiners.length >= 2, 'the docs show a portable client');
    for (const { cmd, k } of oneLiners) {
      const example = /^examples\/([\w-]+)\.ts:/.exec(cmd.where)?.[1];
      // An example's client talks to that example: started on a free port, which takes the place of the one port in the line.
      const started = example === undefined ? undefined : await startServer(example);
      try {
        const args = k.args.map((a) => (started === undefined ? shift(a, offset) : a.replace(/(?<![\d.])\d{4,5}(?![\d.])/g, String(started.port))));
        const r = await ended(runNode(args), cmd.source, 30_000);
        assert.equal(r.code, 0, `${cmd.where}: ${cmd.source}\n${r.err}`);
        // A health check answers ok; every other line sends hello and prints its echo.
        assert.match(r.out, /healthz/.test(cmd.source) ? /^ok/ : /hello/, `${cmd.where}: prints the reply`);
      } finally {
        await started?.example.stop();
      }
    }
  });

  it('names npm scripts that exist, with options the benchmark accepts', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const problems: string[] = [];
    for (const { cmd, k } of ofKind('npm')) {
      const [verb = '', ...rest] = k.args;
      const script = verb === 'run' ? rest[0] : { start: 'start', test: 'test', 'install-test': 'test', it: 'test' }[verb];
      if (script === undefined) {
        if (!['install', 'i', 'ci', 'pack', 'init'].includes(verb)) problems.push(`${cmd.where}: npm ${verb} is not a command this test knows`);
        continue;
      }
      if (scripts[script] === undefined) {
        problems.push(`${cmd.where}: package.json has no script ${script}`);
        continue;
      }
      const dash = rest.indexOf('--');
      if (script === 'bench' && dash >= 0) {
        // --list parses every option and scenario name, then exits without measuring anything.
        const r = spawnSync(process.execPath, ['dist/bench/run.js', ...rest.slice(dash + 1), '--list'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
        if (r.status !== 0) problems.push(`${cmd.where}: ${cmd.source}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('names tools and files that are there once the project is installed and built', () => {
    const missing = [
      ...ofKind('tool')
        .filter(({ k }) => !existsSync(join(ROOT, 'node_modules/.bin', k.bin)))
        .map(({ cmd, k }) => `${cmd.where}: npx ${k.bin}: not installed`),
      ...ofKind('file')
        .filter(({ k }) => !existsSync(join(ROOT, k.path)))
        .map(({ cmd, k }) => `${cmd.where}: ${k.path} does not exist`),
    ];
    assert.deepEqual(missing, []);
  });
});
