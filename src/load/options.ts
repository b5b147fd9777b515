/**
 * What a load run does: the options of {@link runLoad} and `capstan load`,
 * their defaults, and their validation (every bad value is named before any
 * connection is opened).
 */
import { capstanError } from '../errors.js';
import { didYouMean } from '../suggest.js';

/**
 * - `echo`: send messages and check every reply byte for byte (default).
 * - `send`: send only; whatever comes back is counted and dropped.
 * - `idle`: open the connections and hold them (memory per connection).
 * - `churn`: each connection slot loops connect → one echo → close.
 */
export type LoadMode = 'echo' | 'send' | 'idle' | 'churn';
export const LOAD_MODES: readonly LoadMode[] = ['echo', 'send', 'idle', 'churn'];

/** How replies are checked in `echo` and `churn` modes. */
export type VerifyMode = 'bytes' | 'frames';

export interface LoadTlsOptions {
  /** Verify the server's certificate. Default `true`. */
  rejectUnauthorized?: boolean;
  /** CA certificates to trust (PEM). */
  ca?: string | Buffer;
  /** SNI name. Default the target host when it is a name. */
  servername?: string;
}

export interface LoadOptions {
  /** `tcp://host:port`, `tls://host:port`, `unix:///path`, `ws://host:port/path`, `wss://…` (or `host:port` for TCP). */
  target: string;
  /** Connections to open; in `churn` mode, concurrent connect-exchange-close loops. Default 10. */
  connections?: number;
  /** New connections started per second while ramping up; 0 starts them as fast as `maxConnecting` allows. Default 0. */
  connectRate?: number;
  /** Connection attempts in progress at once. Default 256. */
  maxConnecting?: number;
  /**
   * Local addresses to connect from, used round-robin (TCP and TLS), so that tens of
   * thousands of connections to one server port do not run out of ephemeral ports.
   * Default: none (the kernel chooses).
   */
  sourceAddresses?: readonly string[];
  /** Worker processes to spread the connections over. Default: one per {@link LoadOptions.connectionsPerWorker}. */
  workers?: number;
  /** Most connections one process opens when `workers` is not given. Default 15,000 (the file limit here is 20,000). */
  connectionsPerWorker?: number;
  /** Default `echo`. */
  mode?: LoadMode;
  /** Framing codec name (`raw`, `lp4`, `line`, `fixed:16` …, see `codecFromName`). Default `raw`; `ws://` targets frame as WebSocket messages instead (see `wsOpcode`). */
  framing?: string;
  /** For `ws://` and `wss://` targets: send text or binary messages. Default `binary`. */
  wsOpcode?: 'text' | 'binary';
  /**
   * For `ws://` and `wss://` targets: offer permessage-deflate (without context
   * takeover either way) and send every message compressed; the server must accept
   * it. `size` is then the message's plain size. Default false.
   */
  wsDeflate?: boolean;
  /**
   * Bytes of each message on the wire, framing included (so `lp4` with size 64 carries a
   * 60-byte body): one size, or `[min, max]` for sizes spread over a range. Default 64
   * (`fixed:N`: N).
   */
  size?: number | readonly [number, number];
  /** Message bodies: `random` (printable when the framing needs it), `ascii`, `zeros` or `text:<string>` repeated. Default `random`. */
  payload?: string;
  /**
   * Messages in flight per connection (`echo`): the sender keeps this many unanswered.
   * With `rate`, the most that may be unanswered before sends are skipped. In `send`
   * mode, messages per write. Default 1 (with `rate`: 64).
   */
  depth?: number;
  /** Messages per second per connection, sent on a fixed schedule; 0 sends as fast as `depth` allows. Default 0. */
  rate?: number;
  /** Seconds of traffic (`idle`: seconds to hold). Default 10; with `messages`, the time limit (default 60). */
  durationSec?: number;
  /** Stop after this many messages in total across all connections; 0 for no count limit. Default 0. */
  messages?: number;
  /** Time allowed for TCP connect plus TLS handshake, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** A connection that waits this long (ms) for a due reply, or for its last replies at the end, fails with `timeout`. Default 10,000. */
  replyTimeoutMs?: number;
  /**
   * At the end of a run, how long (ms) a connection may take to close after we end
   * it: what is still queued goes out, then our FIN, and the server answers with its
   * own; anything the server sends meanwhile is discarded. In `send` mode a
   * connection that is reset or not closed in time has its messages counted as
   * unconfirmed (error kind `unconfirmed`); in other modes it is just destroyed.
   * Default 5,000.
   */
  drainTimeoutMs?: number;
  /** How replies are checked: the reply stream against the sent bytes, or frame by frame with the codec's decoder. Default `bytes` (`raw` always uses `bytes`). */
  verify?: VerifyMode;
  tls?: LoadTlsOptions;
}

/** Every option with its value decided. */
export interface ResolvedLoadOptions {
  target: string;
  connections: number;
  connectRate: number;
  maxConnecting: number;
  sourceAddresses: string[];
  workers: number;
  mode: LoadMode;
  /** The codec name, or `ws-text` / `ws-binary` for WebSocket targets. */
  framing: string;
  /** WebSocket targets: messages compressed with permessage-deflate. */
  wsDeflate: boolean;
  sizeMin: number;
  sizeMax: number;
  payload: string;
  depth: number;
  rate: number;
  durationSec: number;
  messages: number;
  connectTimeoutMs: number;
  replyTimeoutMs: number;
  drainTimeoutMs: number;
  verify: VerifyMode;
  tls: { rejectUnauthorized: boolean; ca?: string; servername?: string };
}

