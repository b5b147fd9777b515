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
import { parseArgs } from 'node:util';
import type { Shape } from './generators.js';
import { bootstrapMedian, median, pairedRound, type Side } from './paired.js';
import { killAll } from './procs.js';
import { canPin, cTool, ROOT } from './tools.js';
import os from 'node:os';

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
  const tcpload = cTool('tcpload');
  if (tcpload.path === null) throw new Error(tcpload.problem);
  const bin = tcpload.path;
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
    const got = await pairedRound(a, b, shape, 1, bin, pin, r % 2 === 1);
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
