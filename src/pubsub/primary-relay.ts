/**
 * Pub/sub across workers: the primary's side. It keeps which workers have
 * subscribers of which listener's topics, and passes each publish a worker
 * sends on to the other workers with subscribers of that topic (never back to
 * the one it came from, which delivered it itself). See worker-relay.ts for
 * the whole picture, the order and the in-flight bound, which applies here to
 * each worker's channel too.
 */
import { LogLimiter } from '../log-limiter.js';
import type { Logger } from '../logger.js';
import { RelayOutbox, type RelayMessage, type RelaySend } from './worker-relay.js';

/** Sends a relay message to one worker. */
export type RelaySendTo = (worker: string, m: RelayMessage, done: () => void) => boolean;

/** The primary's end of the relay: interest per worker, and an outbox to each worker. */
export class PrimaryRelay {
  /** Workers with subscribers, by listener and topic. */
  private readonly interest = new Map<string, Set<string>>();
  private readonly outboxes = new Map<string, RelayOutbox>();
  private readonly limiter: LogLimiter;

  constructor(
    private readonly sendTo: RelaySendTo,
    private readonly logger: Logger,
  ) {
    this.limiter = new LogLimiter(logger, 5, 'pub/sub relay warnings');
  }

  /** Publishes passed on to each worker since the start, that its channel's bound dropped. */
  get dropped(): number {
    let n = 0;
    for (const o of this.outboxes.values()) n += o.dropped;
    return n;
  }

  /** A worker's turn of publishes and interest changes. */
  fromWorker(worker: string, m: RelayMessage): void {
    for (const [listener, topic, on] of m.interest ?? []) {
      const key = `${listener}\n${topic}`;
      let set = this.interest.get(key);
      if (on) {
        if (set === undefined) this.interest.set(key, (set = new Set()));
        set.add(worker);
      } else if (set !== undefined) {
        set.delete(worker);
        if (set.size === 0) this.interest.delete(key);
      }
    }
    for (const p of m.pubs) {
      const set = this.interest.get(`${p[0]}\n${p[1]}`);
      if (set === undefined) continue;
      for (const w of set) if (w !== worker) this.outbox(w).publish(p);
    }
  }

  /** The worker exited: it has no subscribers any more, and nothing more goes to it. */
  forget(worker: string): void {
    for (const [key, set] of this.interest) {
      if (set.delete(worker) && set.size === 0) this.interest.delete(key);
    }
    this.outboxes.delete(worker);
  }

  private outbox(worker: string): RelayOutbox {
    let o = this.outboxes.get(worker);
    if (o === undefined) {
      const send: RelaySend = (m, done) => this.sendTo(worker, m, done);
      o = new RelayOutbox(send, this.limiter, this.logger, `worker ${worker}`);
      this.outboxes.set(worker, o);
    }
    return o;
  }
}
