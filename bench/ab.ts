/**
 * Paired A/B runs of two builds of the benchmark echo server, to measure a
 * change of a few per cent on a machine whose speed drifts from minute to
 * minute: both servers share CPU 0 at the same time, each driven by its own
 * tcpload on CPU 1, so the scheduler gives them equal time and outside load
 * hits both alike. The ratio of their messages per second (and of their CPU
 * time per message) is the ratio of their costs. Every round starts new
 * processes, in alternating order, because one process's JIT can land a
 * couple of per cent off another's.
 *
 *   node dist/bench/ab.js --a ../base --b . [--kind-a capstan] [--kind-b capstan] [--framing lp4] [--framing-b lp4+pass]
 *                         [--rounds 21] [--seconds 4] [--conns 100] [--size 64] [--depth 16]
 *
 * `--a` and `--b` are checkouts with a built `dist/` (default: this one, which
 * makes an A/A run: its ratio is the method's bias and its spread the noise, to
 * set beside a real run). `--framing-b` gives B another server spec of the
 * same wire format, such as `lp4+pass`: what one pass-through filter costs. Prints one line per round and the medians of the
 * per-round ratios B ÷ A with bootstrap 95 % intervals.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { tcpload, type LoadFigures, type Shape } from './generators.js';
import { killAll, startNodeServer, type BenchServer } from './procs.js';
import { canPin, cTool, ROOT } from './tools.js';
import os from 'node:os';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** A 95 % interval for the median, by resampling the rounds. */
export function bootstrapMedian(xs: readonly number[], draws = 2000): [number, number] {
  const meds: number[] = [];
  for (let d = 0; d < draws; d++) meds.push(median(Array.from(xs, () => xs[Math.floor(Math.random() * xs.length)] as number)));
  meds.sort((a, b) => a - b);
  return [meds[Math.floor(draws * 0.025)] as number, meds[Math.floor(draws * 0.975)] as number];
}

interface Side {
  dir: string;
  kind: 'capstan' | 'net';
  /** The server's codec and filters (bench/server.ts). */
  framing: string;
}

async function round(a: Side, b: Side, shape: Shape, warmupSec: number, bin: string, pin: boolean, bFirst: boolean): Promise<{ a: number[]; b: number[] }> {
  const start = (s: Side) => startNodeServer(s.kind, s.framing, pin, resolve(s.dir, 'dist/bench/server.js'));
  const servers: BenchServer[] = [];
  try {
    const [first, second] = bFirst ? [b, a] : [a, b];
    servers.push(await start(first), await start(second));
    const [sa, sb] = (bFirst ? [servers[1], servers[0]] : [servers[0], servers[1]]) as [BenchServer, BenchServer];
    const both = (seconds: number): Promise<[LoadFigures, LoadFigures]> => {
      const run = (s: BenchServer) => tcpload(bin, s.port, { ...shape, seconds }, pin);
      // Start the loads in the servers' start order, alternating round by round.
      return bFirst ? Promise.all([run(sb), run(sa)]).then(([fb, fa]) => [fa, fb]) : Promise.all([run(sa), run(sb)]);
    };
    await both(warmupSec);
    const before = await Promise.all([sa.stats(), sb.stats()]);
    const [fa, fb] = await both(shape.seconds);
    const after = await Promise.all([sa.stats(), sb.stats()]);
    const cpu = (i: 0 | 1, f: LoadFigures) => ((after[i].cpuUs - before[i].cpuUs) * 1000) / Math.max(1, f.msgs);
    return { a: [fa.msgsPerSec, cpu(0, fa)], b: [fb.msgsPerSec, cpu(1, fb)] };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      a: { type: 'string' },
      b: { type: 'string' },
      'kind-a': { type: 'string' },
      'kind-b': { type: 'string' },
      framing: { type: 'string' },
      'framing-b': { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      conns: { type: 'string' },
      size: { type: 'string' },
      depth: { type: 'string' },
    },
  });
  const bin = cTool('tcpload');
  if (bin === null) throw new Error('tcpload could not be built (gcc and ../shared/bench are needed)');
  const pin = canPin(os.cpus().length);
  const framing = v.framing ?? 'lp4';
  const a: Side = { dir: v.a ?? ROOT, kind: (v['kind-a'] ?? 'capstan') as Side['kind'], framing };
  const b: Side = { dir: v.b ?? ROOT, kind: (v['kind-b'] ?? 'capstan') as Side['kind'], framing: v['framing-b'] ?? framing };
  if (b.framing.split('+')[0] !== framing.split('+')[0]) throw new Error(`--framing-b ${b.framing} must have the same wire format as --framing ${framing}`);
  const shape: Shape = {
    conns: Number(v.conns ?? 100),
    size: Number(v.size ?? 64),
    depth: Number(v.depth ?? 16),
    seconds: Number(v.seconds ?? 4),
    framing: framing.split('+')[0] === 'raw' ? 'raw' : 'lp4',
    mode: 'echo',
  };
  const rounds = Number(v.rounds ?? 21);
  const msgs: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const got = await round(a, b, shape, 1, bin, pin, r % 2 === 1);
    msgs.push((got.b[0] as number) / (got.a[0] as number));
    cpu.push((got.b[1] as number) / (got.a[1] as number));
    process.stdout.write(
      `round ${r + 1}/${rounds}: A ${Math.round(got.a[0] as number)} msgs/s ${(got.a[1] as number).toFixed(0)} ns/msg, B ${Math.round(got.b[0] as number)} msgs/s ${(got.b[1] as number).toFixed(0)} ns/msg, B/A ${(msgs.at(-1) as number).toFixed(3)}\n`,
    );
  }
  const [ml, mh] = bootstrapMedian(msgs);
  const [cl, ch] = bootstrapMedian(cpu);
  process.stdout.write(
    `RESULT bench=ab rounds=${rounds} msgs_ratio=${median(msgs).toFixed(4)} msgs_ci=${ml.toFixed(4)}-${mh.toFixed(4)} cpu_ratio=${median(cpu).toFixed(4)} cpu_ci=${cl.toFixed(4)}-${ch.toFixed(4)}\n`,
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  killAll();
  process.stderr.write(`ab: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
