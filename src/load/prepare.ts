/**
 * The checks and the work a run does before its first connection, shared by
 * the parent (to fail early, before any worker starts) and each engine.
 */
import { codecFromName } from '../codecs/registry.js';
import type { Codec } from '../codecs/codec.js';
import { buildMessages, type MessageSet } from './messages.js';
import type { ResolvedLoadOptions } from './options.js';
import { parseTarget, type Target } from './target.js';
import { wsMessageCodec, wsReplyCodec } from './websocket.js';

/**
 * Everything a run needs before its first connection: the target, the codec and
 * the encoded messages. Throws `ERR_INVALID_OPTION` for a target, framing, size or
 * payload that cannot work, so a run fails before opening anything.
 */
export function prepare(options: ResolvedLoadOptions): { target: Target; codec: Codec; replies: Codec | null; cap: number; messages: MessageSet } {
  const target = parseTarget(options.target);
  let codec: Codec;
  // Set when echoes differ from what was sent on the wire (masked WebSocket messages come back unmasked) and must be decoded.
  let replies: Codec | null = null;
  if (target.scheme === 'ws' || target.scheme === 'wss') {
    const opcode = options.framing === 'ws-text' ? 'text' : 'binary';
    codec = wsMessageCodec(opcode, options.sizeMax, options.wsDeflate);
    replies = wsReplyCodec(opcode, options.sizeMax, options.wsDeflate);
  } else {
    codec = codecFromName(options.framing);
    if (codec.maxFrameBytes < options.sizeMax) codec = codec.withMaxFrameBytes(options.sizeMax);
  }
  const cap = options.mode === 'churn' || options.mode === 'idle' ? 1 : options.depth;
  // Compressed, a message's wire size follows from its bytes: the size given is its plain size.
  const messages = buildMessages(codec, { sizeMin: options.sizeMin, sizeMax: options.sizeMax, payload: options.payload, cap, plainSizes: options.wsDeflate });
  return { target, codec, replies, cap, messages };
}
