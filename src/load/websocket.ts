/**
 * `ws://` and `wss://` targets: the WebSocket framing of the load's messages
 * and the upgrade at connect, as a driver wrapped around the TCP and TLS ones.
 *
 * ```
 *   dial (tcp | tls) ─► connected ─► GET + Upgrade ─► 101 checked ─► ready ─► masked messages ⇄ unmasked echoes
 *                                                        └─ wrong or refused: ERR_WS_HANDSHAKE, the connection fails
 * ```
 *
 * Messages are masked once, when the train is built, each message of the
 * cycle under its own key from the client's random pool; a message keeps its
 * key on every lap. Fresh keys per frame protect a browser's intermediaries
 * from bytes a script chose; a load client sends bytes nobody chose, and
 * masking them again per send would cost the very time it measures.
 *
 * Echoes come back unmasked, so they are checked frame by frame (the echo of
 * a text message must be text, of binary binary); pings and pongs among them
 * are skipped. In `idle` mode, where nothing is decoded, the driver answers
 * the server's pings itself, so held connections survive its heartbeat.
 */
import type { Socket } from 'node:net';
import { ByteQueue } from '../buffers/byte-queue.js';
import type { Codec, Decoder, Encoder } from '../codecs/codec.js';
import { capstanError } from '../errors.js';
import { handshakeKey, maskedFrame, MaskingFrameEncoder } from '../websocket/client-frames.js';
import { checkUpgradeResponse, parseResponseHead, upgradeRequest } from '../websocket/client-handshake.js';
import { FrameDecoder, OP_BINARY, OP_CLOSE, OP_FAILED, OP_PING, OP_PONG, OP_TEXT, type FrameLimits } from '../websocket/frame.js';
import type { ResolvedLoadOptions } from './options.js';
import type { Driver, OnRead, Target } from './target.js';

export type WsOpcode = 'text' | 'binary';

/**
 * The framing of what the load client sends: masked frames of one opcode.
 * Its decoder reads them as a server would (masked, UTF-8 checked for text),
 * which is how the message builder proves every message survives the trip.
 */
export function wsMessageCodec(opcode: WsOpcode, maxMessageBytes: number): Codec {
  const b0 = 0x80 | (opcode === 'text' ? OP_TEXT : OP_BINARY);
  const masking = new MaskingFrameEncoder();
  const encoder: Encoder = {
    encode(frame, out) {
      masking.next = b0;
      masking.encode(frame, out);
    },
  };
  const limits: FrameLimits = { maxMessageBytes, maxFragments: 1 };
  return {
    name: `ws-${opcode}`,
    maxFrameBytes: maxMessageBytes,
    decoder: () => new FrameDecoder(limits, true),
    encoder: () => encoder,
    withMaxFrameBytes: (max) => wsMessageCodec(opcode, max),
  };
}

/** The framing of the echoes: unmasked server frames of the same opcode, control frames skipped. */
export function wsReplyCodec(opcode: WsOpcode, maxMessageBytes: number): Codec {
  const limits: FrameLimits = { maxMessageBytes, maxFragments: 1024 };
  const expected = opcode === 'text' ? OP_TEXT : OP_BINARY;
  return {
    name: `ws-${opcode}`,
    maxFrameBytes: maxMessageBytes,
    decoder: () => new ReplyDecoder(limits, expected),
    // Replies are only decoded; encoding, were it asked for, is the messages' own.
    encoder: () => wsMessageCodec(opcode, maxMessageBytes).encoder(),
    withMaxFrameBytes: (max) => wsReplyCodec(opcode, max),
  };
}

class ReplyDecoder implements Decoder {
  private readonly frames: FrameDecoder;

  constructor(
    limits: FrameLimits,
    private readonly expected: number,
  ) {
    this.frames = new FrameDecoder(limits, false);
  }

  decode(q: ByteQueue): Buffer | undefined {
    // Each turn consumes a frame from the queue, so the loop ends with the bytes.
    for (;;) {
      const frame = this.frames.decode(q);
      if (frame === undefined) return undefined;
      const op = this.frames.opcode;
      if (op === this.expected) return frame;
      if (op === OP_PING || op === OP_PONG) continue;
      if (op === OP_CLOSE) {
        const { code, reason } = FrameDecoder.closeBody(frame);
        throw capstanError('ERR_WS_PROTOCOL', `the server closed the WebSocket with ${code}${reason === '' ? '' : ` (${reason})`}`, { reason: 'protocol-error', actual: code });
      }
      if (op === OP_FAILED) throw (this.frames.failure as NonNullable<FrameDecoder['failure']>).error;
      throw capstanError('ERR_WS_PROTOCOL', `an echo came back as ${op === OP_TEXT ? 'text' : 'binary'}, not ${this.expected === OP_TEXT ? 'text' : 'binary'}`, { reason: 'protocol-error' });
    }
  }
}

