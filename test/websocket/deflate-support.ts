/** Helpers for permessage-deflate tests: an echo server with deflate on, and compression done by the test's own zlib calls. */
import zlib from 'node:zlib';
import { listen, silentLogger, websocket, type CloseReason, type PerMessageDeflateOptions, type Server, type WebSocketServerOptions } from '../../src/index.js';
import { portOf } from '../support/net.js';

const Z = zlib.constants;
export const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One message compressed on its own, as RFC 7692 §7.2.1 puts it on the wire. */
export function compress(plain: Buffer | string, windowBits = 15): Buffer {
  const z = zlib.deflateRawSync(typeof plain === 'string' ? Buffer.from(plain) : plain, { finishFlush: Z.Z_SYNC_FLUSH, windowBits });
  return z.subarray(0, z.length - 4);
}

/** One message inflated on its own. */
export function inflate(wire: Buffer, windowBits = 15): Buffer {
  return zlib.inflateRawSync(Buffer.concat([wire, TRAILER]), { finishFlush: Z.Z_SYNC_FLUSH, windowBits });
}

/** A deflate stream kept between messages (context takeover), message by message. */
export function contextCompressor(windowBits = 15): (plain: Buffer | string) => Promise<Buffer> {
  const d = zlib.createDeflateRaw({ flush: Z.Z_SYNC_FLUSH, windowBits });
  let chunks: Buffer[] = [];
  d.on('data', (c: Buffer) => chunks.push(c));
  return (plain) =>
    new Promise((resolve) =>
      d.write(plain, () => {
        const z = Buffer.concat(chunks);
        chunks = [];
        resolve(z.subarray(0, z.length - 4));
      }),
    );
}

/** An inflate stream kept between messages: it fails on a back-reference past its window across messages. */
export function contextInflater(windowBits = 15): (wire: Buffer) => Promise<Buffer> {
  const i = zlib.createInflateRaw({ flush: Z.Z_SYNC_FLUSH, windowBits });
  let chunks: Buffer[] = [];
  // A broken stream emits 'error' and may never call the write's callback.
  let fail: (e: Error) => void = () => {};
  i.on('data', (c: Buffer) => chunks.push(c));
  i.on('error', (e: Error) => fail(e));
  return (wire) =>
    new Promise((resolve, reject) => {
      fail = reject;
      i.write(Buffer.concat([wire, TRAILER]), (err) => {
        if (err != null) return reject(err);
        const out = Buffer.concat(chunks);
        chunks = [];
        resolve(out);
      });
    });
}

export interface EchoServer {
  server: Server;
  port: number;
  closes: Array<{ code: number; cause: CloseReason; error?: Error }>;
  close(): Promise<void>;
}

/** A Capstan echo (same opcode back) with `perMessageDeflate` as given. */
export async function deflateEcho(perMessageDeflate: boolean | PerMessageDeflateOptions, extra: Partial<WebSocketServerOptions> = {}): Promise<EchoServer> {
  const closes: EchoServer['closes'] = [];
  const server = await listen({
    port: 0,
    host: '127.0.0.1',
    logger: silentLogger,
    websocket: websocket({
      perMessageDeflate,
      handler: {
        message(ws, data, isBinary) {
          ws.send(data, isBinary);
        },
        close(_ws, code, _reason, cause, error) {
          closes.push(error === undefined ? { code, cause } : { code, cause, error });
        },
      },
      ...extra,
    } as WebSocketServerOptions),
  });
  return { server, port: portOf(server), closes, close: () => server.close().then(() => undefined) };
}

/** The `Sec-WebSocket-Extensions` line of a response head, or undefined. */
export function extensionsOf(response: string): string | undefined {
  return /\r\nSec-WebSocket-Extensions: ([^\r]*)\r\n/i.exec(response)?.[1];
}
