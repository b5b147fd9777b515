/**
 * The requests of a `request` run: templates parsed once, rendered and framed
 * per message.
 *
 * A template is bytes with placeholders, each filled anew for every message:
 *
 * | placeholder | becomes                                                                      |
 * |-------------|------------------------------------------------------------------------------|
 * | `{{n}}`     | the message's number in the run: 0, 1, 2 … (with workers: unique across them) |
 * | `{{conn}}`  | the connection's index in the run, from 0                                    |
 * | `{{rand:N}}`| a random integer from 0 to N - 1                                             |
 * | `{{key:N}}` | one of N key names at random: 0 to N - 1 zero-padded to the width of N - 1, so every key has the same length (`key:1000` → `000` … `999`) |
 *
 * ```
 *   "SET key{{key:1000}} v{{n}}"  ─parse─►  lits ["SET key", " v", ""]  holes [key:1000 (width 3), n]
 *                                 ─render─► "SET key042 v17"  ─encode─► "SET key042 v17\r\n"
 * ```
 *
 * Parsing happens once, before the first connection; a message costs a copy of
 * each literal, the digits of each hole, and the codec's encoding, into one
 * buffer per write. A template without placeholders is framed once and copied.
 */
import { ByteQueue } from '../buffers/byte-queue.js';
import type { Codec, Encoder } from '../codecs/codec.js';
import { capstanError } from '../errors.js';
import { Collector, roundTrips, type Outbox } from './messages.js';

const enum Hole {
  Counter = 0,
  Conn = 1,
  Rand = 2,
  Key = 3,
}

/** Largest N of `rand:N` and `key:N`: keeps `random() × N` an exact, uniformly spread integer. */
const MAX_RANGE = 1e15;
/** Digits of the largest counter value (2^53). */
const COUNTER_DIGITS = 16;
const PLACEHOLDER = /\{\{(n|conn|(rand|key):([0-9]+))\}\}/y;

interface Template {
  /** The template as given, for messages. */
  readonly text: string;
  /** Literal bytes around the holes: one more than there are holes. */
  readonly lits: readonly Buffer[];
  readonly kinds: readonly Hole[];
  /** `N` of `rand:N` and `key:N`. */
  readonly ranges: readonly number[];
  /** Digits a hole always takes at least (`key:N`: the width of N - 1). */
  readonly widths: readonly number[];
  /** The framed request when there are no holes. */
  readonly framed: Buffer | null;
}

function invalid(message: string, actual: unknown): never {
  throw capstanError('ERR_INVALID_OPTION', `load: ${message}`, { path: 'requests', actual });
}

const digits = (n: number): number => (n < 10 ? 1 : Math.floor(Math.log10(n)) + 1);

/** Writes `v` in decimal at `pos`, zero-padded to `width`; returns the end. */
function writeDecimal(out: Buffer, pos: number, v: number, width: number): number {
  let n = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
  const end = pos + (n > width ? n : width);
  let i = end - 1;
  do {
    out[i--] = 48 + (v % 10);
    v = Math.floor(v / 10);
  } while (v > 0);
  while (i >= pos) out[i--] = 48;
  return end;
}

function parse(bytes: Buffer, index: number): Omit<Template, 'framed'> {
  // Placeholders are ASCII, so a latin1 view indexes the bytes one to one.
  const s = bytes.toString('latin1');
  const text = bytes.toString('utf8');
  const lits: Buffer[] = [];
  const kinds: Hole[] = [];
  const ranges: number[] = [];
  const widths: number[] = [];
  let from = 0;
  for (let at = s.indexOf('{{'); at !== -1; at = s.indexOf('{{', from)) {
    PLACEHOLDER.lastIndex = at;
    const m = PLACEHOLDER.exec(s);
    if (m === null) {
      invalid(`request ${index + 1} has an unknown placeholder at byte ${at} (${JSON.stringify(s.slice(at, at + 24))}); known are {{n}}, {{conn}}, {{rand:N}} and {{key:N}}`, text);
    }
    lits.push(bytes.subarray(from, at));
    const range = m[3] === undefined ? 0 : Number(m[3]);
    if (m[2] !== undefined && (range < 1 || range > MAX_RANGE)) invalid(`request ${index + 1}: ${m[0]} needs N from 1 to ${MAX_RANGE}`, text);
    kinds.push(m[1] === 'n' ? Hole.Counter : m[1] === 'conn' ? Hole.Conn : m[2] === 'rand' ? Hole.Rand : Hole.Key);
    ranges.push(range);
    widths.push(m[2] === 'key' ? digits(range - 1) : 1);
    from = at + m[0].length;
  }
  lits.push(bytes.subarray(from));
  return { text, lits, kinds, ranges, widths };
}

/** The longest rendering of `t` (every hole at its widest), for `connections` connections. */
function longest(t: Omit<Template, 'framed'>, connections: number): number {
  let n = 0;
  for (const l of t.lits) n += l.length;
  for (let i = 0; i < t.kinds.length; i++) {
    const k = t.kinds[i] as Hole;
    n += k === Hole.Counter ? COUNTER_DIGITS : k === Hole.Conn ? digits(connections - 1) : digits((t.ranges[i] as number) - 1);
  }
  return n;
}

/** One frame, encoded by itself. */
function frame(encoder: Encoder, body: Buffer): Buffer {
  const out = new Collector();
  encoder.encode(body, out);
  return out.buf.subarray(0, out.length);
}

/**
 * The requests of a run, ready to render. Message `i` of a connection whose cycle
 * starts at `base` uses template `(i + base) mod count`: round-robin.
 */
