/**
 * Pub/sub across the workers of one `capstan serve`: the worker's side. Each
 * listener's WebSocket server gets a {@link PublishBackend} from here; what
 * they publish, and which topics have subscribers in this worker, go to the
 * primary over the IPC channel, and the primary hands each publish to the
 * other workers that have subscribers of its topic (see primary-relay.ts).
 *
 * ```
 *  worker 1                        primary                       worker 2
 *  publish(t) ─► its subscribers
 *      └─► ops ─(one message a turn)─► workers with interest in t ─► deliver ─► subscribers
 *  first subscriber of t ─► interest on ─►  (kept per worker)
 * ```
 *
 * Messages of a listener are matched by its name, the same in every worker.
 * Each direction sends at most one IPC message per event-loop turn, carrying
 * every publish of the turn in order, so a topic's messages from one worker
 * reach every other worker in the order they were published there. Messages
 * published at the same time in two workers may interleave differently for
 * subscribers in different workers.
 *
 * A bound: at most {@link RELAY_MAX_BYTES} of publishes in flight on a channel
 * (sent and not yet written to it). Above it a publish still reaches this
 * worker's subscribers but is dropped for the others, counted (the server's
 * `publishesDropped`) and logged at most a few lines a second.
 */
import { LogLimiter } from '../log-limiter.js';
import type { Logger } from '../logger.js';
import type { PublishBackend, RemoteDelivery } from './backend.js';

/** Bytes of publishes a relay channel may have in flight before it drops them. */
export const RELAY_MAX_BYTES = 16 * 1024 * 1024;
/** Per publish, besides its payload and topic: what a message costs on the channel, roughly. */
const OP_OVERHEAD = 48;

/** A publish on its way: listener name, topic, payload, binary. */
export type RelayPublish = [listener: string, topic: string, data: Buffer | string, binary: boolean];
/** A worker's interest changed: listener name, topic, and whether it has subscribers now. */
export type RelayInterest = [listener: string, topic: string, on: boolean];

/** What goes over the IPC channel, each way (interest only from a worker). */
export interface RelayMessage {
  t: 'capstan:pubsub';
  pubs: RelayPublish[];
  interest?: RelayInterest[];
}

/** Sends a message over the IPC channel; `done` runs once it is written. False when the channel is gone. */
export type RelaySend = (m: RelayMessage, done: () => void) => boolean;

/** The rough size of a publish on the channel, for the in-flight bound. */
export function relayBytes(topic: string, data: Buffer | string): number {
  return OP_OVERHEAD + topic.length + (typeof data === 'string' ? data.length * 3 : data.length);
}

/** One direction's queue: a turn's publishes become one message, within the in-flight bound. */
export class RelayOutbox {
  pubs: RelayPublish[] = [];
  interest: RelayInterest[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private scheduled = false;
  /** Publishes dropped over the bound. */
  dropped = 0;

  constructor(
    private readonly send: RelaySend,
    private readonly limiter: LogLimiter,
    private readonly logger: Logger,
    private readonly where: string,
  ) {}

  /** Queues a publish for this turn's message; false (counted, logged) when over the bound. */
  publish(p: RelayPublish): boolean {
    const n = relayBytes(p[1], p[2]);
    if (this.inFlight + this.queuedBytes + n > RELAY_MAX_BYTES) {
      this.dropped++;
      if (this.limiter.allow('relay-full')) {
        this.logger.warn({ listener: p[0], topic: p[1], limit: RELAY_MAX_BYTES, dropped: this.dropped }, `pub/sub: dropped a publish to ${this.where}: ${RELAY_MAX_BYTES} bytes already in flight there`);
      }
      return false;
    }
    this.pubs.push(p);
    this.queuedBytes += n;
    this.schedule();
    return true;
  }

  /** Queues an interest change, in order with the publishes. */
  changed(i: RelayInterest): void {
    this.interest.push(i);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what the turn queued as one message. */
  flush(): void {
    this.scheduled = false;
    if (this.pubs.length === 0 && this.interest.length === 0) return;
    const bytes = this.queuedBytes;
    const m: RelayMessage = { t: 'capstan:pubsub', pubs: this.pubs };
    if (this.interest.length > 0) m.interest = this.interest;
    this.pubs = [];
    this.interest = [];
    this.queuedBytes = 0;
    this.inFlight += bytes;
    if (!this.send(m, () => (this.inFlight -= bytes))) this.inFlight -= bytes;
  }
}

/** The worker's end of the relay: a backend per listener, one channel to the primary. */
export class WorkerRelay {
  private readonly deliveries = new Map<string, Set<RemoteDelivery>>();
  /** Servers with subscribers, by listener and topic (two while a reload replaces a listener). */
  private readonly interest = new Map<string, number>();
  private readonly out: RelayOutbox;

  constructor(send: RelaySend, logger: Logger) {
    this.out = new RelayOutbox(send, new LogLimiter(logger, 5, 'pub/sub relay warnings'), logger, 'the other workers');
  }

  /** The backend for the WebSocket server of the listener called `listener`. */
  backend(listener: string): PublishBackend {
    let own: RemoteDelivery | null = null;
    const interest = (topic: string, delta: number) => {
      const key = `${listener}\n${topic}`;
      const n = (this.interest.get(key) ?? 0) + delta;
      if (n > 0) this.interest.set(key, n);
      else this.interest.delete(key);
      if (n === 1 && delta > 0) this.out.changed([listener, topic, true]);
      else if (n === 0) this.out.changed([listener, topic, false]);
    };
    return {
      open: (deliver) => {
        own = deliver;
        let set = this.deliveries.get(listener);
        if (set === undefined) this.deliveries.set(listener, (set = new Set()));
        set.add(deliver);
      },
      publish: (topic, data, binary) => this.out.publish([listener, topic, data, binary]),
      subscribed: (topic) => interest(topic, 1),
      unsubscribed: (topic) => interest(topic, -1),
      close: () => {
        const set = this.deliveries.get(listener);
        if (own === null || set === undefined) return;
        set.delete(own);
        if (set.size === 0) this.deliveries.delete(listener);
        own = null;
      },
    };
  }

  /** Publishes from the other workers, as the primary passed them on. */
  receive(m: RelayMessage): void {
    for (const [listener, topic, data, binary] of m.pubs) {
      const set = this.deliveries.get(listener);
      if (set !== undefined) for (const deliver of set) deliver(topic, data, binary);
    }
  }
}
