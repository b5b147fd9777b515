/**
 * The WebSocket scenario: 100 connections, 64-byte binary messages, 16 in
 * flight each. Capstan's WebSocket echo and the `ws` echo are loaded with
 * `tcpload --ws` (which checks every echoed byte); the naive raw `net` echo
 * with 64-byte raw messages. Rounds rotate the order so drift favours no one.
 */
import { CPU, CPU_READ, ERRORS, MSGS, P99, PER_READ, READS, WRITES, check, echoRun, summarize, type BenchContext, type Table } from './scenarios.js';
import { startNodeServer } from './procs.js';

type Kind = 'capstan-ws' | 'ws' | 'net';

export async function websocket(ctx: BenchContext): Promise<Table[]> {
  if (ctx.tcpload === null) {
    ctx.log('  websocket: skipped (tcpload could not be built; it is the WebSocket load generator)');
    return [];
  }
  const kinds: Kind[] = ['capstan-ws', 'ws', 'net'];
  const runs = new Map<string, Record<string, number>[]>([
    ['capstan ws', []],
    ['ws echo', []],
    ['net raw echo', []],
  ]);
  for (let round = 0; round < ctx.rounds; round++) {
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length] as Kind);
    for (const kind of order) {
      const server = await startNodeServer(kind, 'raw', ctx.pin);
      try {
        const values = await echoRun(ctx, server, { conns: 100, size: 64, depth: 16, seconds: ctx.seconds, framing: kind === 'net' ? 'raw' : 'ws', mode: 'echo' });
        runs.get(server.label)?.push(values);
        ctx.log(`  websocket round ${round + 1}/${ctx.rounds} ${server.label.padEnd(13)} ${Object.entries(values).map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`).join(' ')}`);
      } finally {
        await server.stop();
      }
    }
  }
  const t = summarize('websocket', 'WebSocket echo vs ws and the naive raw net echo: 100 connections, 64 B binary, 16 in flight', 'tcpload (C) --ws; raw for net', [MSGS, P99, CPU, READS, WRITES, PER_READ, CPU_READ, ERRORS], runs);
  const capstan = t.rows[0]?.values ?? {};
  const ws = t.rows[1]?.values ?? {};
  const ratioWs = (ws.msgsPerSec ?? 0) > 0 ? (capstan.msgsPerSec ?? 0) / (ws.msgsPerSec as number) : 0;
  (t.notes ??= []).push(`capstan ws ÷ ws echo: ${ratioWs.toFixed(2)}× msgs/s`);
  t.derived = { ratioVsWs: ratioWs };
  t.targets.push(check('msgsPerSec', 'ratio', '>=', 0.8, t.ratios.msgsPerSec ?? 0));
  return [t];
}
