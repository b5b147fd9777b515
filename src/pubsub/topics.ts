/**
 * The topics of one WebSocket server: which sockets are subscribed to what,
 * and the publish that frames a message once and appends the same bytes to
 * every subscriber's outbound batch.
 *
 * ```
 *  publish(topic, data) ─┬─► frame built once (per variant) ─► each subscriber: conn.sendEncoded
 *                        │     small: header + payload in one buffer    (copied into its batch)
 *                        │     large: a header, and the payload as given (the same Buffer queued)
 *                        └─► backend.publish ─► other processes ─► their Topics.deliver
 * ```
 *
 * Order: subscribers are visited in subscription order and every frame is
 * appended to a batch, never written around it, so each subscriber receives a
 * topic's messages in the order `publish` was called in this process (and a
 * backend's in the order it delivers them). A subscriber that cannot keep up
 * hits its own outbound cap and is closed with `slow-consumer`; the loop
 * carries on with the others and the publisher is never held up.
 *
 * A socket's topics live on the socket (`topicSet`, null until its first
 * subscribe); a topic lives in the map while it has subscribers and is removed
 * with its last one, and a socket leaves every topic when it closes.
 */
import { COPY_LIMIT } from '../connection/outbound.js';
import { capstanError } from '../errors.js';
import type { WebSocketCounters } from '../websocket/counters.js';
import { headerBytes, OP_BINARY, OP_TEXT, RSV1, writeHeader } from '../websocket/frame.js';
import type { WebSocket } from '../websocket/socket.js';
import { deflateMessage, type DeflateSettings } from '../websocket/deflate.js';
import type { PublishBackend } from './backend.js';

/**
 * Longest topic name, in UTF-16 units.
 * @category WebSocket
 */
export const MAX_TOPIC_LENGTH = 1024;
/**
 * How many topics a stats snapshot lists (those with the most subscribers): /metrics gets one series per topic.
 * @category WebSocket
 */
export const STATS_TOPICS = 100;

/**
 * Pub/sub figures a WebSocket server adds to its stats once pub/sub is used.
 * @category WebSocket
 */
export interface PubSubStats {
  /** Subscribers per topic, now: the {@link STATS_TOPICS} topics with the most. */
  topics: Record<string, number>;
  /** Topics with subscribers, now (all of them, listed or not). */
  topicCount: number;
  /** Messages published in this process (`publish` calls). */
  publishes: number;
  /** Messages published elsewhere (other workers, a broker) delivered here. */
  publishesRelayed: number;
  /** Publishes the backend dropped (over its bound) instead of carrying them to other processes. */
  publishesDropped: number;
  /** Frames built for publishes: one per message (and per variant) that had a subscriber to take it. */
  publishFrames: number;
  /** Subscribes refused because the socket was at `maxTopicsPerSocket`. */
  subscribesRefused: number;
}

/** One way of putting a message on the wire, built once for every subscriber that takes it. */
interface BuiltFrame {
  /** The header, or the whole frame when it is small. */
  readonly head: Buffer;
  /** The payload as given when it is large (queued by reference), else null. */
  readonly body: Buffer | null;
}

/**
 * Frame variants: subscribers that take the same bytes. Each variant a publish
 * needs is built once, when its first subscriber comes up in the loop: the
 * uncompressed frame, and with permessage-deflate one compressed frame per
 * {@link DeflateSettings.outKey} for subscribers whose server-to-client
 * direction keeps no context (one deflate of the message serves them all,
 * RSV1 set). A subscriber that keeps a context, or has a compression pending,
 * cannot share bytes: its message goes through its own deflate queue
 * (`MessageDeflate.send`), compressed on its own stream, in call order.
 */
function buildPlain(b0: number, payload: Buffer): BuiltFrame {
  const n = payload.length;
  const h = headerBytes(n);
  if (h + n <= COPY_LIMIT) {
    const whole = Buffer.allocUnsafe(h + n);
    payload.copy(whole, writeHeader(whole, 0, b0, n, 0));
    return { head: whole, body: null };
  }
  const head = Buffer.allocUnsafe(h);
  writeHeader(head, 0, b0, n, 0);
  return { head, body: payload };
}

function checkTopic(topic: unknown, what: string): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw capstanError('ERR_INVALID_OPTION', `${what}: a topic is a string of 1 to ${MAX_TOPIC_LENGTH} characters, not ${typeof topic === 'string' ? `${topic.length} characters` : typeof topic}`, { path: 'topic' });
  }
}

/** One server's topics and their subscribers, and the publish that frames once (see the module comment). */
export class Topics {
  private readonly subs = new Map<string, Set<WebSocket<any>>>();
  /** Set by the first subscribe or publish: a server that never uses pub/sub reports no pub/sub figures. */
  private used = false;
  private publishes = 0;
  private relayed = 0;
  private dropped = 0;
  private framesBuilt = 0;
  private refused = 0;

  constructor(
    private readonly counters: WebSocketCounters,
    private readonly backend: PublishBackend,
    private readonly maxTopicsPerSocket: number,
  ) {
    backend.open((topic, data, binary) => {
      this.relayed++;
      this.deliver(topic, data, binary, null);
    });
  }

