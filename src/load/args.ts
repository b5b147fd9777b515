/**
 * The command line of `capstan load`, turned into {@link LoadOptions} and
 * {@link Thresholds}. Numbers take the units people type: counts `10k`, sizes
 * `4k` (KiB), durations `30s`/`500ms`/`2m`, latencies `5ms`/`250us`.
 */
import { parseFlags } from '../cli-args.js';
import { capstanError } from '../errors.js';
import type { LoadMode, LoadOptions, VerifyMode } from './options.js';
import type { Thresholds } from './report.js';

export const USAGE = `usage: capstan load TARGET [options]

TARGET is tcp://HOST:PORT, tls://HOST:PORT, unix:///PATH, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH,
udp://HOST:PORT (or HOST:PORT, or a port on 127.0.0.1).

connections
  -c, --connections N      connections to open (default 10); churn: concurrent loops; udp: sockets,
                           each with its own source port
      --connect-rate N     new connections per second while ramping up (default: no ramp)
      --max-connecting N   connection attempts at once, per process (default 256)
      --src-ips A-B|A,B    source addresses to spread connections over (127.0.0.2-127.0.0.50)
      --workers N          processes (default: one per 15,000 connections)
      --connect-timeout T  per connection, TLS handshake included (default 10s)
traffic
      --mode MODE          echo (check every reply), send, idle (hold), churn, or request (send
                           --request templates, one reply each) (default echo)
      --framing NAME       raw, lp1, lp2, lp4, lp8, lp2le, lp4le, line, crlf, fixed:N … (default raw;
                           request: line); udp: the codec inside each datagram
      --ws-text            ws:// and wss://: send text messages (default binary: --ws-binary)
      --ws-deflate         ws:// and wss://: compress every message (permessage-deflate, no context
                           takeover); --size is then the plain size (default off: --no-ws-deflate)
      --size B|MIN-MAX     bytes per message on the wire, framing included (default 64)
      --payload KIND       random, ascii, zeros or text:STRING (default random)
      --depth N            messages in flight per connection (default 1; send: per write)
      --rate N             messages/s per connection on a fixed schedule (default: as fast as --depth allows)
  -d, --duration T         how long to send or hold (default 10s; 60s limit with -n)
  -n, --messages N         stop after N messages in total
      --timeout T          a due reply may take this long (default 10s); udp: a datagram with no
                           reply this long is counted lost (default 1s)
      --drain-timeout T    at the end, a connection may take this long to close after our FIN;
                           send: longer leaves its messages unconfirmed (default 5s)
      --verify KIND        bytes (compare the reply stream) or frames (decode replies) (default bytes)
requests (--mode request)
      --request TEXT       a request; repeat for more, sent round-robin. Placeholders, new for
                           each message: {{n}} message number, {{conn}} connection index,
                           {{rand:N}} random integer below N, {{key:N}} one of N key names
      --requests-file PATH requests from a file: one per line for line framings; otherwise the
                           file holds the requests framed as on the wire
      --expect TEXT        each reply must be exactly TEXT (else a mismatch error)
      --expect-prefix TEXT each reply must start with TEXT
      --expect-match RE    each reply must match the regular expression RE
tls (tls:// and wss://)
  -k, --insecure           do not verify the server's certificate
      --ca FILE            trust this CA certificate (PEM)
      --servername NAME    SNI name
verdict and output
      --max-p99 T          fail when p99 latency exceeds T (µs unless a unit is given: 5ms)
      --max-errors N       fail when there are more than N errors (default 0)
      --max-loss PCT       udp: fail when more than PCT per cent of the datagrams are lost (0.5, 2%)
      --json               print the result as one JSON object on stdout
  -q, --quiet              no progress lines
  -h, --help

Exit status: 0 passed; 1 errors, a threshold exceeded, or (udp) no datagram answered at all;
2 bad command line.
`;

function usageError(message: string): never {
  throw capstanError('ERR_INVALID_OPTION', message);
}

