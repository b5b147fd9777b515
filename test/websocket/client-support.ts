/** Helpers for WebSocket client tests: a recording client handler, and a hand-made server that answers upgrades as told and reads masked frames. */
import net from 'node:net';
import { once } from 'node:events';
import type { CloseReason, ReconnectInfo, WebSocketClientHandler, ClientWebSocket } from '../../src/index.js';
import { expectedAccept, parseFrames, type WireFrame } from './support.js';

export interface ClientClose {
  code: number;
  reason: string;
  cause: CloseReason;
  error?: Error;
}

/** A client handler that records what happens; `until` waits for a condition on it (10 s at most). */
export function recorder<D = unknown>(extra: Partial<WebSocketClientHandler<D>> = {}) {
  const r = {
    opens: 0,
    messages: [] as Array<{ data: Buffer; isBinary: boolean }>,
    pings: [] as string[],
    pongs: [] as string[],
    closes: [] as ClientClose[],
    retries: [] as ReconnectInfo[],
    handler: {
      open(ws: ClientWebSocket<D>) {
        r.opens++;
        extra.open?.(ws);
      },
      message(ws: ClientWebSocket<D>, data: Buffer, isBinary: boolean) {
        r.messages.push({ data: Buffer.from(data), isBinary });
        extra.message?.(ws, data, isBinary);
      },
      ping(_ws: ClientWebSocket<D>, p: Buffer) {
        r.pings.push(p.toString());
      },
      pong(_ws: ClientWebSocket<D>, p: Buffer) {
        r.pongs.push(p.toString());
      },
      close(ws: ClientWebSocket<D>, code: number, reason: string, cause: CloseReason, error?: Error) {
        r.closes.push(error === undefined ? { code, reason, cause } : { code, reason, cause, error });
        extra.close?.(ws, code, reason, cause, error);
      },
      reconnecting(info: ReconnectInfo) {
        r.retries.push(info);
      },
    } satisfies WebSocketClientHandler<D>,
    async until(ok: () => boolean, what = 'condition'): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((res) => setTimeout(res, 5));
      }
    },
  };
  return r;
}

/** An unmasked server frame. */
export function serverFrame(op: number, payload: Buffer | string = Buffer.alloc(0), fin = true): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = body.length;
  const head = Buffer.alloc(n < 126 ? 2 : n < 65536 ? 4 : 10);
  head[0] = (fin ? 0x80 : 0) | op;
  if (n < 126) head[1] = n;
  else if (n < 65536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, body]);
}

/** One connection the hand-made server accepted: the request it read, and everything after. */
export interface HandPeer {
  socket: net.Socket;
  request: string;
  headers: Record<string, string>;
  /** Bytes received after the request head. */
  after(): Buffer;
  /** Waits until at least `n` whole client frames arrived (or the client ended) and returns them. */
  frames(n: number): Promise<WireFrame[]>;
  /** Resolves when the client's FIN arrives, or the connection is gone. */
  ended: Promise<void>;
  clientEnded: () => boolean;
}

/**
 * A server written by hand: it reads the upgrade request and answers it with
 * `respond(key, headers)` (by default a correct 101), then leaves the socket
 * to the test.
 */
export async function handServer(respond: (key: string, headers: Record<string, string>) => string = (key) => good101(key)) {
  const peers: HandPeer[] = [];
  const waiters: Array<() => void> = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let buf = Buffer.alloc(0);
    let headEnd = -1;
    let ended = false;
    let resolveEnded!: () => void;
    const endedP = new Promise<void>((r) => (resolveEnded = r));
    socket.on('end', () => {
      ended = true;
      resolveEnded();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolveEnded());
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (headEnd >= 0) return;
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      headEnd = i + 4;
      const request = buf.subarray(0, i).toString('latin1');
      const headers: Record<string, string> = {};
      for (const line of request.split('\r\n').slice(1)) {
        const c = line.indexOf(':');
        headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
      }
      const peer: HandPeer = {
        socket,
        request,
        headers,
        after: () => buf.subarray(headEnd),
        async frames(n) {
          const deadline = Date.now() + 10_000;
          for (;;) {
            const { frames } = parseFrames(buf.subarray(headEnd));
            if (frames.length >= n || ended || socket.destroyed || Date.now() > deadline) return frames;
            await new Promise((r) => setTimeout(r, 5));
          }
        },
        ended: endedP,
        clientEnded: () => ended,
      };
      peers.push(peer);
      // latin1: a frame appended to the answer as text keeps its bytes.
      socket.write(Buffer.from(respond(headers['sec-websocket-key'] ?? '', headers), 'latin1'));
      for (const w of waiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    peers,
    async peer(i = 0): Promise<HandPeer> {
      const deadline = Date.now() + 10_000;
      while (peers.length <= i) {
        if (Date.now() > deadline) throw new Error('no upgrade request arrived');
        await new Promise<void>((r) => (waiters.push(r), setTimeout(r, 20)));
      }
      return peers[i] as HandPeer;
    },
    async close(): Promise<void> {
      for (const p of peers) p.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export function good101(key: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${expectedAccept(key)}\r\n${extra}\r\n`;
}
