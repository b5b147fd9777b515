/**
 * What stream compression costs and saves: the lp4 echo through a compression
 * filter against the same echo without one, both loaded by the same Node
 * client (a C load generator cannot speak DEFLATE), in this process on CPU 1.
 *
 * Messages are JSON quotes of about 170 bytes, the shape of a trading or
 * telemetry feed: field names repeat, values vary, so they compress as real
 * feeds do (not as runs of one byte would). Each connection keeps 8 in flight.
 *
 * Reported per contender: messages per second, the server's CPU per message,
 * wire bytes per message out (what the server wrote ÷ frames it sent) and the
 * compression ratio (plain ÷ wire), and the server's RSS growth per idle
 * connection with the filter's session open on both streams.
 */
import { compression, connect, lengthPrefixed, type Client, type Filter } from '../src/index.js';
import { startNodeServer, type BenchServer } from './procs.js';
import type { BenchContext, Table } from './scenarios.js';
import { summarize } from './scenarios.js';

const SYMBOLS = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'META', 'TSLA', 'BRK.B', 'JPM', 'V'];

/** A quote: ~170 bytes of JSON whose values change from message to message. */
function quote(seq: number): Buffer {
  const price = 100 + ((seq * 7919) % 50_000) / 100;
  return Buffer.from(
    JSON.stringify({
      type: 'quote',
      seq,
      symbol: SYMBOLS[seq % SYMBOLS.length],
      bid: price.toFixed(2),
      ask: (price + 0.01).toFixed(2),
      bidSize: (seq * 31) % 1000,
      askSize: (seq * 17) % 1000,
      exchange: 'XNAS',
      ts: 1_764_700_000_000 + seq,
    }),
  );
}

function clientFilters(name: string): Filter[] {
  if (name === 'lp4') return [];
  const algorithm = name.split('+')[1] as 'deflate' | 'brotli';
  return [compression({ algorithm })];
}

interface Drive {
  msgs: number;
  plainBytes: number;
  errors: number;
}

/** `conns` connections, `depth` quotes in flight each, for `seconds`: counts echoes. */
async function drive(port: number, spec: string, conns: number, depth: number, seconds: number): Promise<Drive> {
  const out: Drive = { msgs: 0, plainBytes: 0, errors: 0 };
  let running = true;
  let seq = 0;
  const clients: Client[] = [];
  for (let i = 0; i < conns; i++) {
    clients.push(
      await connect({
        port,
        codec: lengthPrefixed(),
        filters: clientFilters(spec),
        handler: {
          open(conn) {
            for (let d = 0; d < depth; d++) conn.send(quote(seq++));
          },
          message(conn, frame) {
            out.msgs++;
            out.plainBytes += frame.length;
            if (running) conn.send(quote(seq++));
          },
          close(_conn, reason) {
            if (running && reason !== 'local-end') out.errors++;
          },
        },
      }),
    );
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  await Promise.all(clients.map((c) => c.close()));
  return out;
}

/** Holds `n` connections, each having sent one quote (so both streams started), and reads the server's RSS growth per connection. */
async function idleMemory(server: BenchServer, spec: string, n: number): Promise<number> {
  const base = await server.stats(true);
  const clients: Client[] = [];
  let answered = 0;
  for (let i = 0; i < n; i++) {
    clients.push(await connect({ port: server.port, codec: lengthPrefixed(), filters: clientFilters(spec), handler: { open: (c) => void c.send(quote(i)), message: () => void answered++ } }));
  }
  const until = Date.now() + 30_000;
  while (answered < n && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const held = await server.stats(true);
  await Promise.all(clients.map((c) => c.close()));
  return (held.rssBytes - base.rssBytes) / Math.max(1, held.connections);
}

export async function compressionScenario(ctx: BenchContext): Promise<Table[]> {
  const specs = ['lp4+deflate', 'lp4+brotli', 'lp4'];
  const runs = new Map<string, Record<string, number>[]>(specs.map((s) => [`capstan ${s}`, []]));
  const conns = 50;
  const depth = 8;
  // Under the default 512 MiB compression budget at brotli's estimate (about 1 MiB a session).
  const idleConns = 400;
  for (let round = 0; round < ctx.rounds; round++) {
    const order = round % 2 === 0 ? specs : [...specs].reverse();
    for (const spec of order) {
      const server = await startNodeServer('capstan', spec, ctx.pin);
      try {
        await drive(server.port, spec, conns, depth, ctx.warmupSec);
        const before = await server.stats();
        const d = await drive(server.port, spec, conns, depth, ctx.seconds);
        const after = await server.stats();
        const framesOut = after.framesOut - before.framesOut;
        const wirePerMsg = framesOut > 0 ? (after.bytesOut - before.bytesOut) / framesOut : 0;
        const plainPerMsg = d.msgs > 0 ? d.plainBytes / d.msgs + 4 : 0;
        const values = {
          msgsPerSec: d.msgs / ctx.seconds,
          cpuPerMsgUs: d.msgs > 0 ? (after.cpuUs - before.cpuUs) / d.msgs : 0,
          wireBytesPerMsg: wirePerMsg,
          compressionRatio: wirePerMsg > 0 ? plainPerMsg / wirePerMsg : 0,
          bytesPerConn: await idleMemory(server, spec, idleConns),
          errors: d.errors,
        };
        runs.get(`capstan ${spec}`)?.push(values);
        ctx.log(`  compression round ${round + 1}/${ctx.rounds} ${spec.padEnd(12)} ${Object.entries(values).map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`).join(' ')}`);
      } finally {
        await server.stop();
      }
    }
  }
  const t = summarize(
    'compression',
    `lp4 echo of ~170-byte JSON quotes through deflate and brotli vs no filter: ${conns} connections, ${depth} in flight; memory at ${idleConns.toLocaleString('en-US')} idle connections`,
    'Capstan connect clients (in process)',
    [
      { key: 'msgsPerSec', label: 'msgs/s', unit: 'count', higherIsBetter: true },
      { key: 'cpuPerMsgUs', label: 'CPU/msg', unit: 'us', higherIsBetter: false },
      { key: 'wireBytesPerMsg', label: 'wire B/msg', unit: 'count', higherIsBetter: false },
      { key: 'compressionRatio', label: 'ratio', unit: 'ratio', higherIsBetter: true },
      { key: 'bytesPerConn', label: 'RSS/conn', unit: 'bytes', higherIsBetter: false },
      { key: 'errors', label: 'errors', unit: 'count', higherIsBetter: false },
    ],
    runs,
  );
  return [t];
}
