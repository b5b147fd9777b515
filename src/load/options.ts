/**
 * What a load run does: the options of {@link runLoad} and `capstan load`,
 * their defaults, and their validation (every bad value is named before any
 * connection is opened).
 */
import { readFileSync } from 'node:fs';
import { codecFromName } from '../codecs/registry.js';
import { capstanError } from '../errors.js';
import { didYouMean } from '../suggest.js';
import type { ReplyCheck } from './expect.js';
import { requestsInFile } from './requests.js';

/**
 * - `echo`: send messages and check every reply byte for byte (default).
 * - `send`: send only; whatever comes back is counted and dropped.
 * - `idle`: open the connections and hold them (memory per connection).
 * - `churn`: each connection slot loops connect → one echo → close.
 * - `request`: send {@link LoadOptions.requests}; each expects exactly one reply
 *   frame, counted, timed and optionally checked ({@link LoadOptions.expect}).
 * @category Load client
 */
export type LoadMode = 'echo' | 'send' | 'idle' | 'churn' | 'request';
export const LOAD_MODES: readonly LoadMode[] = ['echo', 'send', 'idle', 'churn', 'request'];

/**
 * How replies are checked in `echo` and `churn` modes: `bytes` compares the
 * reply stream with what was sent; `frames` decodes replies with the codec and
 * compares frame by frame.
 * @category Load client
 */
export type VerifyMode = 'bytes' | 'frames';

/**
 * TLS settings of a load run against a `tls://` target.
 * @category Load client
 */
export interface LoadTlsOptions {
  /** Verify the server's certificate. Default `true`. */
  rejectUnauthorized?: boolean;
  /** CA certificates to trust (PEM). */
  ca?: string | Buffer;
  /** SNI name. Default the target host when it is a name. */
  servername?: string;
}

/**
 * Options of {@link runLoad} (and of `capstan load`, which takes the same as
 * flags). Only `target` is required; every value is checked before any
 * connection opens.
 * @category Load client
 */
export interface LoadOptions {
  /**
   * `tcp://host:port`, `tls://host:port`, `unix:///path`, `ws://host:port/path`, `wss://…`,
   * `udp://host:port` (or `host:port` for TCP).
   */
  target: string;
  /**
   * Connections to open; in `churn` mode, concurrent connect-exchange-close loops;
   * for `udp://`, connect()ed sockets, each with its own source port (one server
   * session each). Default 10.
   */
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
  /** What the connections do (see {@link LoadMode}). Default `echo`. */
  mode?: LoadMode;
  /**
   * Framing codec name (`raw`, `lp4`, `line`, `fixed:16` …, see `codecFromName`).
   * Default `raw`; in `request` mode `line`, and `raw` is refused there (it cannot
   * tell where a reply ends).
   */
  framing?: string;
  /** For `ws://` and `wss://` targets: send text or binary messages. Default `binary`. */
  wsOpcode?: 'text' | 'binary';
  /**
   * `request` mode: the request bodies (the codec frames them), used round-robin:
   * message i of connection c is request `(i + c) mod count`. Each is a template
   * whose placeholders are filled anew for every message: `{{n}}` the message's
   * number in the run (0, 1, 2 …; unique across worker processes), `{{conn}}` the
   * connection's index from 0, `{{rand:N}}` a random integer below N, `{{key:N}}` one
   * of N key names at random (below N, zero-padded to the width of N - 1: `key:1000`
   * gives `000` … `999`). `{{` always starts a placeholder. Templates are parsed
   * once, before the first connection.
   */
  requests?: readonly (string | Uint8Array)[];
  /**
   * `request` mode: a file of request templates, added after {@link requests}. With a
   * line codec (`line`, `crlf`) one request per line (LF or CRLF; empty lines
   * skipped); with any other codec the file holds the requests framed as on the wire
   * (`lp4`: length, body, length, body …) and each frame is one request.
   */
  requestsFile?: string;
  /** `request` mode: each reply must be exactly this text. At most one of `expect`, `expectPrefix`, `expectMatch`; none counts any reply. */
  expect?: string;
  /** `request` mode: each reply must start with this text. */
  expectPrefix?: string;
  /** `request` mode: each reply, read as UTF-8, must match this regular expression (flags `g` and `y` are dropped). */
  expectMatch?: string | RegExp;
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
  /**
   * A connection that waits this long (ms) for a due reply, or for its last replies at
   * the end, fails with `timeout`. Default 10,000. For `udp://`, a datagram with no
   * reply this long after it was sent is counted lost (not an error); default 1,000.
   */
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
  /** TLS settings for a `tls://` target. */
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
  /** `request` mode: the request templates, base64 (binary-safe across the IPC channel). */
  requests: string[];
  expect: ReplyCheck;
  tls: { rejectUnauthorized: boolean; ca?: string; servername?: string };
}

