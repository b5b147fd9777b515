/**
 * `npm run bench`: Capstan against raw Node `net` (and the load client against
 * the C load generator), measured in the same run, with ratios and targets.
 *
 *   node dist/bench/run.js [--quick] [--scenario NAME[,NAME]] [--seconds S] [--rounds N] [--list] [--tools]
 *
 * Default: every scenario, 2 rounds of 5 s each (about 3-4 minutes); `--quick`:
 * 1 round of 2 s (about a minute). Results are printed and saved as JSON under
 * bench/results/. Exit status 1 when a target is missed. `--list` names the
 * scenarios; `--tools` builds the C tools and says where they are or why they
 * could not be built (exit 1 then), and measures nothing. See docs/performance.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { killGenerators } from './generators.js';
import { killAll } from './procs.js';
import { factsText, machineFacts, tableText } from './report.js';
import { SCENARIOS, type BenchContext, type Table } from './scenarios.js';
import { canPin, cTool, fileLimit, pinSelf, ROOT } from './tools.js';

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      list: { type: 'boolean' },
      tools: { type: 'boolean' },
    },
  });
  // The soak runs for minutes: only when asked for by name.
  const names = (values.scenario ?? Object.keys(SCENARIOS).filter((n) => n !== 'soak')).flatMap((s) => s.split(','));
  for (const n of names) {
    if (SCENARIOS[n] === undefined) throw new Error(`unknown scenario ${n}; scenarios are ${Object.keys(SCENARIOS).join(', ')}`);
  }
  if (values.list === true) {
    process.stdout.write(`${Object.keys(SCENARIOS).join('\n')}\n`);
    return 0;
  }
  const tools = [cTool('tcpload'), cTool('echo_epoll'), cTool('udpload')];
  const problems = tools.flatMap((t) => (t.path === null ? [t.problem] : []));
  if (values.tools === true) {
    for (const t of tools) if (t.path !== null) process.stdout.write(`${t.path}\n`);
    for (const p of problems) process.stderr.write(`${p}\n`);
    return problems.length === 0 ? 0 : 1;
  }
  // Said once, before any scenario: the ones that need the C tools skip or fall back, and say so.
  for (const p of problems) process.stderr.write(`${p}\n  Meanwhile: capstan load generates the load, and the scenarios that need the C tools are skipped.\n\n`);
  const quick = values.quick === true;
  const pin = canPin(os.cpus().length);
  // The benchmark itself (and the load it runs in process) stays off the server's CPU.
  if (pin) pinSelf(1);
  const tcpload = tools[0]?.path ?? null;
  const ctx: BenchContext = {
    pin,
    tcpload,
    echoEpoll: tools[1]?.path ?? null,
    udpload: tools[2]?.path ?? null,
    seconds: Number(values.seconds ?? (quick ? 2 : 5)),
    rounds: Number(values.rounds ?? (quick ? 1 : 2)),
    warmupSec: quick ? 0.5 : 1,
    holdSec: quick ? 4 : 5,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const facts = machineFacts(pin, fileLimit(), tcpload !== null ? 'tcpload (C, bench/.bin)' : 'capstan load (tcpload could not be built: see above)');
  process.stdout.write(`${factsText(facts)}\n\n`);
  const started = new Date();
  const tables: Table[] = [];
  for (const name of names) {
    ctx.log(`${name} …`);
    for (const t of await (SCENARIOS[name] as (c: BenchContext) => Promise<Table[]>)(ctx)) {
      tables.push(t);
      process.stdout.write(`${tableText(t)}\n`);
    }
  }
  const missed = tables.flatMap((t) => t.targets.filter((g) => !g.pass).map((g) => `${t.scenario} ${g.metric}`));
  process.stdout.write(missed.length === 0 ? 'every target met\n' : `targets missed: ${missed.join(', ')}\n`);
  const dir = `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/${started.toISOString().replace(/[:.]/g, '-')}.json`;
  const record = { date: started.toISOString(), quick, seconds: ctx.seconds, rounds: ctx.rounds, machine: facts, tables };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`saved ${file.slice(ROOT.length)}\n`);
  return missed.length === 0 ? 0 : 1;
}

process.on('SIGINT', () => {
  killGenerators();
  killAll();
  process.exit(130);
});

main(process.argv.slice(2)).then(
  (code) => {
    killAll();
    process.exitCode = code;
  },
  (err: unknown) => {
    killGenerators();
    killAll();
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