/** The socket event a WebSocket connection is ready after: the checked 101. */
const READY = 'capstan:websocket-open';
const MAX_HEAD_BYTES = 8 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const NORMAL_CLOSE = Buffer.from([0x03, 0xe8]);
const NO_PROTOCOLS: readonly string[] = [];
const IDLE_LIMITS: FrameLimits = { maxMessageBytes: 1024 * 1024, maxFragments: 1024 };

interface Upgrade {
  readonly key: string;
  readonly target: Target;
  readonly onread: OnRead;
  /** The answer so far, until its head is whole; null once open. */
  head: Buffer | null;
  /** Idle mode: the server's frames, read only to answer its pings. */
  idle: { queue: ByteQueue; frames: FrameDecoder } | null;
}

const kUpgrade = Symbol('capstan.load.websocket');
type WsSocket = Socket & { [kUpgrade]: Upgrade };

function sendUpgrade(this: WsSocket): void {
  const u = this[kUpgrade];
  const t = u.target;
  const host = t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
  this.write(upgradeRequest({ resource: t.resource, host, key: u.key, protocols: NO_PROTOCOLS, origin: undefined, extra: '' }));
}

function wsRead(this: WsSocket, nread: number, buf: Buffer): void {
  const u = this[kUpgrade];
  if (u.head === null) {
    if (u.idle !== null) answerPings(this, u.idle, buf, nread);
    return u.onread.call(this, nread, buf);
  }
  // The read buffer is shared: keep a copy of the answer until its head is complete.
  const head = Buffer.concat([u.head, buf.subarray(0, nread)]);
  const end = head.indexOf(CRLFCRLF);
  if (end < 0) {
    u.head = head;
    if (head.length > MAX_HEAD_BYTES) this.destroy(capstanError('ERR_WS_HANDSHAKE', `the answer to the upgrade has no end of head within ${MAX_HEAD_BYTES} bytes`, { reason: 'protocol-error' }));
    return;
  }
  const res = parseResponseHead(head.subarray(0, end + 4));
  const checked = 'code' in res ? res : checkUpgradeResponse(res, u.key, NO_PROTOCOLS);
  if ('code' in checked) return void this.destroy(checked);
  u.head = null;
  this.emit(READY);
  const rest = head.subarray(end + 4);
  if (rest.length > 0 && !this.destroyed) wsRead.call(this, rest.length, rest);
}

function answerPings(socket: Socket, idle: NonNullable<Upgrade['idle']>, buf: Buffer, n: number): void {
  idle.queue.push(Buffer.from(buf.subarray(0, n)));
  // Each turn consumes a frame, so the loop ends with the bytes.
  for (;;) {
    const frame = idle.frames.decode(idle.queue);
    if (frame === undefined) return;
    const op = idle.frames.opcode;
    if (op === OP_PING) socket.write(maskedFrame(0x80 | OP_PONG, frame));
    else if (op === OP_CLOSE || op === OP_FAILED) return;
  }
}

function endAfterServer(this: Socket): void {
  this.end();
}

/** Wraps a TCP or TLS driver: the same dial, then the upgrade before the connection counts as ready. */
export function websocketDriver(inner: Driver): Driver {
  return {
    readyEvent: READY,
    network: inner.network,
    dial(target: Target, options: ResolvedLoadOptions, localAddress: string | undefined, onread: OnRead): Socket {
      const socket = inner.dial(target, options, localAddress, wsRead as OnRead) as WsSocket;
      socket[kUpgrade] = {
        key: handshakeKey(),
        target,
        onread,
        head: Buffer.alloc(0),
        idle: options.mode === 'idle' ? { queue: new ByteQueue(), frames: new FrameDecoder(IDLE_LIMITS, false) } : null,
      };
      socket.once(inner.readyEvent, sendUpgrade);
      return socket;
    },
    end(socket: Socket): void {
      // The close handshake: our close frame, the server's answer and FIN, then ours (RFC 6455 §7.1.1).
      socket.write(maskedFrame(0x80 | OP_CLOSE, NORMAL_CLOSE));
      socket.once('end', endAfterServer);
    },
  };
}
