/**
 * Reply checking. Each read is checked against the messages the connection has
 * in flight, in order, before the read callback returns.
 *
 * - {@link ByteVerifier}: an echo of a byte-exact framing comes back as the very
 *   bytes that were sent, so the read is compared with the train in one native
 *   call and messages complete at known offsets. Headers and delimiters are
 *   checked too. Works for every framing whose encoding the echo reproduces
 *   (all the core codecs, and `raw`, which has no frame boundaries at all).
 * - {@link FrameVerifier}: the codec's decoder cuts the replies into frames and
 *   a {@link ReplyJudge} checks each against the message it answers: the body that
 *   was sent ({@link EchoJudge}; for framings whose two directions differ on the
 *   wire, a masked WebSocket request and its unmasked reply, or to report framing
 *   errors as such), or what a request expects (`request` mode, `expect.ts`).
 */
import { ByteQueue } from '../buffers/byte-queue.js';
import type { Codec, Decoder } from '../codecs/codec.js';
import type { MessageSet } from './messages.js';

/** What a verifier reads and advances on a connection. */
export interface Progress {
  /** Messages sent. */
  issued: number;
  /** Messages whose reply is complete and checked. */
  done: number;
  /** Bytes received of the reply to message `done` (byte verification). */
  rxOff: number;
  /** Where this connection starts in the message cycle. */
  base: number;
  /** Undecoded reply bytes (frame verification). */
  queue: ByteQueue | null;
  decoder: Decoder | null;
}

export interface Verifier {
  /**
   * Checks `n` bytes of `buf` and returns how many messages they complete, or -1
   * when they are not what was sent (then {@link Verifier.problem} says how).
   * Advances `p.done` and `p.rxOff`. `buf` is only valid during the call.
   */
  consume(p: Progress, buf: Buffer, n: number): number;
  /** The last mismatch, described for a person. */
  problem: string;
  /**
   * Replies that were answers, but wrong ones (`request` mode): counted here and not
   * fatal, since the stream is still in step. The engine takes and resets the count.
   */
  wrong: number;
  /** The first wrong reply of the run, described; '' until there is one. */
  readonly wrongSample: string;
}

const hex = (b: number | undefined): string => (b === undefined ? 'nothing' : `0x${b.toString(16).padStart(2, '0')}`);

export class ByteVerifier implements Verifier {
  problem = '';
  wrong = 0;
  readonly wrongSample = '';
  private readonly train: Buffer;
  private readonly starts: Int32Array;
  private readonly count: number;
  private readonly size: number;

  constructor(messages: MessageSet) {
    this.train = messages.train;
    this.starts = messages.starts;
    this.count = messages.count;
    this.size = messages.fixedSize;
  }

  consume(p: Progress, buf: Buffer, n: number): number {
    const starts = this.starts;
    const first = (p.done + p.base) % this.count;
    const pos = (starts[first] as number) + p.rxOff;
    const outstanding = (starts[first + p.issued - p.done] as number) - pos;
    const checked = n <= outstanding ? n : outstanding;
    if (buf.compare(this.train, pos, pos + checked, 0, checked) !== 0 || checked < n) {
      this.problem = this.describe(p, buf, n, first, pos, checked);
      return -1;
    }
    let k: number;
    if (this.size > 0) {
      const total = p.rxOff + n;
      k = Math.floor(total / this.size);
      p.rxOff = total - k * this.size;
    } else {
      k = 0;
      let left = n + p.rxOff;
      let i = first;
      for (;;) {
        const size = (starts[i + 1] as number) - (starts[i] as number);
        if (left < size) break;
        left -= size;
        k++;
        i++;
      }
      p.rxOff = left;
    }
    p.done += k;
    return k;
  }

  private describe(p: Progress, buf: Buffer, n: number, first: number, pos: number, checked: number): string {
    let i = 0;
    while (i < checked && buf[i] === this.train[pos + i]) i++;
    if (i === checked) {
      return `received ${n - checked} more bytes than were sent and not yet answered (${p.issued - p.done} messages in flight)`;
    }
    // Which in-flight message the differing byte belongs to, and where in it.
    let at = p.rxOff + i;
    let m = first;
    while (at >= (this.starts[m + 1] as number) - (this.starts[m] as number)) {
      at -= (this.starts[m + 1] as number) - (this.starts[m] as number);
      m++;
    }
    return `reply to message ${p.done + (m - first) + 1} differs at byte ${at}: expected ${hex(this.train[pos + i])}, got ${hex(buf[i])}`;
  }
}

/** Checks one decoded reply against message `index` of a connection whose cycle starts at `base`. */
export interface ReplyJudge {
  accepts(frame: Buffer, index: number, base: number): boolean;
  /** Why `frame` was refused, for a person (only asked about refused replies). */
  describe(frame: Buffer, index: number, base: number): string;
  /** A refused reply ends the connection (an echo out of step) instead of counting as one wrong reply. */
  readonly fatal: boolean;
}

/** An echo's reply frame must be the body that was sent. */
export class EchoJudge implements ReplyJudge {
  readonly fatal = true;

  constructor(private readonly messages: MessageSet) {}

  accepts(frame: Buffer, index: number, base: number): boolean {
    return frame.equals(this.body(index, base));
  }

  describe(frame: Buffer, index: number, base: number): string {
    const body = this.body(index, base);
    let i = 0;
    while (i < frame.length && frame[i] === body[i]) i++;
    return frame.length !== body.length && i === Math.min(frame.length, body.length)
      ? `reply to message ${index + 1} has ${frame.length} bytes, expected ${body.length}`
      : `reply to message ${index + 1} differs at body byte ${i}: expected ${hex(body[i])}, got ${hex(frame[i])}`;
  }

  private body(index: number, base: number): Buffer {
    return this.messages.bodies[(index + base) % this.messages.count] as Buffer;
  }
}

export class FrameVerifier implements Verifier {
  problem = '';
  wrong = 0;
  wrongSample = '';

  constructor(
    private readonly codec: Codec,
    private readonly judge: ReplyJudge,
  ) {}

  consume(p: Progress, buf: Buffer, n: number): number {
    const queue = (p.queue ??= new ByteQueue());
    const decoder = (p.decoder ??= this.codec.decoder({ frameDiscarded() {} }));
    const judge = this.judge;
    queue.push(buf.subarray(0, n));
    let k = 0;
    for (;;) {
      let frame: Buffer | undefined;
      try {
        frame = decoder.decode(queue);
      } catch (err) {
        this.problem = `reply is not a valid ${this.codec.name} frame: ${(err as Error).message}`;
        return -1;
      }
      if (frame === undefined) break;
      const index = p.done + k;
      if (index >= p.issued) {
        this.problem = `received a reply frame of ${frame.length} bytes with no message in flight`;
        return -1;
      }
      if (!judge.accepts(frame, index, p.base)) {
        if (judge.fatal) {
          this.problem = judge.describe(frame, index, p.base);
          return -1;
        }
        if (this.wrongSample === '') this.wrongSample = judge.describe(frame, index, p.base);
        this.wrong++;
      }
      k++;
    }
    // What is left points into the shared read buffer: keep a copy.
    if (queue.length > 0) queue.push(Buffer.from(queue.takeAll()));
    p.done += k;
    return k;
  }
}
