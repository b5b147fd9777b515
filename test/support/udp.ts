/** A UDP peer for tests: a real socket that keeps what it receives and can wait for it. */
import dgram from 'node:dgram';
import { encodeProxyV2 } from '../../src/index.js';

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

/**
 * A `createSocket` for listeners and clients whose sends fail on demand:
 * `fault` sees each send's destination and returns an error code to fail it
 * with (reported to the send's callback on the next tick, shaped as Node
 * reports a failed send: code, syscall, and on an unconnected socket address
 * and port), or null to send it for real. Loopback never runs out of buffers
 * and the kernel does not report ICMP errors to an unconnected socket, so
 * these paths can only be reached this way.
 */
export function faultySocket(fault: (address: string, port: number) => string | null): { create: (options: dgram.SocketOptions) => dgram.Socket; calls: () => number; socket: () => dgram.Socket } {
  let calls = 0;
  let made: dgram.Socket | undefined;
  type Callback = (err: Error | null, bytes?: number) => void;
  return {
    calls: () => calls,
    socket: () => made as dgram.Socket,
    create(options) {
      const socket = dgram.createSocket(options);
      made = socket;
      const send = socket.send.bind(socket) as (...args: unknown[]) => void;
      // A connected socket's sends name no destination: send(msg, cb).
      socket.send = ((msg: Buffer | Buffer[], portOrCb: number | Callback, address?: string, cb?: Callback) => {
        calls++;
        const connected = typeof portOrCb === 'function';
        const peer = connected ? socket.remoteAddress() : { address: address as string, port: portOrCb };
        const callback = (connected ? portOrCb : cb) as Callback;
        const code = fault(peer.address, peer.port);
        if (code === null) return connected ? send(msg, callback) : send(msg, portOrCb, address, callback);
        const err = Object.assign(new Error(`send ${code} ${peer.address}:${peer.port}`), connected ? { code, syscall: 'send' } : { code, syscall: 'send', address: peer.address, port: peer.port });
        // As Node does, a send without a callback fails unseen.
        if (callback !== undefined) process.nextTick(callback, err);
      }) as typeof socket.send;
      return socket;
    },
  };
}

/** A plain `dgram` echo on 127.0.0.1 (or ::1), as a peer that is not Capstan: `drop(n)` makes it ignore the next n datagrams. */
export async function rawEcho(host = '127.0.0.1'): Promise<{ port: number; received: () => number; drop: (n: number) => void; close: () => Promise<void> }> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let received = 0;
  let dropping = 0;
  socket.on('message', (m, r) => {
    received++;
    if (dropping > 0) return void dropping--;
    socket.send(m, r.port, r.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return {
    port: socket.address().port,
    received: () => received,
    drop: (n) => void (dropping = n),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** True when nothing holds UDP `port` on 127.0.0.1. */
export function udpPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ port, address: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Sends one datagram to 127.0.0.1:`port` and resolves with the first answer. */
export async function udpEcho(port: number, payload: string): Promise<string> {
  const peer = await udpPeer(port);
  try {
    await peer.send(payload);
    return String((await peer.waitFor(1))[0]);
  } finally {
    await peer.close();
  }
}

/** A datagram as a UDP proxy relays it: a v2 header naming the client, then the client's payload. */
export function relayed(client: string, clientPort: number, payload: string | Buffer, options: { local?: boolean; tlvs?: Array<{ type: number; value: Buffer }>; checksum?: boolean } = {}): Buffer {
  const v6 = client.includes(':');
  const header = encodeProxyV2({
    command: options.local === true ? 'local' : 'proxy',
    transport: v6 ? 'udp6' : 'udp4',
    source: { address: client, port: clientPort },
    destination: { address: v6 ? '2001:db8::1' : '192.0.2.1', port: 53 },
    ...(options.tlvs !== undefined ? { tlvs: options.tlvs } : {}),
    ...(options.checksum === true ? { checksum: true } : {}),
  });
  return Buffer.concat([header, typeof payload === 'string' ? Buffer.from(payload) : payload]);
}

/**
 * Closes what a test opened even when it fails, so a failed assertion cannot
 * leave sockets that keep the test process alive: register with `track`, and
 * call `closeTracked` in `afterEach`.
 */
const tracked: Array<{ close(): Promise<unknown> }> = [];

export function track<T extends { close(): Promise<unknown> }>(thing: T): T {
  tracked.push(thing);
  return thing;
}

export async function closeTracked(): Promise<void> {
  await Promise.all(tracked.splice(0).map((t) => t.close()));
}