  /** Subscribes `ws` to `topic`; false when it is not open or at `maxTopicsPerSocket`. */
  subscribe(ws: WebSocket<any>, topic: string): boolean {
    checkTopic(topic, 'subscribe');
    if (!ws.isOpen) return false;
    let mine = ws.topicSet;
    if (mine !== null && mine.has(topic)) return true;
    this.used = true;
    if (mine !== null && mine.size >= this.maxTopicsPerSocket) {
      this.refused++;
      return false;
    }
    if (mine === null) mine = ws.topicSet = new Set();
    mine.add(topic);
    let set = this.subs.get(topic);
    if (set === undefined) {
      set = new Set();
      this.subs.set(topic, set);
      this.backend.subscribed(topic);
    }
    set.add(ws);
    return true;
  }

  /** Unsubscribes `ws` from `topic`; false when it was not subscribed. */
  unsubscribe(ws: WebSocket<any>, topic: string): boolean {
    checkTopic(topic, 'unsubscribe');
    const mine = ws.topicSet;
    if (mine === null || !mine.delete(topic)) return false;
    this.leave(ws, topic);
    return true;
  }

  /** Takes a closed socket out of every topic it was in. */
  dropAll(ws: WebSocket<any>): void {
    const mine = ws.topicSet;
    if (mine === null) return;
    ws.topicSet = null;
    for (const topic of mine) this.leave(ws, topic);
  }

  /** Subscribers of `topic` in this process, now. */
  subscribers(topic: string): number {
    return this.subs.get(topic)?.size ?? 0;
  }

  /** Topics with at least one subscriber in this process. */
  get topicCount(): number {
    return this.subs.size;
  }

  /**
   * Publishes to this process's subscribers (except `except`) and hands the
   * message to the backend for the others. Returns how many sockets here it
   * was queued to.
   */
  publish(topic: string, data: Buffer | string, binary: boolean, except: WebSocket<any> | null): number {
    checkTopic(topic, 'publish');
    if (typeof data !== 'string' && !Buffer.isBuffer(data)) throw capstanError('ERR_INVALID_OPTION', `publish: data must be a string or a Buffer, not ${typeof data}`, { path: 'data' });
    this.used = true;
    this.publishes++;
    const n = this.deliver(topic, data, binary, except);
    if (!this.backend.publish(topic, data, binary)) this.dropped++;
    return n;
  }

  /** Queues a message to this process's subscribers of `topic`, each variant framed once. */
  deliver(topic: string, data: Buffer | string, binary: boolean, except: WebSocket<any> | null): number {
    const set = this.subs.get(topic);
    if (set === undefined) return 0;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const b0 = 0x80 | (binary ? OP_BINARY : OP_TEXT);
    let plain: BuiltFrame | null = null;
    let compressed: Map<string, { frame: BuiltFrame; wire: number }> | null = null;
    let n = 0;
    for (const ws of set) {
      if (ws === except || !ws.isOpen) continue;
      n++;
      const d = ws.deflate;
      if (d !== null && !d.canShare(payload.length)) {
        d.send(payload, binary ? OP_BINARY : OP_TEXT);
        continue;
      }
      if (d !== null && payload.length >= d.settings.threshold) {
        const key = d.settings.outKey;
        let c = (compressed ??= new Map()).get(key);
        if (c === undefined) {
          const z = deflateMessage(payload, d.settings);
          c = { frame: buildPlain(b0 | RSV1, z), wire: z.length };
          compressed.set(key, c);
          this.framesBuilt++;
        }
        d.countShared(payload.length, c.wire);
        ws.conn.sendEncoded(c.frame.head, c.frame.body);
        continue;
      }
      if (plain === null) {
        plain = buildPlain(b0, payload);
        this.framesBuilt++;
      }
      d?.countShared(payload.length, payload.length);
      ws.conn.sendEncoded(plain.head, plain.body);
    }
    const ctr = this.counters;
    ctr.messagesOut += n;
    ctr.bytesOut += n * payload.length;
    return n;
  }

  /** The figures for the server's stats, or undefined while pub/sub was never used. */
  stats(): PubSubStats | undefined {
    if (!this.used) return undefined;
    return {
      topics: this.topTopics(),
      topicCount: this.subs.size,
      publishes: this.publishes,
      publishesRelayed: this.relayed,
      publishesDropped: this.dropped,
      publishFrames: this.framesBuilt,
      subscribesRefused: this.refused,
    };
  }

  private leave(ws: WebSocket<any>, topic: string): void {
    const set = this.subs.get(topic);
    if (set === undefined || !set.delete(ws) || set.size > 0) return;
    this.subs.delete(topic);
    this.backend.unsubscribed(topic);
  }

  /** The STATS_TOPICS topics with the most subscribers (ties by name), in one pass over the map. */
  private topTopics(): Record<string, number> {
    const top: [string, number][] = [];
    for (const [topic, set] of this.subs) {
      const n = set.size;
      if (top.length === STATS_TOPICS) {
        const last = top[STATS_TOPICS - 1] as [string, number];
        if (n < last[1] || (n === last[1] && topic > last[0])) continue;
        top.pop();
      }
      let i = top.length;
      while (i > 0 && ((top[i - 1] as [string, number])[1] < n || ((top[i - 1] as [string, number])[1] === n && (top[i - 1] as [string, number])[0] > topic))) i--;
      top.splice(i, 0, [topic, n]);
    }
    return Object.fromEntries(top);
  }
}
