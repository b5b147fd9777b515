/**
 * The checks and the work a run does before its first connection, shared by
 * the parent (to fail early, before any worker starts) and each engine.
 */
import { codecFromName } from '../codecs/registry.js';
import type { Codec } from '../codecs/codec.js';
import { buildMessages, type MessageSet } from './messages.js';
import type { ResolvedLoadOptions } from './options.js';
import { RequestSet } from './requests.js';
import { parseTarget, type Target } from './target.js';
import { wsMessageCodec, wsReplyCodec } from './websocket.js';
import { capstanError } from '../errors.js';
import { maxPayload } from '../transport/udp/sender.js';
import { datagramSet, type DatagramSet } from './udp-datagrams.js';

export interface Prepared {
  target: Target;
  codec: Codec;
  /** Decodes echoes that differ on the wire from what was sent (masked WebSocket messages come back unmasked); else null. */
  replies: Codec | null;
  /** Messages one connection may have in flight. */
  cap: number;
  /** The encoded messages (every mode but `request`). */
  messages: MessageSet | null;
  /** The parsed request templates (`request` mode). */
  requests: RequestSet | null;
  /** `udp://` targets: the messages as datagrams, each with the tag its reply is matched by; else null. */
  datagrams: DatagramSet | null;
  /** The payload kind in use (`random` may become `ascii` for a delimiter framing; `request` mode: `requests`). */
  payload: string;
}

/**
 * Everything a run needs before its first connection: the target, the codec and
 * the encoded messages or parsed requests. Throws `ERR_INVALID_OPTION` for a
 * target, framing, size, payload or request that cannot work, so a run fails
 * before opening anything.
 */
export function prepare(options: ResolvedLoadOptions): Prepared {
  const target = parseTarget(options.target);
  let codec: Codec;
  let replies: Codec | null = null;
  if (target.scheme === 'ws' || target.scheme === 'wss') {
    const opcode = options.framing === 'ws-text' ? 'text' : 'binary';
    codec = wsMessageCodec(opcode, options.sizeMax, options.wsDeflate);
    replies = wsReplyCodec(opcode, options.sizeMax, options.wsDeflate);
  } else {
    codec = codecFromName(options.framing);
  }
  const cap = options.mode === 'churn' || options.mode === 'idle' ? 1 : options.depth;
  if (options.mode === 'request') {
    const templates = options.requests.map((r) => Buffer.from(r, 'base64'));
    const requests = new RequestSet(codec, templates, options.connections);
    return { target, codec, replies: null, cap, messages: null, requests, datagrams: null, payload: 'requests' };
  }
  if (codec.maxFrameBytes < options.sizeMax) codec = codec.withMaxFrameBytes(options.sizeMax);
  if (target.scheme === 'udp') {
    const most = maxPayload(target.host.includes(':') ? 'udp6' : 'udp4');
    if (options.sizeMax > most) {
      throw capstanError('ERR_INVALID_OPTION', `load: a udp:// message is one datagram, and UDP carries at most ${most} bytes here; got size ${options.sizeMax}`, { path: 'size', actual: options.sizeMax });
    }
  }
  // Compressed, a message's wire size follows from its bytes: the size given is its plain size.
  const messages = buildMessages(codec, { sizeMin: options.sizeMin, sizeMax: options.sizeMax, payload: options.payload, cap, plainSizes: options.wsDeflate });
  const datagrams = target.scheme === 'udp' ? datagramSet(codec, messages) : null;
  return { target, codec, replies, cap, messages, requests: null, datagrams, payload: messages.payload };
}
