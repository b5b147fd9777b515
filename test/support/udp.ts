/** A UDP peer for tests: a real socket that keeps what it receives and can wait for it. */
import dgram from 'node:dgram';

export interface UdpPeer {
  socket: dgram.Socket;
  /** The local port the server sees. */
  port: number;
  /** Every datagram received, in order. */
  received: Buffer[];
  /** Sends one datagram to the server. */
  send(data: Buffer | string): Promise<void>;
  /** Resolves once `n` datagrams in all have arrived; fails after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

export interface UdpPeerOptions {
  /** Local address to send from (127.0.0.2 … to look like another host). Default 127.0.0.1. */
  localAddress?: string;
  /** Server address. Default 127.0.0.1. */
  host?: string;
}

export async function udpPeer(serverPort: number, options: UdpPeerOptions = {}): Promise<UdpPeer> {
  const host = options.host ?? '127.0.0.1';
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const received: Buffer[] = [];
  let waiters: Array<() => void> = [];
  socket.on('message', (m: Buffer) => {
    received.push(m);
    for (const w of waiters) w();
  });
  // A peer that closed draws ICMP replies the test does not care about.
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, options.localAddress ?? (host.includes(':') ? '::1' : '127.0.0.1'), resolve));
  let closed = false;
  return {
    socket,
    port: socket.address().port,
    received,
    send: (data) => new Promise<void>((resolve, reject) => socket.send(data, serverPort, host, (err) => (err ? reject(err) : resolve()))),
    waitFor(n, timeoutMs = 20_000) {
      return new Promise<Buffer[]>((resolve, reject) => {
        const check = () => {
          if (received.length < n) return;
          waiters = waiters.filter((w) => w !== check);
          clearTimeout(timer);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          reject(new Error(`timed out waiting for ${n} datagrams (got ${received.length})`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
