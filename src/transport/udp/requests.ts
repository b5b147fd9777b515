/**
 * Requests on a UDP client: each sends a datagram and waits, on the timer
 * wheel, for the datagram that answers it, sending again after each timeout.
 *
 * ```
 *   request ─► queue ─► send ─► wait timeoutMs ─┬─ reply: resolve (not delivered to message)
 *                        ▲                      ├─ timeout, retries left: ─┘ send again
 *                        │                      └─ timeout, none left: reject ERR_REQUEST_TIMEOUT
 *        next in line ───┘ (requests without `match` go one at a time)
 * ```
 *
 * Which datagram is the reply: UDP carries no request id, so without `match`
 * the reply is the next datagram from the peer, and requests go one at a time
 * so that two replies cannot cross. A late reply to an attempt that timed out
 * answers the retry (the same request); a reply that comes after its request
 * gave up answers the next one, which is why protocols with an id should pass
 * `match`. Requests with `match` run at once: a datagram goes to the oldest
 * one that matches it, then to the request without `match` in flight, then to
 * `message`.
 */
import type { CloseReason } from '../../connection/close-reason.js';
import type { EventLog } from '../../connection/event-log.js';
import { capstanError, type CapstanError } from '../../errors.js';
import type { TimerWheel, WheelEntry } from '../../timers/timer-wheel.js';
import { REQUEST_DEFAULTS, type RequestOptions } from './client-options.js';

/** What requests need of their client. */
export interface RequestHost {
  /** Sends one attempt (never throws: sizes are checked before a request is added); false when it could not go out, and it times out and is retried like a lost one. */
  sendRequest(data: Buffer): boolean;
  readonly wheel: TimerWheel;
  readonly where: string;
  /** The client's log budget, for refusals at the limit. */
  readonly log: EventLog;
}

class Pending implements WheelEntry {
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  wheelDue = 0;
  attempts = 0;

  constructor(
    readonly owner: Requests,
    readonly data: Buffer,
    readonly timeoutMs: number,
    readonly retries: number,
    readonly match: ((reply: Buffer) => boolean) | null,
    readonly resolve: (reply: Buffer) => void,
    readonly reject: (err: CapstanError | Error) => void,
  ) {}

  onWheelDue(): void {
    this.owner.timedOut(this);
  }
}

export class Requests {
  /** Requests with `match`, oldest first, all in flight. */
  private readonly matching: Pending[] = [];
  /** Requests without `match`, in call order; only the first is in flight. */
  private readonly queue: Pending[] = [];
  private queueHead = 0;
  /** Replies taken, timeouts, requests given up and refused: for stats. */
  readonly counts = { replies: 0, timeouts: 0, failed: 0, overloaded: 0 };

  constructor(
    private readonly host: RequestHost,
    private readonly maxPending: number,
  ) {}

  get size(): number {
    return this.matching.length + this.queue.length - this.queueHead;
  }

  add(data: Buffer, options: RequestOptions): Promise<Buffer> {
    if (this.size >= this.maxPending) {
      const count = ++this.counts.overloaded;
      this.host.log.note('request-overloaded', { limit: this.maxPending, count }, `udp request refused: limits.maxPendingRequests (${this.maxPending}) requests are waiting for replies`);
      return Promise.reject(
        capstanError('ERR_OVERLOADED', `udp request to ${this.host.where}: ${this.maxPending} requests are waiting already (limits.maxPendingRequests); wait for some to settle`, { limit: this.maxPending }),
      );
    }
    return new Promise<Buffer>((resolve, reject) => {
      const p = new Pending(this, data, options.timeoutMs ?? REQUEST_DEFAULTS.timeoutMs, options.retries ?? REQUEST_DEFAULTS.retries, options.match ?? null, resolve, reject);
      if (p.match !== null) {
        this.matching.push(p);
        this.attempt(p);
      } else if (this.queue.push(p) - this.queueHead === 1) {
        this.attempt(p);
      }
    });
  }

  /** A record from the peer: true when a request took it as its reply. */
  offer(record: Buffer): boolean {
    const m = this.matching;
    for (let i = 0; i < m.length; i++) {
      const p = m[i] as Pending;
      let hit: boolean;
      try {
        hit = (p.match as (reply: Buffer) => boolean)(record) === true;
      } catch (err) {
        m.splice(i--, 1);
        this.settle(p);
        p.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (!hit) continue;
      m.splice(i, 1);
      this.settle(p);
      this.counts.replies++;
      p.resolve(record);
      return true;
    }
    const head = this.queue[this.queueHead];
    if (head === undefined) return false;
    this.shift();
    this.settle(head);
    this.counts.replies++;
    head.resolve(record);
    return true;
  }

  /** The session closed: every request fails with `ERR_NOT_OPEN`, carrying its reason. */
  abort(reason: CloseReason): void {
    const all = [...this.matching, ...this.queue.slice(this.queueHead)];
    this.matching.length = 0;
    this.queue.length = 0;
    this.queueHead = 0;
    for (const p of all) {
      this.settle(p);
      this.counts.failed++;
      p.reject(capstanError('ERR_NOT_OPEN', `udp request to ${this.host.where}: the session closed (${reason}) before a reply came`, { reason }));
    }
  }

  /** @internal An attempt's wait ran out. */
  timedOut(p: Pending): void {
    this.counts.timeouts++;
    if (p.attempts <= p.retries) return this.attempt(p);
    if (p.match !== null) this.matching.splice(this.matching.indexOf(p), 1);
    else this.shift();
    this.counts.failed++;
    p.reject(
      capstanError('ERR_REQUEST_TIMEOUT', `udp request to ${this.host.where}: no reply after ${p.attempts} attempts of ${p.timeoutMs} ms each; the peer may be down, or dropping requests`, {
        limit: p.timeoutMs,
        actual: p.attempts,
      }),
    );
  }

  private attempt(p: Pending): void {
    p.attempts++;
    this.host.wheel.schedule(p, this.host.wheel.now() + p.timeoutMs);
    this.host.sendRequest(p.data);
  }

  private settle(p: Pending): void {
    this.host.wheel.cancel(p);
  }

  /** The queue's first request is done: the next one goes out. */
  private shift(): void {
    this.queue[this.queueHead++] = undefined as never;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
      return;
    }
    this.attempt(this.queue[this.queueHead] as Pending);
  }
}
