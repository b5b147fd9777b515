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
 *
 * With `wsDeflate` the upgrade offers permessage-deflate without context
 * takeover either way, so each message is compressed on its own once, when
 * the train is built (the same zlib call as the server's, deflate.ts), and
 * each echo inflates on its own as it is checked; a server that declines the
 * offer fails the connection.
 */
import type { Socket } from 'node:net';
import { ByteQueue } from '../buffers/byte-queue.js';
import type { Codec, Decoder, Encoder } from '../codecs/codec.js';
import { capstanError } from '../errors.js';
import { handshakeKey, maskedFrame, MaskingFrameEncoder } from '../websocket/client-frames.js';
import { checkUpgradeResponse, parseResponseHead, upgradeRequest } from '../websocket/client-handshake.js';
import { DEFAULT_DEFLATE, type ResolvedDeflateOptions } from '../websocket/deflate-options.js';
import { deflateMessage, deflateSettings, inflateMessage, type DeflateSettings } from '../websocket/deflate.js';
import { checkDeflateAnswer } from '../websocket/extension-negotiation.js';
import { FrameDecoder, OP_BINARY, OP_CLOSE, OP_FAILED, OP_PING, OP_PONG, OP_TEXT, RSV1, type FrameLimits } from '../websocket/frame.js';
import type { ResolvedLoadOptions } from './options.js';
import type { Driver, OnRead, Target } from './target.js';

export type WsOpcode = 'text' | 'binary';

/** What `wsDeflate` asks for: each message on its own both ways, every message compressed. */
const LOAD_DEFLATE: ResolvedDeflateOptions = { ...DEFAULT_DEFLATE, threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
const LOAD_OFFER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
const LOAD_SETTINGS: DeflateSettings = deflateSettings(
  { out: { noContextTakeover: true, windowBits: 15 }, in: { noContextTakeover: true, windowBits: 15 }, header: LOAD_OFFER },
  LOAD_DEFLATE,
);

/** A decoder of whole messages that inflates the compressed ones (`deflate`), failing as a server would. */
class MessageDecoder implements Decoder {
  protected readonly frames: FrameDecoder;

  constructor(
    protected readonly limits: FrameLimits,
    masked: boolean,
    private readonly deflate: boolean,
  ) {
    // Incompressible bytes come out of deflate a little larger than they went in (zlib's deflateBound).
    this.frames = new FrameDecoder(deflate ? { ...limits, maxMessageBytes: limits.maxMessageBytes + (limits.maxMessageBytes >> 10) + 64 } : limits, masked);
    if (deflate) this.frames.rsvAllowed = RSV1;
  }

  decode(q: ByteQueue): Buffer | undefined {
    const frame = this.frames.decode(q);
    if (frame === undefined || !this.deflate || !this.frames.compressed) return frame;
    const plain = inflateMessage(frame, LOAD_SETTINGS, this.limits.maxMessageBytes);
    if (!Buffer.isBuffer(plain)) throw plain.error;
    return plain;
  }
}

/**
 * The framing of what the load client sends: masked frames of one opcode,
 * compressed with `deflate`. Its decoder reads them as a server would (masked,
 * inflated, UTF-8 checked for text), which is how the message builder proves
 * every message survives the trip.
 */
export function wsMessageCodec(opcode: WsOpcode, maxMessageBytes: number, deflate = false): Codec {
  const b0 = 0x80 | (opcode === 'text' ? OP_TEXT : OP_BINARY);
  const masking = new MaskingFrameEncoder();
  const encoder: Encoder = {
    encode(frame, out) {
      masking.next = deflate ? b0 | RSV1 : b0;
      masking.encode(deflate ? deflateMessage(frame, LOAD_SETTINGS) : frame, out);
    },
  };
  const limits: FrameLimits = { maxMessageBytes, maxFragments: 1 };
  return {
    name: `ws-${opcode}`,
    maxFrameBytes: maxMessageBytes,
    decoder: () => new MessageDecoder(limits, true, deflate),
    encoder: () => encoder,
    withMaxFrameBytes: (max) => wsMessageCodec(opcode, max, deflate),
  };
}

/** The framing of the echoes: unmasked server frames of the same opcode (inflated with `deflate`), control frames skipped. */
export function wsReplyCodec(opcode: WsOpcode, maxMessageBytes: number, deflate = false): Codec {
  const limits: FrameLimits = { maxMessageBytes, maxFragments: 1024 };
  const expected = opcode === 'text' ? OP_TEXT : OP_BINARY;
  return {
    name: `ws-${opcode}`,
    maxFrameBytes: maxMessageBytes,
    decoder: () => new ReplyDecoder(limits, expected, deflate),
    // Replies are only decoded; encoding, were it asked for, is the messages' own.
    encoder: () => wsMessageCodec(opcode, maxMessageBytes, deflate).encoder(),
    withMaxFrameBytes: (max) => wsReplyCodec(opcode, max, deflate),
  };
}

class ReplyDecoder extends MessageDecoder {
  constructor(
    limits: FrameLimits,
    private readonly expected: number,
    deflate: boolean,
  ) {
    super(limits, false, deflate);
  }

  override decode(q: ByteQueue): Buffer | undefined {
    // Each turn consumes a frame from the queue, so the loop ends with the bytes.
    for (;;) {
      const frame = super.decode(q);
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
  /** Offer permessage-deflate, and require it. */
  readonly deflate: boolean;
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
  this.write(upgradeRequest({ resource: t.resource, host, key: u.key, protocols: NO_PROTOCOLS, origin: undefined, extensions: u.deflate ? LOAD_OFFER : '', extra: '' }));
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
  const checked = 'code' in res ? res : checkUpgradeResponse(res, u.key, NO_PROTOCOLS, u.deflate);
  if ('code' in checked) return void this.destroy(checked);
  if (u.deflate) {
    const refused = deflateRefused((res as { headers: Readonly<Record<string, string>> }).headers['sec-websocket-extensions']);
    if (refused !== null) return void this.destroy(refused);
  }
  u.head = null;
  this.emit(READY);
  const rest = head.subarray(end + 4);
  if (rest.length > 0 && !this.destroyed) wsRead.call(this, rest.length, rest);
}

/** Why the answer to our deflate offer will not do for the train built for it, or null. */
function deflateRefused(value: string | undefined): Error | null {
  const a = checkDeflateAnswer(value, LOAD_DEFLATE, true);
  if (a !== null && 'code' in a) return a;
  if (a === null) return capstanError('ERR_WS_HANDSHAKE', 'the server declined permessage-deflate, which --ws-deflate requires', { reason: 'protocol-error' });
  // The messages were compressed with a 15-bit window before the upgrade; we did not offer to limit it.
  if (a.out.windowBits !== 15) return capstanError('ERR_WS_HANDSHAKE', `the server answered client_max_window_bits=${a.out.windowBits}, which we did not offer`, { reason: 'protocol-error', actual: value });
  return null;
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
        deflate: options.wsDeflate,
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
