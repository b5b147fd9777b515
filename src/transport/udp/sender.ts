/**
 * The send path: sessions' datagrams to the socket, and what the socket says
 * about them.
 *
 * ```
 *  raw:    send ─────────────────────────────────────────────► socket.send (one datagram)
 *  codec:  send ─► encoder ─► the session's batch (shared slab) ─┬─ full (packBytes): socket.send
 *                                                                └─ end of turn:      socket.send
 *  socket.send ─► onSent ─┬─ ok: the back-off, if any, ends
 *   (sampled)             ├─ ICMP (ECONNREFUSED …): counted, that session closes `peer-unreachable`
 *                         │    (on a client's connected socket, the error names no peer: it is the one)
 *                         └─ ENOBUFS, EAGAIN, EMFILE …: counted, sending backs off
 * ```
 *
 * A send's error reaches us only through its callback (without one Node drops
 * it unseen), but a callback costs Node a deferred call per datagram: with one
 * on every send, an echo spent 12 % more CPU per datagram than without
 * (paired runs under udpload, 100 peers, 64 B). So on a listener's
 * (unconnected) socket the callback rides on a sample of the sends: a
 * session's first send and every 16th after it, and every send while sending
 * backs off and for a second after any failure. The kernel running short of
 * buffers lasts and hits every session, so the sample sees it within a few
 * sends; an ICMP error (on platforms that report one to an unconnected socket)
 * ends its session within 16 sends to it. A client's connected socket has
 * one peer, and every send carries the callback. It is the same function for
 * every send (bound once): the error it is passed names the destination, so
 * no closure per datagram is needed to know which peer failed. Datagrams and
 * bytes are counted as they are handed to the socket; a failure seen takes
 * its datagram back off the count. Node has no sendmmsg, so each datagram
 * costs one `socket.send`.
 *
 * **Back-off.** A resource error (the kernel's buffers or descriptors ran out)
 * stops sending for 10 ms, doubling on each further error up to 1 s, and
 * resetting after the first send that succeeds once the pause is over. While
 * paused, sends are dropped and counted (`backoff`) without a system call:
 * nothing is retried, queued or polled, so a starved kernel costs no busy loop.
 */
import type dgram from 'node:dgram';
import type { Encoder } from '../../codecs/codec.js';
import type { EventLog } from '../../connection/event-log.js';
import { discardBatch, sink, takeBatch } from '../../connection/outbound.js';
import { capstanError } from '../../errors.js';
import type { ListenerCounters } from '../../metrics/listener-counters.js';
import { countCode, type UdpCounters } from '../../metrics/udp-counters.js';
import type { TimerWheel } from '../../timers/timer-wheel.js';
import type { Session } from './session.js';

/** Errors an ICMP message causes: the peer's port or host cannot be reached. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ECONNRESET']);
/** Errors that say the kernel is short of something: wait, do not retry at once. */
export const RESOURCE_CODES: ReadonlySet<string> = new Set(['ENOBUFS', 'ENOMEM', 'EAGAIN', 'EWOULDBLOCK', 'EMFILE', 'ENFILE']);

/** On a listener's socket, one send in this many to a session carries the callback (its first send included). */
const PROBE_EVERY = 16;
/** After a failure is seen, every send carries the callback for this long (ms). */
const WATCH_MS = 1_000;
const FIRST_BACKOFF_MS = 10;
const MAX_BACKOFF_MS = 1_000;
/** Room left for a record's header when deciding whether it still fits the datagram being packed. */
const HEADER_ALLOWANCE = 16;

function byteLength(payload: Buffer | Buffer[]): number {
  if (!Array.isArray(payload)) return payload.length;
  let n = 0;
  for (let i = 0; i < payload.length; i++) n += (payload[i] as Buffer).length;
  return n;
}

/** The largest UDP payload: 65,535 less the IP and UDP headers (IPv6 jumbograms aside). */
export function maxPayload(type: 'udp4' | 'udp6'): number {
  return type === 'udp4' ? 65_507 : 65_527;
}

export interface SenderHost {
  /** A send to `address`:`port` drew an ICMP error. */
  unreachable(address: string, port: number, error: Error): void;
  /** Sessions have records waiting: run the end-of-turn flush. */
  queueTurn(): void;
}

export class Sender {
  private readonly dirty: Session<any>[] = [];
  /** Wheel time before which sends are dropped; 0 while not backing off. */
  private blockedUntil = 0;
  private backoffMs = 0;
  /** Wheel time before which every send carries the callback (after a failure); 0 when not watching. */
  private watchUntil = 0;
  /** The callback of the sends that carry one. */
  readonly onSent = (err: Error | null): void => {
    if (err === null || err === undefined) {
      if (this.backoffMs !== 0 && this.wheel.now() >= this.blockedUntil) {
        this.backoffMs = 0;
        this.blockedUntil = 0;
        this.watchUntil = this.wheel.now() + WATCH_MS;
      }
      return;
    }
    this.failed(err as NodeJS.ErrnoException & { address?: string; port?: number });
  };

