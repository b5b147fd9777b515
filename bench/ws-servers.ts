/**
 * The WebSocket echo servers the benchmark compares: Capstan's, and the `ws`
 * package's as its users run it (bufferutil loaded, `perMessageDeflate: false`).
 * Both answer every message with the same opcode.
 *
 * With `deflate` both offer permessage-deflate with the same settings: zlib
 * level 1 (Capstan's default; ws's is zlib's 6), memLevel 8, a 15-bit window,
 * a 1,024-byte threshold (both defaults) and 10 zlib jobs at once (both
 * defaults). Capstan's cap on zlib contexts (1,024 by default, past which new
 * sockets keep no window) is lifted, so each server keeps every window its
 * clients negotiate, as ws does.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { deflateUsage, listen, setDeflateLimits, silentLogger } from '../src/index.js';
import { DEFLATE_LEVEL, DEFLATE_MEM_LEVEL, DEFLATE_THRESHOLD } from './ws-deflate-train.js';

export interface WebSocketBenchServer {
  port: number;
  open: () => number;
  /** zlib streams the server holds for its sockets now (with deflate). */
  zlibContexts: () => number;
}

/** ws keeps each socket's zlib streams on its private extension object; only for counting them here. */
interface WsDeflateInternals {
  _extensions?: Record<string, { _deflate?: unknown; _inflate?: unknown } | undefined>;
}

function wsContexts(clients: Set<WebSocket>): number {
  let n = 0;
  for (const c of clients) {
    const pmd = (c as unknown as WsDeflateInternals)._extensions?.['permessage-deflate'];
    if (pmd?._deflate) n++;
    if (pmd?._inflate) n++;
  }
  return n;
}

export async function startWebSocketServer(kind: 'capstan-ws' | 'ws', deflate = false): Promise<WebSocketBenchServer> {
  if (kind === 'capstan-ws') {
    if (deflate) setDeflateLimits({ maxContexts: Number.MAX_SAFE_INTEGER });
    const server = await listen({
      port: 0,
      logger: silentLogger,
      limits: { maxConnections: 100_000, maxConnectionsPerAddress: 100_000 },
      websocket: {
        ...(deflate ? { perMessageDeflate: { level: DEFLATE_LEVEL, memLevel: DEFLATE_MEM_LEVEL, serverMaxWindowBits: 15, threshold: DEFLATE_THRESHOLD } } : {}),
        handler: {
          message(ws, data, isBinary) {
            ws.send(data, isBinary);
          },
        },
      },
    });
    return { port: (server.address as { port: number }).port, open: () => server.connectionCount, zlibContexts: () => deflateUsage().contexts };
  }
  const http = createServer();
  const perMessageDeflate = deflate ? { zlibDeflateOptions: { level: DEFLATE_LEVEL, memLevel: DEFLATE_MEM_LEVEL }, serverMaxWindowBits: 15, threshold: DEFLATE_THRESHOLD, concurrencyLimit: 10 } : false;
  const wss = new WebSocketServer({ server: http, perMessageDeflate });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => http.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, resolve));
  return { port: (http.address() as AddressInfo).port, open: () => wss.clients.size, zlibContexts: () => wsContexts(wss.clients) };
}