/** `10`, `10k` (×1000), `2m` (×1,000,000). */
export function parseCount(flag: string, text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([km]?)$/i.exec(text.trim());
  const n = m === null ? NaN : Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6 }[(m[2] as string).toLowerCase()] as number);
  if (!Number.isInteger(n)) usageError(`--${flag} must be a whole number such as 100 or 10k, got ${JSON.stringify(text)}`);
  return n;
}

/** `64`, `4k` (4096), `1m` (MiB). */
export function parseBytes(flag: string, text: string): number {
  const m = /^([0-9]+)(k|kib|m|mib|b)?$/i.exec(text.trim());
  if (m === null) usageError(`--${flag} must be a byte count such as 64 or 4k, got ${JSON.stringify(text)}`);
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
}

/** A duration in ms: `30` or `30s`, `500ms`, `2m`; `unit` is what a bare number means. */
export function parseDuration(flag: string, text: string, unit: 'ms' | 's' | 'us'): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(us|µs|ms|s|m)?$/i.exec(text.trim());
  if (m === null) usageError(`--${flag} must be a time such as 10s, 500ms or 5ms, got ${JSON.stringify(text)}`);
  const u = (m[2] ?? unit).toLowerCase();
  const ms = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000 }[u] as number;
  return Number(m[1]) * ms;
}

/** `0.5`, `2%`: a percentage from 0 to 100. */
export function parsePercent(flag: string, text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*%?$/.exec(text.trim());
  const n = m === null ? NaN : Number(m[1]);
  if (!(n >= 0 && n <= 100)) usageError(`--${flag} must be a percentage from 0 to 100 such as 0.5 or 2%, got ${JSON.stringify(text)}`);
  return n;
}

/** `127.0.0.2-127.0.0.50` or `127.0.0.2,127.0.0.3`. */
export function parseSourceAddresses(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const range = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(part.trim());
    if (range === null) {
      if (part.trim() === '') usageError(`--src-ips has an empty entry: ${JSON.stringify(text)}`);
      out.push(part.trim());
      continue;
    }
    const lo = ipv4(range[1] as string);
    const hi = ipv4(range[2] as string);
    if (hi < lo || hi - lo > 65_535) usageError(`--src-ips range ${part} must run upwards and span at most 65,536 addresses`);
    for (let a = lo; a <= hi; a++) out.push([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.'));
  }
  return out;
}

function ipv4(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.some((p) => p > 255)) usageError(`--src-ips: ${text} is not an IPv4 address`);
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0;
}

export interface Command {
  help: boolean;
  json: boolean;
  quiet: boolean;
  /** A CA file to read into `options.tls.ca`. */
  caFile?: string;
  options: LoadOptions;
  thresholds: Thresholds;
}

