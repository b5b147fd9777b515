/**
 * Fixture servers for the load client's tests: real sockets on loopback, each
 * with one behaviour (echo and count, corrupt, delay, stay silent, close early).
 */
import net from 'node:net';
import { codecFromName } from '../../src/codecs/registry.js';
import { listen, silentLogger, type Connection, type Logger, type Server } from '../../src/index.js';

export interface Fixture {
  readonly port: number;
  readonly target: string;
  /** Connections accepted so far, and open now. */
  accepted: number;
  open: number;
  /** Most connections open at once. */
  peak: number;
  /** Bytes received. */
  bytes: number;
  close(): Promise<void>;
}

export interface NetServerOptions {
  /** Keep a socket open when the client ends its side (the default ends ours too). */
  allowHalfOpen?: boolean;
  /** Called with each accepted socket. */
  onConnection?(socket: net.Socket): void;
}

/** A plain `net` server; `onData` decides what each socket does with its bytes. */
export async function netServer(onData: (socket: net.Socket, chunk: Buffer, f: Fixture) => void, options: NetServerOptions = {}): Promise<Fixture> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true, allowHalfOpen: options.allowHalfOpen === true });
  const f: Fixture = {
    port: 0,
    target: '',
    accepted: 0,
    open: 0,
    peak: 0,
    bytes: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket) => {
    sockets.add(socket);
    f.accepted++;
    f.open++;
    f.peak = Math.max(f.peak, f.open);
    socket.on('data', (chunk) => {
      f.bytes += chunk.length;
      onData(socket, chunk, f);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      f.open--;
    });
    options.onConnection?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(f, { port, target: `tcp://127.0.0.1:${port}` });
}

/** Echoes every byte. */
export const echoServer = (): Promise<Fixture> => netServer((s, chunk) => s.write(chunk));

/** Echoes, but flips byte number `at` of each connection's reply stream. */
export function corruptingServer(at: number): Promise<Fixture> {
  const seen = new WeakMap<net.Socket, number>();
  return netServer((s, chunk) => {
    const before = seen.get(s) ?? 0;
    seen.set(s, before + chunk.length);
    if (at >= before && at < before + chunk.length) {
      const copy = Buffer.from(chunk);
      copy[at - before] = (copy[at - before] as number) ^ 0xff;
      s.write(copy);
    } else s.write(chunk);
  });
}

/** Echoes each chunk after `ms` milliseconds. */
export const delayingServer = (ms: number): Promise<Fixture> => netServer((s, chunk) => setTimeout(() => s.writable && s.write(chunk), ms));

/** Reads and never answers. */
export const silentServer = (): Promise<Fixture> => netServer(() => undefined);

/**
 * Reads everything and, when the client's FIN arrives, does `atEnd` (nothing keeps
 * the connection half-open for good); with `read` false, never reads at all.
 */
export const finServer = (atEnd: (socket: net.Socket) => void, read = true): Promise<Fixture> =>
  netServer(() => undefined, { allowHalfOpen: true, onConnection: (s) => (read ? s.on('end', () => atEnd(s)) : s.pause()) });

/** Closes each connection as soon as the first bytes arrive. */
export const closingServer = (): Promise<Fixture> => netServer((s) => s.end());

export interface CapstanServerOptions {
  path?: string;
  logger?: Logger;
  /** Called as each connection opens (to pause it, say). */
  open?(conn: Connection): void;
}

/** How a fixture answers a frame: echo it (`true`), stay silent (`false`), or send what a function returns (nothing for undefined). */
export type Answer = boolean | ((frame: Buffer) => string | Buffer | undefined);

/** A Capstan listener with the named framing that counts frames and answers each as `answer` says. */
export async function capstanServer(framing: string, answer: Answer, options: CapstanServerOptions = {}): Promise<Fixture & { frames: number; server: Server }> {
  let frames = 0;
  const server = await listen({
    ...(options.path !== undefined ? { path: options.path } : { port: 0 }),
    codec: codecFromName(framing),
    logger: options.logger ?? silentLogger,
    limits: { maxConnections: 50_000, maxConnectionsPerAddress: 50_000 },
    handler: {
      open(conn) {
        options.open?.(conn);
      },
      message(conn, frame) {
        frames++;
        if (answer === true) conn.send(frame);
        else if (answer !== false) {
          const reply = answer(frame);
          if (reply !== undefined) conn.send(reply);
        }
      },
    },
  });
  const port = 'port' in server.address ? server.address.port : 0;
  return {
    port,
    target: options.path !== undefined ? `unix://${options.path}` : `tcp://127.0.0.1:${port}`,
    get accepted() {
      return server.stats().accepted;
    },
    get open() {
      return server.connectionCount;
    },
    peak: 0,
    bytes: 0,
    get frames() {
      return frames;
    },
    server,
    close: async () => {
      await server.close({ graceMs: 1000 });
    },
  };
}
