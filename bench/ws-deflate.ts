/**
 * The `ws-deflate` scenario: Capstan's WebSocket echo against the `ws` echo,
 * both with permessage-deflate on and the same settings (ws-servers.ts: zlib
 * level 1, memLevel 8, 15-bit windows, 1,024-byte threshold), echoing ~1.2 KB
 * JSON text messages, under three offers: context takeover both ways (what
 * browsers and the ws client offer), server_no_context_takeover, and no
 * context takeover either way.
 *
 * Each run starts a fresh server and first holds 1,000 connections that have
 * each had one message echoed (so every zlib context a socket keeps exists):
 * RSS and heap per connection after GC, and the zlib contexts held. Then, on
 * the same server, 100 connections × 8 messages in flight: msgs/s, the
 * server's CPU per message and its share of its core, p99, the compression
 * ratio of the echoes, and the client's own CPU, since the client
 * (ws-deflate-client.ts, on the other core) is a Node process too.
 */
import { fileURLToPath } from 'node:url';
import { runChild } from './generators.js';
import { startNodeServer, type BenchServer } from './procs.js';
import { CPU, ERRORS, MSGS, P50, P99, statsOnceHeld, summarize, type BenchContext, type Metric, type Table } from './scenarios.js';
import type { ServerStats } from './server.js';
import { pinned } from './tools.js';
import type { OfferName } from './ws-deflate-train.js';

const CLIENT = fileURLToPath(new URL('./ws-deflate-client.js', import.meta.url));
const HELD = 1_000;
const ECHO_CONNS = 100;
const DEPTH = 4;

const MODES: Array<{ offer: OfferName; title: string }> = [
  { offer: 'takeover', title: 'context takeover both ways (the default offer)' },
  { offer: 'server-nct', title: 'server_no_context_takeover (the client keeps its window)' },
  { offer: 'none', title: 'no context takeover either way' },
];

type Kind = 'capstan-ws' | 'ws';
const LABEL: Record<Kind, string> = { 'capstan-ws': 'capstan ws', ws: 'ws echo' };

/** The table's columns (a function: scenarios.ts, whose metrics these are, imports this module). */
const metrics = (): Metric[] => [
  MSGS,
  CPU,
  { key: 'serverBusyPct', label: 'server CPU %', unit: 'count', higherIsBetter: false },
  P50,
  P99,
  { key: 'ratio', label: 'compression', unit: 'ratio', higherIsBetter: true },
  { key: 'clientCpuPerMsgUs', label: 'client CPU/msg', unit: 'us', higherIsBetter: false },
  { key: 'clientBusyPct', label: 'client CPU %', unit: 'count', higherIsBetter: false },
  { key: 'bytesPerConn', label: 'RSS/conn', unit: 'bytes', higherIsBetter: false },
  { key: 'heapPerConn', label: 'heap/conn', unit: 'bytes', higherIsBetter: false },
  { key: 'contextsPerConn', label: 'zlib ctx/conn', unit: 'ratio', higherIsBetter: false },
  ERRORS,
];

interface ClientEnd {
  established: number;
  msgs?: number;
  seconds?: number;
  msgsPerSec?: number;
  p50?: number;
  p99?: number;
  ratio?: number;
  clientCpuPerMsgUs?: number;
  clientBusy?: number;
  verified: number;
  errors: number;
  problems: string[];
  agreement: string;
}

/** Runs the client on CPU 1 to its end; `onLine` sees its progress lines. */
async function runClient(ctx: BenchContext, port: number, args: string[], seconds: number, onLine: (line: string) => void): Promise<ClientEnd> {
  const [cmd, cmdArgs] = pinned(ctx.pin, 1, process.execPath, [CLIENT, '--port', String(port), ...args]);
  const { out } = await runChild(cmd, cmdArgs, (seconds + 60) * 1000, onLine);
  const end = /^END (.*)$/m.exec(out);
  if (end === null) throw new Error(`the deflate client printed no result: ${out.trim().split('\n').pop() ?? ''}`);
  const r = JSON.parse(end[1] as string) as ClientEnd;
  if (r.problems.length > 0) ctx.log(`    client: ${r.problems.join('; ')}`);
  return r;
}

/** HELD connections, one message echoed on each, then the server's memory per connection after GC. */
async function holdRun(ctx: BenchContext, server: BenchServer, offer: OfferName): Promise<Record<string, number>> {
  const base = await server.stats(true);
  let reading: Promise<ServerStats> | null = null;
  const r = await runClient(ctx, server.port, ['--mode', 'hold', '--offer', offer, '--conns', String(HELD), '--seconds', String(ctx.holdSec)], ctx.holdSec, (line) => {
    if (!line.startsWith('READY ')) return;
    reading = statsOnceHeld(ctx, server, (JSON.parse(line.slice(6)) as { established: number }).established);
  });
  if (reading === null) throw new Error(`the deflate client never had all ${HELD} connections echo (${r.problems.join('; ')})`);
  const held = await (reading as Promise<ServerStats>);
  const per = (x: number): number => (held.connections > 0 ? x / held.connections : 0);
  return { bytesPerConn: per(held.rssBytes - base.rssBytes), heapPerConn: per(held.heapBytes - base.heapBytes), contextsPerConn: per(held.zlibContexts), held: held.connections, holdErrors: r.errors };
}