/** Parses `capstan load` arguments. @throws CapstanError `ERR_INVALID_OPTION` with a message for the user. */
export function parseCommand(argv: string[]): Command {
  const parsed = parseFlags(argv, FLAGS, true);
  const v = parsed.values as Partial<Record<string, string>> & Partial<Record<'help' | 'json' | 'quiet' | 'insecure' | 'ws-text' | 'ws-binary' | 'ws-deflate' | 'no-ws-deflate', boolean>>;
  if (v.help === true) return { help: true, json: false, quiet: false, options: { target: '' }, thresholds: { maxErrors: 0 } };
  if (parsed.positionals.length !== 1) usageError(parsed.positionals.length === 0 ? 'give a TARGET, such as tcp://127.0.0.1:7000' : `one TARGET only, got ${parsed.positionals.join(' ')}`);
  const options: LoadOptions = { target: parsed.positionals[0] as string };
  if (v.connections !== undefined) options.connections = parseCount('connections', v.connections);
  if (v['connect-rate'] !== undefined) options.connectRate = parseCount('connect-rate', v['connect-rate']);
  if (v['max-connecting'] !== undefined) options.maxConnecting = parseCount('max-connecting', v['max-connecting']);
  if (v['src-ips'] !== undefined) options.sourceAddresses = parseSourceAddresses(v['src-ips']);
  if (v.workers !== undefined) options.workers = parseCount('workers', v.workers);
  if (v['connect-timeout'] !== undefined) options.connectTimeoutMs = Math.ceil(parseDuration('connect-timeout', v['connect-timeout'], 's'));
  if (v.mode !== undefined) options.mode = v.mode as LoadMode;
  if (v.framing !== undefined) options.framing = v.framing;
  if (v['ws-text'] === true && v['ws-binary'] === true) usageError('give one of --ws-text and --ws-binary');
  if (v['ws-text'] === true) options.wsOpcode = 'text';
  if (v['ws-binary'] === true) options.wsOpcode = 'binary';
  if (v['ws-deflate'] === true && v['no-ws-deflate'] === true) usageError('give one of --ws-deflate and --no-ws-deflate');
  if (v['ws-deflate'] === true) options.wsDeflate = true;
  if (v['no-ws-deflate'] === true) options.wsDeflate = false;
  if (v.size !== undefined) {
    const [lo, hi] = v.size.split('-');
    options.size = hi === undefined ? parseBytes('size', lo as string) : [parseBytes('size', lo as string), parseBytes('size', hi)];
  }
  if (v.payload !== undefined) options.payload = v.payload;
  if (v.depth !== undefined) options.depth = parseCount('depth', v.depth);
  if (v.rate !== undefined) options.rate = parseCount('rate', v.rate);
  if (v.duration !== undefined) options.durationSec = parseDuration('duration', v.duration, 's') / 1000;
  if (v.messages !== undefined) options.messages = parseCount('messages', v.messages);
  if (v.timeout !== undefined) options.replyTimeoutMs = Math.ceil(parseDuration('timeout', v.timeout, 's'));
  if (v['drain-timeout'] !== undefined) options.drainTimeoutMs = Math.ceil(parseDuration('drain-timeout', v['drain-timeout'], 's'));
  if (parsed.values.request !== undefined) options.requests = parsed.values.request as unknown as string[];
  if (v['requests-file'] !== undefined) options.requestsFile = v['requests-file'];
  if (v.expect !== undefined) options.expect = v.expect;
  if (v['expect-prefix'] !== undefined) options.expectPrefix = v['expect-prefix'];
  if (v['expect-match'] !== undefined) options.expectMatch = v['expect-match'];
  if (v.verify !== undefined) options.verify = v.verify as VerifyMode;
  if (v.insecure === true || v.servername !== undefined) {
    options.tls = { rejectUnauthorized: v.insecure !== true };
    if (v.servername !== undefined) options.tls.servername = v.servername;
  }
  const thresholds: Thresholds = { maxErrors: v['max-errors'] === undefined ? 0 : parseCount('max-errors', v['max-errors']) };
  if (v['max-p99'] !== undefined) thresholds.maxP99Us = parseDuration('max-p99', v['max-p99'], 'us') * 1000;
  if (v['max-loss'] !== undefined) {
    if (!/^udp:\/\//i.test(options.target)) usageError('--max-loss applies to udp:// targets only (a stream loses nothing without an error)');
    thresholds.maxLossPct = parsePercent('max-loss', v['max-loss']);
  }
  const command: Command = { help: false, json: v.json === true, quiet: v.quiet === true, options, thresholds };
  if (v.ca !== undefined) command.caFile = v.ca;
  return command;
}

const text = { type: 'string' } as const;

const FLAGS = {
  connections: { ...text, short: 'c' },
  'connect-rate': text,
  'max-connecting': text,
  'src-ips': text,
  workers: text,
  'connect-timeout': text,
  mode: text,
  framing: text,
  'ws-text': { type: 'boolean' },
  'ws-binary': { type: 'boolean' },
  'ws-deflate': { type: 'boolean' },
  'no-ws-deflate': { type: 'boolean' },
  size: text,
  payload: text,
  depth: text,
  rate: text,
  duration: { ...text, short: 'd' },
  messages: { ...text, short: 'n' },
  timeout: text,
  'drain-timeout': text,
  verify: text,
  request: { ...text, multiple: true },
  'requests-file': text,
  expect: text,
  'expect-prefix': text,
  'expect-match': text,
  insecure: { type: 'boolean', short: 'k' },
  ca: text,
  servername: text,
  'max-p99': text,
  'max-errors': text,
  'max-loss': text,
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;