  constructor(
    private readonly socket: dgram.Socket,
    /** The codec's encoder, or null for raw datagrams. */
    private readonly encoder: Encoder | null,
    private readonly packBytes: number,
    private readonly limit: number,
    private readonly counters: ListenerCounters,
    private readonly udp: UdpCounters,
    private readonly wheel: TimerWheel,
    private readonly log: EventLog,
    private readonly host: SenderHost,
    /** A client's connect()ed socket: sends name no destination, and every ICMP error is about its one peer. */
    private readonly connected = false,
  ) {}

  /** Sends `data` from `s` (open): see the module comment. */
  send(s: Session<any>, data: Buffer): boolean {
    if (this.blockedUntil !== 0 && this.wheel.now() < this.blockedUntil) {
      this.udp.drops.backoff++;
      return false;
    }
    if (data.length > this.limit) {
      throw capstanError('ERR_FRAME_TOO_LARGE', `udp: a datagram of ${data.length} bytes is larger than UDP carries (${this.limit})`, { limit: this.limit, actual: data.length });
    }
    this.counters.framesOut++;
    const encoder = this.encoder;
    if (encoder === null) {
      this.transmit(s, data);
      return true;
    }
    if (s.outBytes > 0 && s.outBytes + data.length + HEADER_ALLOWANCE > this.packBytes) this.seal(s);
    sink.target = s;
    encoder.encode(data, sink);
    if (!s.dirty) {
      s.dirty = true;
      if (this.dirty.push(s) === 1) this.host.queueTurn();
    }
    return true;
  }

  /** Sends the records `s` has packed so far as one datagram. */
  seal(s: Session<any>): void {
    const batch = takeBatch(s);
    if (batch !== null) this.transmit(s, batch);
  }

  /** Drops what `s` has packed and not sent. */
  discard(s: Session<any>): void {
    discardBatch(s);
  }

  /** End of turn: every session's packed records go out. */
  flush(): void {
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) {
      const s = dirty[i] as Session<any>;
      s.dirty = false;
      this.seal(s);
    }
    dirty.length = 0;
  }

  private transmit(s: Session<any>, payload: Buffer | Buffer[]): void {
    this.udp.datagramsOut++;
    this.counters.bytesOut += byteLength(payload);
    try {
      if (this.connected) this.socket.send(payload, this.onSent);
      else if (this.probes(s)) this.socket.send(payload, s.replyPort, s.replyAddress, this.onSent);
      else this.socket.send(payload, s.replyPort, s.replyAddress);
    } catch (err) {
      // Node throws only for a socket that is no longer running or arguments it rejects.
      this.failed(err as NodeJS.ErrnoException);
    }
  }

  /** Whether this send to `s` carries the callback (see the module comment). */
  private probes(s: Session<any>): boolean {
    if (s.probeIn-- <= 0 || this.backoffMs !== 0 || (this.watchUntil !== 0 && this.watching())) {
      s.probeIn = PROBE_EVERY - 1;
      return true;
    }
    return false;
  }

  private watching(): boolean {
    if (this.wheel.now() < this.watchUntil) return true;
    this.watchUntil = 0;
    return false;
  }

  private failed(err: NodeJS.ErrnoException & { address?: string; port?: number }): void {
    const code = err.code ?? 'UNKNOWN';
    const udp = this.udp;
    udp.datagramsOut--;
    udp.drops['send-error']++;
    this.watchUntil = this.wheel.now() + WATCH_MS;
    const count = countCode(udp.sendErrors, code);
    if (UNREACHABLE_CODES.has(code)) {
      udp.icmpErrors++;
      if (typeof err.address === 'string' && typeof err.port === 'number') this.host.unreachable(err.address, err.port, err);
      else if (this.connected) this.host.unreachable('', 0, err);
      return;
    }
    if (RESOURCE_CODES.has(code)) {
      this.backoffMs = this.backoffMs === 0 ? FIRST_BACKOFF_MS : Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
      this.blockedUntil = this.wheel.now() + this.backoffMs;
      this.log.note(`send-error:${code}`, { code, count, backoffMs: this.backoffMs }, `udp send failed: ${code}; the kernel is short of buffers or descriptors, so sending pauses for ${this.backoffMs} ms (sends meanwhile are dropped)`);
      return;
    }
    this.log.note(`send-error:${code}`, { code, count, remote: `${err.address ?? ''}:${err.port ?? 0}` }, `udp send failed: ${err.message}`);
  }
}