/** ECHO_CONNS connections × DEPTH in flight: the client's window, and the server's CPU over it. */
async function echoRun(ctx: BenchContext, server: BenchServer, offer: OfferName): Promise<Record<string, number>> {
  let before: Promise<ServerStats> | null = null;
  let after: Promise<ServerStats> | null = null;
  const args = ['--mode', 'echo', '--offer', offer, '--conns', String(ECHO_CONNS), '--depth', String(DEPTH), '--warmup', String(ctx.warmupSec), '--seconds', String(ctx.seconds)];
  const r = await runClient(ctx, server.port, args, ctx.warmupSec + ctx.seconds, (line) => {
    if (line === 'START') before = server.stats();
    else if (line.startsWith('END ')) after = server.stats();
  });
  if (before === null || after === null || r.msgs === undefined || r.seconds === undefined) throw new Error(`the deflate client measured nothing (${r.problems.join('; ')})`);
  const cpuUs = (await (after as Promise<ServerStats>)).cpuUs - (await (before as Promise<ServerStats>)).cpuUs;
  return {
    msgsPerSec: r.msgsPerSec ?? 0,
    cpuPerMsgUs: r.msgs > 0 ? cpuUs / r.msgs : 0,
    serverBusyPct: (cpuUs / 1e6 / r.seconds) * 100,
    p50: r.p50 ?? 0,
    p99: r.p99 ?? 0,
    ratio: r.ratio ?? 0,
    clientCpuPerMsgUs: r.clientCpuPerMsgUs ?? 0,
    clientBusyPct: (r.clientBusy ?? 0) * 100,
    verified: r.verified,
    errors: r.errors,
  };
}

export async function wsDeflate(ctx: BenchContext): Promise<Table[]> {
  const runs = new Map<OfferName, Map<string, Record<string, number>[]>>(MODES.map((m) => [m.offer, new Map([[LABEL['capstan-ws'], []], [LABEL.ws, []]])]));
  const rounds = Math.max(2, ctx.rounds);
  for (let round = 0; round < rounds; round++) {
    for (const [i, mode] of MODES.entries()) {
      const order: Kind[] = (round + i) % 2 === 0 ? ['capstan-ws', 'ws'] : ['ws', 'capstan-ws'];
      for (const kind of order) {
        const server = await startNodeServer(kind, 'deflate', ctx.pin);
        try {
          const memory = await holdRun(ctx, server, mode.offer);
          const echo = await echoRun(ctx, server, mode.offer);
          const values = { ...echo, ...memory, errors: (echo.errors ?? 0) + (memory.holdErrors ?? 0) };
          runs.get(mode.offer)?.get(LABEL[kind])?.push(values);
          ctx.log(`  ws-deflate round ${round + 1}/${rounds} ${mode.offer.padEnd(10)} ${LABEL[kind].padEnd(10)} ${Object.entries(values).map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`).join(' ')}`);
        } finally {
          await server.stop();
        }
      }
    }
  }
  return MODES.map((mode) => {
    const r = runs.get(mode.offer) as Map<string, Record<string, number>[]>;
    const t = summarize(
      `ws-deflate ${mode.offer}`,
      `permessage-deflate, ${mode.title}: level 1, 15-bit windows, ~1.2 KB JSON text; echo at ${ECHO_CONNS} connections × ${DEPTH} in flight, memory at ${HELD.toLocaleString('en-US')} connections with one message echoed each`,
      'ws-deflate-client (Node, precompressed frames, CPU 1)',
      metrics(),
      r,
    );
    t.notes = pairedNotes(r);
    return t;
  });
}

/** Each round's Capstan ÷ ws, and ws's round 1 ÷ round 2 (the A/A control), for msgs/s and RSS/conn. */
function pairedNotes(r: Map<string, Record<string, number>[]>): string[] {
  const capstan = r.get(LABEL['capstan-ws']) ?? [];
  const ws = r.get(LABEL.ws) ?? [];
  return (['msgsPerSec', 'bytesPerConn'] as const).map((key) => {
    const paired = capstan.map((c, i) => ((ws[i]?.[key] ?? 0) > 0 ? (c[key] ?? 0) / (ws[i]?.[key] as number) : 0));
    const aa = ws.length >= 2 && (ws[1]?.[key] ?? 0) > 0 ? (ws[0]?.[key] ?? 0) / (ws[1]?.[key] as number) : 0;
    return `${key === 'msgsPerSec' ? 'msgs/s' : 'RSS/conn'} capstan ÷ ws by round: ${paired.map((p) => `${p.toFixed(2)}×`).join(', ')} (A/A: ws round 1 ÷ round 2 = ${aa.toFixed(2)}×)`;
  });
}
