/**
 * Idle memory per WebSocket: 10,000 upgraded connections held open by
 * `tcpload --ws --idle` (one C process from 49 source addresses, so each side
 * stays far below the 20,000 open-file limit), against Capstan's WebSocket
 * echo and the `ws` echo. Reports the server's RSS and heap (V8 heap plus
 * Buffers) growth per connection after garbage collection. Rounds alternate
 * the order; the spread of `ws`'s own rounds (A/A) is printed beside the ratio.
 */
import { startNodeServer } from './procs.js';
import { check, IDLE_METRICS, idleRun, summarize, type BenchContext, type Table } from './scenarios.js';
import type { Shape } from './generators.js';

export async function wsIdle(ctx: BenchContext, connections = 10_000): Promise<Table[]> {
  if (ctx.tcpload === null) {
    ctx.log('  ws-idle: skipped (tcpload could not be built; it holds the idle WebSockets)');
    return [];
  }
  const shape: Shape = { conns: connections, size: 64, depth: 1, framing: 'ws', mode: 'idle', seconds: ctx.holdSec, srcIps: '127.0.0.2-127.0.0.50' };
  const runs = new Map<string, Record<string, number>[]>([
    ['capstan ws', []],
    ['ws echo', []],
  ]);
  const rounds = Math.max(2, ctx.rounds);
  for (let round = 0; round < rounds; round++) {
    const order: Array<'capstan-ws' | 'ws'> = round % 2 === 0 ? ['capstan-ws', 'ws'] : ['ws', 'capstan-ws'];
    for (const kind of order) {
      const server = await startNodeServer(kind, 'raw', ctx.pin);
      try {
        const values = await idleRun(ctx, server, shape);
        runs.get(server.label)?.push(values);
        ctx.log(`  ws-idle round ${round + 1}/${rounds} ${server.label.padEnd(11)} ${Object.entries(values).map(([k, v]) => `${k}=${Math.round(v)}`).join(' ')}`);
      } finally {
        await server.stop();
      }
    }
  }
  const t = summarize('ws-idle', `${connections.toLocaleString('en-US')} idle WebSockets: server RSS and heap growth per connection, Capstan vs ws`, 'tcpload (C) --ws --idle', IDLE_METRICS, runs);
  const each = (label: string, key: string): string => (runs.get(label) ?? []).map((r) => Math.round(r[key] ?? 0).toLocaleString('en-US')).join(', ');
  const ws = (runs.get('ws echo') ?? []).map((r) => r.bytesPerConn ?? 0);
  const aa = ws.length >= 2 && (ws[1] as number) > 0 ? (ws[0] as number) / (ws[1] as number) : 0;
  (t.notes ??= []).push(
    `RSS/conn by round: capstan ws ${each('capstan ws', 'bytesPerConn')} B; ws echo ${each('ws echo', 'bytesPerConn')} B (A/A: ws round 1 ÷ round 2 = ${aa.toFixed(2)}×)`,
    `heap/conn by round: capstan ws ${each('capstan ws', 'heapPerConn')} B; ws echo ${each('ws echo', 'heapPerConn')} B`,
  );
  t.derived = { aaRatio: aa };
  t.targets.push(check('bytesPerConn', 'ratio', '<=', 0.6, t.ratios.bytesPerConn ?? 0));
  return [t];
}
