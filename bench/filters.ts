/**
 * What one pass-through filter costs the echo: paired rounds (paired.ts) of
 * `capstan lp4` against `capstan lp4+pass`, and an A/A control of `lp4`
 * against itself, whose ratio is the method's bias and whose spread its noise.
 * The ratio is the median of the rounds' paired ratios, with a bootstrap 95 %
 * interval; the target is the issue's: at most 2 % of echo throughput.
 */
import type { Shape } from './generators.js';
import { bootstrapMedian, median, pairedRound, type Side } from './paired.js';
import type { BenchContext, Table } from './scenarios.js';
import { ROOT } from './tools.js';

export async function filters(ctx: BenchContext): Promise<Table[]> {
  if (ctx.tcpload === null) {
    ctx.log('  filters skipped: tcpload could not be built (why, and what to do: at the start of this run)');
    return [];
  }
  const rounds = ctx.rounds * 4 + 1;
  const seconds = Math.min(ctx.seconds, 4);
  const tables: Table[] = [];
  for (const depth of [16, 1]) {
    const shape: Shape = { conns: 100, size: 64, depth, seconds, framing: 'lp4', mode: 'echo' };
    const plain: Side = { dir: ROOT, kind: 'capstan', framing: 'lp4' };
    const pass: Side = { dir: ROOT, kind: 'capstan', framing: 'lp4+pass' };
    const ratios = { pass: [] as number[], passCpu: [] as number[], aa: [] as number[] };
    const runs = new Map<string, Record<string, number>[]>([
      ['capstan lp4+pass', []],
      ['capstan lp4', []],
    ]);
    for (let r = 0; r < rounds; r++) {
      const got = await pairedRound(plain, pass, shape, 1, ctx.tcpload, ctx.pin, r % 2 === 1);
      const aa = await pairedRound(plain, plain, shape, 1, ctx.tcpload, ctx.pin, r % 2 === 1);
      ratios.pass.push((got.b[0] as number) / (got.a[0] as number));
      ratios.passCpu.push((got.b[1] as number) / (got.a[1] as number));
      ratios.aa.push((aa.b[0] as number) / (aa.a[0] as number));
      runs.get('capstan lp4+pass')?.push({ msgsPerSec: got.b[0] as number, cpuPerMsgUs: (got.b[1] as number) / 1000 });
      runs.get('capstan lp4')?.push({ msgsPerSec: got.a[0] as number, cpuPerMsgUs: (got.a[1] as number) / 1000 });
      ctx.log(`  filters depth ${depth} round ${r + 1}/${rounds} pass/plain ${(ratios.pass.at(-1) as number).toFixed(3)} A/A ${(ratios.aa.at(-1) as number).toFixed(3)}`);
    }
    const [pl, ph] = bootstrapMedian(ratios.pass);
    const [al, ah] = bootstrapMedian(ratios.aa);
    const msgs = median(ratios.pass);
    const rows = [...runs].map(([label, rs]) => ({
      label,
      values: { msgsPerSec: median(rs.map((x) => x.msgsPerSec as number)), cpuPerMsgUs: median(rs.map((x) => x.cpuPerMsgUs as number)) },
      runs: rs,
    }));
    tables.push({
      scenario: `filters-depth${depth}`,
      title: `one pass-through filter vs none: lp4 echo, 100 connections, 64 B, ${depth} in flight, both servers on CPU 0 at once; ratio: median of ${rounds} paired rounds`,
      load: 'tcpload (C), one per server',
      metrics: [
        { key: 'msgsPerSec', label: 'msgs/s', unit: 'count', higherIsBetter: true },
        { key: 'cpuPerMsgUs', label: 'CPU/msg', unit: 'us', higherIsBetter: false },
      ],
      rows,
      ratios: { msgsPerSec: msgs, cpuPerMsgUs: median(ratios.passCpu) },
      targets: [{ metric: 'msgsPerSec', kind: 'ratio', op: '>=', goal: 0.98, actual: msgs, pass: msgs >= 0.98 }],
      notes: [`paired msgs/s ratio ${msgs.toFixed(3)} (95 % ${pl.toFixed(3)}-${ph.toFixed(3)}); A/A control ${median(ratios.aa).toFixed(3)} (95 % ${al.toFixed(3)}-${ah.toFixed(3)})`],
      derived: { passRatio: msgs, passLow: pl, passHigh: ph, aaRatio: median(ratios.aa), aaLow: al, aaHigh: ah },
    });
  }
  return tables;
}
