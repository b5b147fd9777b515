/**
 * The WebSocket echo servers the benchmark compares: Capstan's, and the `ws`
 * package's as its users run it (bufferutil loaded, `perMessageDeflate: false`).
 * Both answer every message with the same opcode.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { listen, silentLogger } from '../src/index.js';

export async function startWebSocketServer(kind: 'capstan-ws' | 'ws'): Promise<{ port: number; open: () => number }> {
  if (kind === 'capstan-ws') {
    const server = await listen({
      port: 0,
      logger: silentLogger,
      limits: { maxConnections: 100_000, maxConnectionsPerAddress: 100_000 },
      websocket: {
        handler: {
          message(ws, data, isBinary) {
            ws.send(data, isBinary);
          },
        },
      },
    });
    return { port: (server.address as { port: number }).port, open: () => server.connectionCount };
  }
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => http.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, resolve));
  return { port: (http.address() as AddressInfo).port, open: () => wss.clients.size };
}
