/** Helpers for WebSocket tests: hand-made client frames, a raw handshake, and a reader of server frames. */
import { randomBytes, createHash } from 'node:crypto';
import { rawConnect, type RawPeer } from '../support/net.js';

export interface FrameSpec {
  op: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV bits as the top nibble's low three bits (0x40 = RSV1). */
  rsv?: number;
  /** Mask the frame (clients must). Default true. */
  mask?: boolean;
  /** Force the 16- or 64-bit length form. */
  lengthForm?: 7 | 16 | 64;
}

/** One frame as a client sends it (masked unless told otherwise). */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const n = payload.length;
  const form = spec.lengthForm ?? (n < 126 ? 7 : n < 65536 ? 16 : 64);
  const mask = spec.mask !== false;
  const head = Buffer.alloc(2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (mask ? 4 : 0));
  head[0] = (spec.fin === false ? 0 : 0x80) | (spec.rsv ?? 0) | spec.op;
  let at = 2;
  if (form === 7) head[1] = n;
  else if (form === 16) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
    at = 4;
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
    at = 10;
  }
  if (!mask) return Buffer.concat([head, payload]);
  head[1] = (head[1] as number) | 0x80;
  const key = randomBytes(4);
  key.copy(head, at);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([head, body]);
}

export function closeBody(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

export function upgradeRequest(path = '/', extra: Record<string, string> = {}, omit: string[] = []): string {
  const headers: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...extra,
  };
  for (const k of omit) delete headers[k];
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

export function expectedAccept(key = KEY): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

/** A frame as parsed by this independent reader, either direction. */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  op: number;
  masked: boolean;
  /** The masking key (empty when unmasked). */
  key: Buffer;
  /** The payload, unmasked. */
  payload: Buffer;
}

/** Parses frames from `bytes` (a masked one, as a client sends, is unmasked); returns the whole frames and the bytes left over. */
export function parseFrames(bytes: Buffer): { frames: WireFrame[]; rest: Buffer } {
  const frames: WireFrame[] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < 2) break;
    const b0 = bytes[at] as number;
    const b1 = bytes[at + 1] as number;
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      if (bytes.length - at < 4) break;
      len = bytes.readUInt16BE(at + 2);
      h = 4;
    } else if (len === 127) {
      if (bytes.length - at < 10) break;
      len = Number(bytes.readBigUInt64BE(at + 2));
      h = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const k = masked ? 4 : 0;
    if (bytes.length - at < h + k + len) break;
    const key = bytes.subarray(at + h, at + h + k);
    let payload = bytes.subarray(at + h + k, at + h + k + len);
    if (masked) {
      payload = Buffer.from(payload);
      for (let i = 0; i < len; i++) payload[i] = (payload[i] as number) ^ (key[i & 3] as number);
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: b0 & 0x70, op: b0 & 0x0f, masked, key, payload });
    at += h + k + len;
  }
  return { frames, rest: bytes.subarray(at) };
}

/** A raw client that did the handshake; reads the 101 response and the frames after it. */
export interface WsPeer {
  peer: RawPeer;
  response: string;
  send(...frames: Buffer[]): void;
  /** Waits until at least `n` frames have arrived (or the connection ends) and returns all so far. */
  frames(n: number, timeoutMs?: number): Promise<WireFrame[]>;
}

export async function wsConnect(port: number, path = '/', extra: Record<string, string> = {}): Promise<WsPeer> {
  // A WebSocket client closes TCP once the server has (RFC 6455 §7.1.1); a half-open peer would leave the server waiting out its linger.
  const peer = await rawConnect({ port, host: '127.0.0.1', allowHalfOpen: false });
  peer.socket.write(upgradeRequest(path, extra));
  const head = await waitFor(peer, (b) => b.indexOf('\r\n\r\n') >= 0);
  const end = head.indexOf('\r\n\r\n') + 4;
  const response = head.subarray(0, end).toString('latin1');
  if (!response.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${response}`);
  return {
    peer,
    response,
    send: (...f) => void peer.socket.write(Buffer.concat(f)),
    async frames(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { frames } = parseFrames(peer.received().subarray(end));
        if (frames.length >= n) return frames;
        if (peer.socket.destroyed || peer.socket.readableEnded || Date.now() > deadline) return frames;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** Waits until what the peer received satisfies `ok`, or the connection ends, or 10 s pass. */
export async function waitFor(peer: RawPeer, ok: (b: Buffer) => boolean, timeoutMs = 10_000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = peer.received();
    if (ok(b) || peer.socket.destroyed || peer.socket.readableEnded || Date.now() > deadline) return b;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The HTTP status line's code of a response. */
export function statusOf(response: Buffer | string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(response.toString());
  return m === null ? 0 : Number(m[1]);
}