/** Largest message the client builds (bytes on the wire). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const KEYS = new Set([
  'target', 'connections', 'connectRate', 'maxConnecting', 'sourceAddresses', 'workers', 'connectionsPerWorker', 'mode',
  'framing', 'wsOpcode', 'wsDeflate', 'size', 'payload', 'depth', 'rate', 'durationSec', 'messages', 'connectTimeoutMs', 'replyTimeoutMs', 'drainTimeoutMs',
  'verify', 'requests', 'requestsFile', 'expect', 'expectPrefix', 'expectMatch', 'tls',
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
  let framing = options.framing ?? (mode === 'request' ? 'line' : 'raw');
  if (typeof framing !== 'string') bad('framing', 'a codec name', framing);
  if (/^wss?:\/\//i.test(options.target)) {
    // Request templates are framed by a stream codec; WebSocket messages would need their own.
    if (mode === 'request') bad('mode', 'echo, send, idle or churn for a ws:// or wss:// target (request mode takes tcp://, tls:// and unix:// targets)', mode);
    const opcode = options.wsOpcode ?? 'binary';
    if (opcode !== 'text' && opcode !== 'binary') bad('wsOpcode', 'text or binary', opcode);
    // A WebSocket target frames each message itself; another framing inside it is not what this client measures.
    if (framing !== 'raw' && framing !== `ws-${opcode}`) bad('framing', `left out for a ws:// target (its messages are WebSocket ${opcode} frames)`, framing);
    framing = `ws-${opcode}`;
  } else if (options.wsOpcode !== undefined) bad('wsOpcode', 'given only with a ws:// or wss:// target', options.wsOpcode);
  if (!/^wss?:\/\//i.test(options.target) && options.wsDeflate === true) bad('wsDeflate', 'given only with a ws:// or wss:// target', options.wsDeflate);
  if (options.wsDeflate !== undefined && typeof options.wsDeflate !== 'boolean') bad('wsDeflate', 'true or false', options.wsDeflate);
  const udp = /^udp:\/\//i.test(options.target);
  // A datagram is one message and its echo is checked, or a socket holds its session: the stream modes have no meaning here.
  if (udp && mode !== 'echo' && mode !== 'idle') bad('mode', 'echo or idle for a udp:// target (send, churn and request take stream targets)', mode);
  if (mode === 'request' && framing === 'raw') bad('framing', 'a codec that marks where each reply ends in mode request (line, crlf, lp4 …)', framing);
  if (mode === 'request') {
    // The requests carry their own bytes and replies are judged by expect*: these would be silently ignored.
    for (const key of ['size', 'payload', 'verify'] as const) {
      if (options[key] !== undefined) bad(key, 'left out in mode request (the requests are the payload; check replies with expect, expectPrefix or expectMatch)', options[key]);
    }
  }
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
    replyTimeoutMs: integer('replyTimeoutMs', options.replyTimeoutMs, udp ? 1_000 : 10_000, 1),
    drainTimeoutMs: integer('drainTimeoutMs', options.drainTimeoutMs, 5_000, 1),
    verify,
    requests: requestTemplates(options, mode, framing).map((r) => r.toString('base64')),
    expect: replyCheck(options, mode),
    tls: { rejectUnauthorized: tls.rejectUnauthorized ?? true },
  };
  if (tls.ca !== undefined) resolved.tls.ca = String(tls.ca);
  if (tls.servername !== undefined) resolved.tls.servername = tls.servername;
  if (resolved.workers > connections) resolved.workers = connections;
  return resolved;
}

const REQUEST_KEYS = ['requests', 'requestsFile', 'expect', 'expectPrefix', 'expectMatch'] as const;

function requestTemplates(options: LoadOptions, mode: LoadMode, framing: string): Buffer[] {
  if (mode !== 'request') {
    for (const key of REQUEST_KEYS) if (options[key] !== undefined) bad(key, 'left out unless mode is request', options[key]);
    return [];
  }
  const given = options.requests ?? [];
  if (!Array.isArray(given) || !given.every((r) => typeof r === 'string' || r instanceof Uint8Array)) bad('requests', 'a list of strings or byte arrays', given);
  const out = given.map((r: string | Uint8Array) => (typeof r === 'string' ? Buffer.from(r) : Buffer.from(r.buffer, r.byteOffset, r.byteLength)));
  const file = options.requestsFile;
  if (file !== undefined) {
    if (typeof file !== 'string' || file === '') bad('requestsFile', 'a file path', file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw capstanError('ERR_INVALID_OPTION', `load: cannot read the requests file ${file}: ${(err as Error).message}`, { path: 'requestsFile', actual: file, cause: err });
    }
    out.push(...requestsInFile(bytes, codecFromName(framing), file));
  }
  if (out.length === 0) bad('requests', 'at least one request (or a requestsFile) in mode request', given);
  if (out.length > MAX_REQUESTS) bad('requests', `at most ${MAX_REQUESTS} requests`, out.length);
  return out;
}

/** Most request templates a run takes. */
const MAX_REQUESTS = 1_000_000;

function replyCheck(options: LoadOptions, mode: LoadMode): ReplyCheck {
  const given = (['expect', 'expectPrefix', 'expectMatch'] as const).filter((k) => options[k] !== undefined);
  if (mode !== 'request' || given.length === 0) return { kind: 'any' };
  if (given.length > 1) bad(given[1] as string, `left out when ${given[0]} is given (one check per run)`, options[given[1] as keyof LoadOptions]);
  if (options.expect !== undefined) {
    if (typeof options.expect !== 'string') bad('expect', 'a string', options.expect);
    return { kind: 'exact', text: options.expect };
  }
  if (options.expectPrefix !== undefined) {
    if (typeof options.expectPrefix !== 'string') bad('expectPrefix', 'a string', options.expectPrefix);
    return { kind: 'prefix', text: options.expectPrefix };
  }
  const m = options.expectMatch;
  if (m instanceof RegExp) return { kind: 'match', source: m.source, flags: m.flags };
  if (typeof m !== 'string') bad('expectMatch', 'a regular expression or its source text', m);
  try {
    new RegExp(m);
  } catch (err) {
    bad('expectMatch', `a valid regular expression (${(err as Error).message})`, m);
  }
  return { kind: 'match', source: m, flags: '' };
}
