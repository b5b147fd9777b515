/**
 * UDP fixture servers for the load client's tests: a raw `dgram` socket on
 * loopback whose answer to each datagram is decided by a function (echo,
 * drop, corrupt, delay, pack two replies into one), and Capstan's UDP echo.
 */
import dgram from 'node:dgram';
import { codecFromName } from '../../src/codecs/registry.js';
import { listen, silentLogger, type UdpServer } from '../../src/index.js';

export interface UdpFixture {
  readonly port: number;
  readonly target: string;
  /** Datagrams received. */
  received: number;
  close(): Promise<void>;
}

/**
 * What the server does with datagram number `n` (1-based, over every peer):
 * return the datagram (or another buffer) to answer at once, `null` to drop it,
 * or `{ reply, afterMs }` to answer later.
 */
export type UdpAnswer = (datagram: Buffer, n: number, from: dgram.RemoteInfo) => Buffer | null | { reply: Buffer; afterMs: number };

/** A raw `dgram` server answering each datagram as `answer` says. */
export async function dgramServer(answer: UdpAnswer, host = '127.0.0.1'): Promise<UdpFixture> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const timers = new Set<NodeJS.Timeout>();
  const f = {
    port: 0,
    target: '',
    received: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        socket.close(() => resolve());
      }),
  };
  socket.on('message', (m, r) => {
    const out = answer(m, ++f.received, r);
    if (out === null) return;
    if (Buffer.isBuffer(out)) return void socket.send(out, r.port, r.address);
    const t = setTimeout(() => {
      timers.delete(t);
      socket.send(out.reply, r.port, r.address);
    }, out.afterMs);
    timers.add(t);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const port = socket.address().port;
  return Object.assign(f, { port, target: `udp://${host.includes(':') ? `[${host}]` : host}:${port}` });
}

/** The naive echo every UDP benchmark compares with. */
export const dgramEcho = (host?: string): Promise<UdpFixture> => dgramServer((m) => m, host);

/**
 * Answers datagrams in pairs per peer: the first is held, and with the second
 * both go back in one datagram (for a framing, two records in one reply).
 */
export function pairingServer(): Promise<UdpFixture> {
  const held = new Map<string, Buffer>();
  return dgramServer((m, _n, r) => {
    const key = `${r.address}:${r.port}`;
    const first = held.get(key);
    if (first === undefined) {
      held.set(key, Buffer.from(m));
      return null;
    }
    held.delete(key);
    return Buffer.concat([first, m]);
  });
}

/** Capstan's UDP echo with the named framing inside each datagram, rate limits high enough for a test's load. */
export async function capstanUdpEcho(framing = 'raw', host = '127.0.0.1'): Promise<UdpFixture & { server: UdpServer }> {
  const server = await listen({
    transport: 'udp',
    host,
    port: 0,
    codec: codecFromName(framing),
    logger: silentLogger,
    limits: { datagramsPerSecond: 1_000_000, bytesPerSecond: 1 << 30, addressDatagramsPerSecond: 1_000_000, addressBytesPerSecond: 1 << 30 },
    handler: {
      message(session, datagram) {
        session.send(datagram);
      },
    },
  });
  return {
    port: server.address.port,
    target: server.url,
    get received() {
      return server.stats().udp?.datagramsIn ?? 0;
    },
    server,
    close: async () => {
      await server.close({ graceMs: 200, quietMs: 10 });
    },
  };
}