export class RequestSet implements Outbox {
  readonly count: number;
  private readonly templates: Template[];
  private readonly encoder: Encoder;
  private readonly scratch: Buffer;
  private readonly out = new Collector();
  private counter = 0;
  private step = 1;

  /**
   * @throws CapstanError `ERR_INVALID_OPTION` (path `requests`) for an unknown
   *   placeholder, or a request the codec cannot frame at its shortest or longest
   *   (a line end inside a line, too long for `lp1`, not exactly N bytes for `fixed:N`).
   */
  constructor(codec: Codec, requests: readonly Buffer[], connections: number) {
    if (requests.length === 0) invalid('mode request needs at least one request', requests);
    this.encoder = codec.encoder();
    let scratch = 0;
    this.templates = requests.map((bytes, i) => {
      const t = parse(bytes, i);
      const max = longest(t, connections);
      scratch = Math.max(scratch, max);
      // The narrowest and the widest rendering must both frame and decode back whole.
      const short = Buffer.concat(t.lits.flatMap((l, j) => (j < t.kinds.length ? [l, Buffer.alloc(t.widths[j] as number, '0')] : [l])));
      const wire = this.check(codec, t.text, i, short);
      if (t.kinds.length > 0) this.check(codec, t.text, i, Buffer.concat([short, Buffer.alloc(max - short.length, '0')]));
      return { ...t, framed: t.kinds.length === 0 ? wire : null };
    });
    this.count = this.templates.length;
    this.scratch = Buffer.allocUnsafe(scratch);
  }

  /** Frames `body`, or names the request that cannot be framed. */
  private check(codec: Codec, text: string, i: number, body: Buffer): Buffer {
    let wire: Buffer;
    try {
      wire = frame(this.encoder, body);
    } catch (err) {
      invalid(`request ${i + 1} (${JSON.stringify(text)}) cannot be framed with ${codec.name}: ${(err as Error).message}`, text);
    }
    if (roundTrips(codec, [wire], [body]) !== -1) {
      invalid(`request ${i + 1} (${JSON.stringify(text)}) does not reach the server as one ${codec.name} frame (does it contain the delimiter?)`, text);
    }
    return wire;
  }

  /** Numbers `{{n}}` from `first` in steps of `step`, so that processes of one run never share a value. */
  numberFrom(first: number, step: number): void {
    this.counter = first;
    this.step = step;
  }

  /** Template `i` as given, shortened for a message. */
  text(i: number): string {
    const t = (this.templates[i % this.count] as Template).text;
    return t.length > 60 ? `${t.slice(0, 57)}...` : t;
  }

  take(issued: number, base: number, conn: number, k: number): Buffer {
    const out = this.out;
    const scratch = this.scratch;
    const templates = this.templates;
    const count = this.count;
    out.length = 0;
    for (let m = issued; m < issued + k; m++) {
      const t = templates[(m + base) % count] as Template;
      const n = this.counter;
      this.counter += this.step;
      if (t.framed !== null) {
        out.append(t.framed);
        continue;
      }
      const lits = t.lits;
      // TypedArray set, not Buffer copy: literals are short, and copy's own overhead would dominate.
      let lit = lits[0] as Buffer;
      scratch.set(lit, 0);
      let pos = lit.length;
      for (let h = 0; h < t.kinds.length; h++) {
        const kind = t.kinds[h] as Hole;
        const v = kind === Hole.Counter ? n : kind === Hole.Conn ? conn : Math.floor(Math.random() * (t.ranges[h] as number));
        pos = writeDecimal(scratch, pos, v, t.widths[h] as number);
        lit = lits[h + 1] as Buffer;
        scratch.set(lit, pos);
        pos += lit.length;
      }
      this.encoder.encode(scratch.subarray(0, pos), out);
    }
    // The collector is reused; the socket may hold the write for a while.
    const wire = Buffer.allocUnsafe(out.length);
    wire.set(out.buf.subarray(0, out.length));
    return wire;
  }
}

const LINE_CODECS = new Set(['line', 'crlf', 'delimited']);

/**
 * The requests in a file: for line codecs (`line`, `crlf`, `delimited`) one per
 * line (LF or CRLF; empty lines skipped); for every other codec the file holds
 * the requests already framed, as they would go on the wire (`lp4`: a length and
 * a body, again and again), and each frame decoded from it is one request.
 * @throws CapstanError `ERR_INVALID_OPTION` (path `requestsFile`) for a file with
 *   no requests or one that ends inside a frame.
 */
export function requestsInFile(bytes: Buffer, codec: Codec, path: string): Buffer[] {
  const bad = (why: string): never => {
    throw capstanError('ERR_INVALID_OPTION', `load: requests file ${path} ${why}`, { path: 'requestsFile', actual: path });
  };
  const out: Buffer[] = [];
  if (LINE_CODECS.has(codec.name)) {
    let from = 0;
    while (from < bytes.length) {
      let end = bytes.indexOf(10, from);
      if (end === -1) end = bytes.length;
      const line = bytes.subarray(from, end > from && bytes[end - 1] === 13 ? end - 1 : end);
      if (line.length > 0) out.push(line);
      from = end + 1;
    }
  } else {
    const q = new ByteQueue();
    q.push(bytes);
    const decoder = codec.decoder({ frameDiscarded() {} });
    try {
      for (let f = decoder.decode(q); f !== undefined; f = decoder.decode(q)) out.push(Buffer.from(f));
    } catch (err) {
      bad(`is not a sequence of ${codec.name} frames: ${(err as Error).message}`);
    }
    if (q.length > 0) bad(`ends inside a ${codec.name} frame (${q.length} bytes left over); it must hold whole framed requests`);
  }
  if (out.length === 0) bad('holds no requests');
  return out;
}
