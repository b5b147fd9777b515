/**
 * A benchmark server, run as a child process so its CPU time and memory are
 * its own: `node --expose-gc dist/bench/server.js capstan lp4` (a Capstan echo
 * through the whole pipeline with that framing) or `… net` (the naive raw
 * `net` echo: `socket.on('data', d => socket.write(d))`, no framing at all).
 * Filters follow the framing after `+`: `lp4+pass` (one pass-through filter),
 * `lp4+pass+pass`, `lp4+deflate`, `lp4+brotli`. UDP: `… capstan-udp raw` (Capstan's
 * UDP echo, sessions and rate limits on with a high bound, bench/udp-servers.ts) and
 * `… dgram` (the naive `dgram` echo). The WebSocket echoes (`capstan-ws`, `ws`)
 * take `deflate` for permessage-deflate (ws-servers.ts).
 *
 * It reports `{ port }` over IPC, answers `{ cmd: 'stats', gc }` with its RSS
 * and CPU time, and exits when the parent disconnects.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { codecFromName } from '../src/codecs/registry.js';
import { compression, listen, passThrough, silentLogger, type Filter } from '../src/index.js';
import { startWebSocketServer } from './ws-servers.js';
import { startUdpServer } from './udp-servers.js';

function filterFromName(name: string): Filter {
  if (name === 'pass') return passThrough();
  if (name === 'deflate' || name === 'brotli' || name === 'zstd') return compression({ algorithm: name });
  throw new Error(`unknown filter ${name} (pass, deflate, brotli, zstd)`);
}

export interface ServerStats {
  rssBytes: number;
  /** V8 heap in use plus ArrayBuffer memory (Buffers), bytes. */
  heapBytes: number;
  /** User + system CPU time since start, µs. */
  cpuUs: number;
  /** Connections open now. */
  connections: number;
  /** Read and write system calls since start (/proc/self/io; 0 where it cannot be read). */
  reads: number;
  writes: number;
  /** Bytes written to sockets and frames sent since start (Capstan servers; 0 for the raw echo). */
  bytesOut: number;
  framesOut: number;
  /** zlib contexts held for permessage-deflate (WebSocket echoes with deflate; 0 otherwise). */
  zlibContexts: number;
}

function syscalls(): { reads: number; writes: number } {
  try {
    const io = readFileSync('/proc/self/io', 'utf8');
    return { reads: Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0), writes: Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0) };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/** Open connections, read when stats are asked for. */
let openConnections = (): number => 0;
let traffic = (): { bytesOut: number; framesOut: number } => ({ bytesOut: 0, framesOut: 0 });
let zlibContexts = (): number => 0;

async function start(kind: string, spec: string): Promise<number> {
  if (kind === 'capstan') {
    const [framing = 'lp4', ...filters] = spec.split('+');
    const server = await listen({
      port: 0,
      codec: codecFromName(framing),
      ...(filters.length > 0 ? { filters: filters.map(filterFromName) } : {}),
      logger: silentLogger,
      // Defaults, except the connection-count limits: the raw baseline has none, and the idle run holds 10,000.
      limits: { maxConnections: 100_000, maxConnectionsPerAddress: 100_000 },
      handler: {
        message(conn, frame) {
          conn.send(frame);
        },
      },
    });
    openConnections = () => server.connectionCount;
    traffic = () => {
      const st = server.stats();
      return { bytesOut: st.bytesOut, framesOut: st.framesOut };
    };
    return (server.address as { port: number }).port;
  }
  if (kind === 'net') {
    let open = 0;
    const server = net.createServer({ noDelay: true }, (socket) => {
      open++;
      socket.on('data', (d) => socket.write(d));
      socket.on('error', () => {});
      socket.on('close', () => open--);
    });
    openConnections = () => open;
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, resolve));
    return (server.address() as net.AddressInfo).port;
  }
  if (kind === 'capstan-udp' || kind === 'dgram') {
    const s = await startUdpServer(kind, spec);
    openConnections = s.sessions;
    return s.port;
  }
  if (kind === 'capstan-ws' || kind === 'ws') {
    const s = await startWebSocketServer(kind, spec === 'deflate');
    openConnections = s.open;
    zlibContexts = s.zlibContexts;
    return s.port;
  }
  throw new Error(`unknown server kind ${kind}`);
}

const [kind = 'capstan', framing = 'lp4'] = process.argv.slice(2);
start(kind, framing).then(
  (port) => {
    process.on('message', (m: { cmd?: string; gc?: boolean }) => {
      if (m.cmd !== 'stats') return;
      const gc = (globalThis as { gc?: () => void }).gc;
      if (m.gc === true && gc !== undefined) {
        gc();
        gc();
      }
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      process.send?.({ rssBytes: mem.rss, heapBytes: mem.heapUsed + mem.arrayBuffers, cpuUs: cpu.user + cpu.system, connections: openConnections(), ...syscalls(), ...traffic(), zlibContexts: zlibContexts() } satisfies ServerStats);
    });
    process.on('disconnect', () => process.exit(0));
    process.send?.({ port });
  },
  (err: unknown) => {
    process.stderr.write(`bench server: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
