/** Small helpers for tests that talk to servers over real sockets. */
import net from 'node:net';
import { once } from 'node:events';

/** A raw client socket that collects everything it receives. */
export interface RawPeer {
  socket: net.Socket;
  received(): Buffer;
  /** Resolves once at least `n` bytes have arrived; rejects if the connection ends with fewer. */
  waitBytes(n: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves when the socket is fully closed; gives how the server closed it. */
  closed: Promise<'end' | 'reset' | 'close'>;
  /** Resolves when the server's FIN arrives ('end') or the connection resets ('reset'). */
  ended: Promise<'end' | 'reset'>;
}

export async function rawConnect(options: net.NetConnectOpts): Promise<RawPeer> {
  const socket = net.connect({ allowHalfOpen: true, ...options } as net.NetConnectOpts);
  const chunks: Buffer[] = [];
  let total = 0;
  let waiters: Array<() => void> = [];
  let how: 'end' | 'reset' | 'close' = 'close';
  // Once the peer has ended (or the socket is gone) no more bytes can come, so waiting would only run out the clock.
  let finished = false;
  const finish = () => {
    finished = true;
    for (const w of waiters) w();
  };
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    total += d.length;
    for (const w of waiters) w();
  });
  let resolveEnded!: (how: 'end' | 'reset') => void;
  const ended = new Promise<'end' | 'reset'>((r) => (resolveEnded = r));
  socket.on('end', () => {
    how = 'end';
    resolveEnded('end');
    finish();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      how = 'reset';
      resolveEnded('reset');
    }
  });
  const closed = new Promise<'end' | 'reset' | 'close'>((resolve) => socket.once('close', () => resolve(how)));
  socket.once('close', finish);
  await once(socket, 'connect');
  return {
    socket,
    received: () => Buffer.concat(chunks),
    waitBytes(n, timeoutMs = 30_000) {
      return new Promise<Buffer>((resolve, reject) => {
        const check = () => {
          if (total < n && !finished) return;
          waiters = waiters.filter((w) => w !== check);
          clearTimeout(timer);
          if (total >= n) resolve(Buffer.concat(chunks));
          else reject(new Error(`the connection ended after ${total} of the ${n} bytes waited for`));
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          reject(new Error(`timed out waiting for ${n} bytes (got ${total})`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    closed,
    ended,
  };
}

/** Polls `predicate` until true, or fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A 4-byte big-endian length-prefixed frame. */
export function lp4(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

export function portOf(server: { address: { port: number } | { path: string } }): number {
  const a = server.address;
  if (!('port' in a)) throw new Error('not a TCP listener');
  return a.port;
}

/** Connects and waits for the server to turn the connection away; resolves how it ended. */
export function connectExpectingRefusal(options: net.NetConnectOpts, timeoutMs = 10_000): Promise<'reset' | 'end'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    let how: 'reset' | 'end' | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server kept the connection open'));
    }, timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') how ??= 'reset';
    });
    socket.on('end', () => {
      how ??= 'end';
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (how === null) reject(new Error('closed without end or reset'));
      else resolve(how);
    });
  });
}
