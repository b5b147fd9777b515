/**
 * Paired rounds of two benchmark servers: both on CPU 0 at the same time, each
 * driven by its own tcpload on CPU 1, so the scheduler gives them equal time
 * and outside load hits both alike; the ratio of their figures is the ratio of
 * their costs (bench/ab.ts, the `filters` scenario).
 */
import { resolve } from 'node:path';
import { tcpload, type LoadFigures, type Shape } from './generators.js';
import { startNodeServer, type BenchServer } from './procs.js';

export function median(xs: readonly number[]): number {
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

export interface Side {
  dir: string;
  kind: 'capstan' | 'net';
  /** The server's codec and filters (bench/server.ts). */
  framing: string;
}

/** One round: both servers started (in the given order), loaded at once, each by its own tcpload; msgs/s and CPU ns per message of each. */
export async function pairedRound(a: Side, b: Side, shape: Shape, warmupSec: number, bin: string, pin: boolean, bFirst: boolean): Promise<{ a: number[]; b: number[] }> {
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