/** Largest message the client builds (bytes on the wire). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const KEYS = new Set([
  'target', 'connections', 'connectRate', 'maxConnecting', 'sourceAddresses', 'workers', 'connectionsPerWorker', 'mode',
  'framing', 'wsOpcode', 'wsDeflate', 'size', 'payload', 'depth', 'rate', 'durationSec', 'messages', 'connectTimeoutMs', 'replyTimeoutMs', 'drainTimeoutMs',
  'verify', 'tls',
]);

function bad(key: string, expected: string, actual: unknown): never {
  throw capstanError('ERR_INVALID_OPTION', `load: option ${key} must be ${expected}, got ${JSON.stringify(actual)}`, { path: key, actual });
}

function integer(key: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(key, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function positive(key: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) bad(key, `a number ≥ ${min}`, value);
  return value;
}

function sizes(value: LoadOptions['size'], framing: string): [number, number] {
  if (value === undefined) {
    const fixed = /^fixed:([0-9]+)$/.exec(framing);
    const n = fixed !== null ? Number(fixed[1]) : 64;
    return [n, n];
  }
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2) bad('size', 'a byte count or [min, max]', value);
  const min = integer('size', pair[0] ?? null, 0, 1, MAX_MESSAGE_BYTES);
  return [min, integer('size', pair[1] ?? null, 0, min, MAX_MESSAGE_BYTES)];
}

/** Applies defaults and checks every option. @throws CapstanError `ERR_INVALID_OPTION` / `ERR_UNKNOWN_OPTION` naming the option. */
export function resolveLoadOptions(options: LoadOptions): ResolvedLoadOptions {
  if (typeof options !== 'object' || options === null) bad('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) {
      throw capstanError('ERR_UNKNOWN_OPTION', `load: unknown option ${key}; ${didYouMean(key, KEYS)}known options are ${[...KEYS].join(', ')}`, { path: key });
    }
  }
  if (typeof options.target !== 'string' || options.target === '') bad('target', 'a target such as tcp://127.0.0.1:7000', options.target);
  const mode = options.mode ?? 'echo';
  if (!LOAD_MODES.includes(mode)) bad('mode', LOAD_MODES.join(', '), mode);
  let framing = options.framing ?? 'raw';
  if (typeof framing !== 'string') bad('framing', 'a codec name', framing);
  if (/^wss?:\/\//i.test(options.target)) {
    const opcode = options.wsOpcode ?? 'binary';
    if (opcode !== 'text' && opcode !== 'binary') bad('wsOpcode', 'text or binary', opcode);
    // A WebSocket target frames each message itself; another framing inside it is not what this client measures.
    if (framing !== 'raw' && framing !== `ws-${opcode}`) bad('framing', `left out for a ws:// target (its messages are WebSocket ${opcode} frames)`, framing);
    framing = `ws-${opcode}`;
  } else if (options.wsOpcode !== undefined) bad('wsOpcode', 'given only with a ws:// or wss:// target', options.wsOpcode);
  else if (options.wsDeflate === true) bad('wsDeflate', 'given only with a ws:// or wss:// target', options.wsDeflate);
  if (options.wsDeflate !== undefined && typeof options.wsDeflate !== 'boolean') bad('wsDeflate', 'true or false', options.wsDeflate);
  const connections = integer('connections', options.connections, 10, 1, 10_000_000);
  const perWorker = integer('connectionsPerWorker', options.connectionsPerWorker, 15_000, 1, 19_000);
  const rate = positive('rate', options.rate, 0);
  const messages = integer('messages', options.messages, 0, 0);
  const [sizeMin, sizeMax] = sizes(options.size, framing);
  const verify = options.verify ?? 'bytes';
  if (verify !== 'bytes' && verify !== 'frames') bad('verify', 'bytes or frames', verify);
  const sourceAddresses = options.sourceAddresses === undefined ? [] : [...options.sourceAddresses];
  if (!sourceAddresses.every((a) => typeof a === 'string' && a !== '')) bad('sourceAddresses', 'a list of IP addresses', options.sourceAddresses);
  const payload = options.payload ?? 'random';
  if (!/^(random|ascii|zeros|text:.+)$/s.test(payload)) bad('payload', 'random, ascii, zeros or text:<string>', payload);
  const tls = options.tls ?? {};
  const resolved: ResolvedLoadOptions = {
    target: options.target,
    connections,
    connectRate: positive('connectRate', options.connectRate, 0),
    maxConnecting: integer('maxConnecting', options.maxConnecting, 256, 1),
    sourceAddresses,
    workers: integer('workers', options.workers, Math.ceil(connections / perWorker), 1, 64),
    mode,
    framing,
    wsDeflate: options.wsDeflate === true,
    sizeMin,
    sizeMax,
    payload,
    depth: integer('depth', options.depth, rate > 0 ? 64 : 1, 1, 65_536),
    rate,
    durationSec: positive('durationSec', options.durationSec, messages > 0 ? 60 : 10, 0.001),
    messages,
    connectTimeoutMs: integer('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1),
    replyTimeoutMs: integer('replyTimeoutMs', options.replyTimeoutMs, 10_000, 1),
    drainTimeoutMs: integer('drainTimeoutMs', options.drainTimeoutMs, 5_000, 1),
    verify,
    tls: { rejectUnauthorized: tls.rejectUnauthorized ?? true },
  };
  if (tls.ca !== undefined) resolved.tls.ca = String(tls.ca);
  if (tls.servername !== undefined) resolved.tls.servername = tls.servername;
  if (resolved.workers > connections) resolved.workers = connections;
  return resolved;
}
