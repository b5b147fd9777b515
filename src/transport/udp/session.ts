/**
 * Session: one UDP peer (source address and port) of a listener, from its
 * first datagram to the single `close`.
 *
 * ```
 *   first datagram ─► [accept?] ─► OPEN ── message* ── end() / idle / shutdown / ICMP ─► CLOSING ─► CLOSED
 *                                    │ send: records packed for the turn      pending sends    close(reason)
 *                                    └──────────────────────────────────────► flushed          once, last
 * ```
 *
 * A session is plain fields: its idle deadline is one entry on the timer
 * wheel, filed lazily (a datagram only stamps `lastActive`), its rate is a
 * bucket of two numbers, and its outbound batch borrows the shared slab only
 * for the turn in which it sends.
 */
import type { CloseReason } from '../../connection/close-reason.js';
import type { EventLog } from '../../connection/event-log.js';
import type { OutboundState } from '../../connection/outbound.js';
import type { ListenerCounters } from '../../metrics/listener-counters.js';
import type { ProxyHeader } from '../../pipeline/proxy-protocol.js';
import type { WheelEntry } from '../../timers/timer-wheel.js';
import type { PeerEntry } from './peers.js';
import { RateBucket, type Rate } from './rate.js';

/** What a session asks of its listener. */
export interface SessionHost {
  sendFrom(session: Session<any>, datagram: Buffer): boolean;
  /** Starts closing `session`: `flush` sends what it queued first. `close` is delivered at the end of the turn. */
  closeSession(session: Session<any>, reason: CloseReason, error: Error | undefined, flush: boolean): void;
  /** The wheel entry came due: check the idle (and, while draining, quiet) deadline. */
  sessionDue(session: Session<any>, now: number): void;
}

export const enum SessionState {
  Open = 0,
  Closing = 1,
  Closed = 2,
}

/** What closing a session needs of its owner's sender: its packed records sent or dropped. */
interface Flusher {
  seal(session: Session<any>): void;
  discard(session: Session<any>): void;
}

/**
 * Marks an open session closing with `reason`: its wheel entry goes, and what
 * it packed this turn is sent (`flush`) or dropped. False when it was not
 * open. The owner delivers `close` at the end of the turn.
 */
export function startClosing(s: Session<any>, reason: CloseReason, error: Error | undefined, flush: boolean, sender: Flusher, wheel: { cancel(entry: WheelEntry): void }): boolean {
  if (s.st !== SessionState.Open) return false;
  s.st = SessionState.Closing;
  s.reason = reason;
  s.error = error;
  wheel.cancel(s);
  if (flush) sender.seal(s);
  else sender.discard(s);
  return true;
}

/** Runs `run` once at the end of the event-loop turn, however many times it is asked for during it. */
export class EndOfTurn {
  private queued = false;
  private readonly fire = (): void => {
    this.queued = false;
    this.run();
  };

  constructor(private readonly run: () => void) {}

  queue(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(this.fire);
  }
}

/** Where a session's ending is counted and logged. */
interface Reporting {
  readonly counters: ListenerCounters;
  readonly log: EventLog;
}

/** Counts and logs a handler method that threw, and closes its session with `handler-error` (after what it sent). */
export function handlerThrew(r: Reporting & { closeSession: SessionHost['closeSession'] }, s: Session<any>, method: string, err: unknown): void {
  r.counters.handlerErrors++;
  const error = err instanceof Error ? err : new Error(String(err));
  r.log.handlerThrew(s, method, error);
  r.closeSession(s, 'handler-error', error, true);
}

/** Ends a closing session: counted by reason, logged when abnormal, and `handler.close` called last (a throw there is counted and logged). */
export function finishClosing(r: Reporting, s: Session<any>, handler: { close?(session: Session<any>, reason: CloseReason, error?: Error): void }): void {
  s.st = SessionState.Closed;
  const reason = s.reason as CloseReason;
  r.counters.closes[reason]++;
  r.counters.active--;
  r.log.closed(s, reason, s.error);
  if (handler.close === undefined) return;
  try {
    handler.close(s, reason, s.error);
  } catch (err) {
    r.counters.handlerErrors++;
    r.log.handlerThrew(s, 'close', err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Where a {@link Session} is in its life: `open` (sends are taken), `closing`
 * (ended or destroyed; queued records are flushed or dropped, `close` not yet
 * called) or `closed`.
 * @category UDP
 */
export type SessionStateName = 'open' | 'closing' | 'closed';
const STATE_NAMES: readonly SessionStateName[] = ['open', 'closing', 'closed'];

/**
 * The peer a new session would be for, as {@link DatagramHandler.accept} sees it.
 * @category UDP
 */
export interface PeerInfo {
  /** The source address of the datagram: `127.0.0.1`, `::1`. */
  readonly address: string;
  /** The source port of the datagram. */
  readonly port: number;
  /** `IPv4` or `IPv6`. */
  readonly family: string;
  /** The datagram's PROXY header, when it came through a proxy (`proxyProtocol`); absent otherwise. */
  readonly proxy?: ProxyHeader;
}

let nextId = 1;

/**
 * One UDP peer. Handlers receive it in every call; keep it to send later.
 * @typeParam D - the type of the per-session {@link Session.data} slot.
 * @category UDP
 */
export class Session<D = unknown> implements WheelEntry, OutboundState {
  /** Process-unique id, for logs. */
  readonly id: number = nextId++;
  /** Your per-session state. Starts `undefined`; set it in `open`. */
  data: D = undefined as D;
  /** The peer's address. */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
  /** `IPv4` or `IPv6`. */
  readonly remoteFamily: string;
  /**
   * On a listener with `proxyProtocol`: the PROXY header of the latest
   * datagram delivered to this session (`command: 'local'` for the proxy's own
   * datagrams); null for datagrams that came without one. `remoteAddress` and
   * `remotePort` are the client's from the header.
   */
  proxy: ProxyHeader | null = null;
  /** @internal Where sends go: the peer itself, or the proxy that relayed its latest datagram. */
  replyAddress: string;
  /** @internal */ replyPort: number;

  /** @internal */ st: SessionState = SessionState.Open;
  /** @internal */ readonly host: SessionHost;
  /** @internal The address's entry in the session table. */
  readonly peer: PeerEntry;
  /** @internal Datagrams in, datagrams/s and bytes/s. */
  readonly bucket: RateBucket;
  /** @internal When the peer last sent a datagram (wheel time). */
  lastActive: number;
  /** @internal Queued in the listener's list of sessions with records to send this turn. */
  dirty = false;
  /** @internal Sends to go before the next that carries the send callback (sender.ts). */
  probeIn = 0;
  /** @internal */ reason: CloseReason | null = null;
  /** @internal */ error: Error | undefined = undefined;

  /** @internal */ outSlab: Buffer | null = null;
  /** @internal */ outStart = 0;
  /** @internal */ outEnd = 0;
  /** @internal */ outChunks: Buffer[] | null = null;
  /** @internal */ outBytes = 0;
  /** @internal */ wheelNext: WheelEntry | null = null;
  /** @internal */ wheelPrev: WheelEntry | null = null;
  /** @internal */ wheelSlot = -1;
  /** @internal */ wheelDue = 0;

  /** @internal Listeners make sessions; handlers receive them. */
  constructor(host: SessionHost, peer: PeerEntry, port: number, family: string, rate: Rate, now: number) {
    this.host = host;
    this.peer = peer;
    this.remoteAddress = peer.address;
    this.remotePort = port;
    this.remoteFamily = family;
    this.replyAddress = peer.address;
    this.replyPort = port;
    this.bucket = new RateBucket(rate, now);
    this.lastActive = now;
  }

  /** Where the session is in its life. */
  get state(): SessionStateName {
    return STATE_NAMES[this.st] as SessionStateName;
  }

  /** True while `send` accepts datagrams. */
  get writable(): boolean {
    return this.st === SessionState.Open;
  }

  /**
   * Sends `datagram` to the peer. With the raw codec it is one datagram, handed
   * to the socket at once; with a framing codec it is one record, and the
   * records sent to the peer in one event-loop turn leave packed into as few
   * datagrams as `packBytes` allows.
   * @returns `false` when the session is closed or sending backs off after a
   *   resource error (the datagram is dropped and counted); otherwise `true`.
   *   UDP promises no delivery either way.
   * @throws CapstanError `ERR_FRAME_TOO_LARGE` when the datagram is larger than UDP carries.
   */
  send(datagram: Buffer | string): boolean {
    if (this.st !== SessionState.Open) return false;
    return this.host.sendFrom(this, typeof datagram === 'string' ? Buffer.from(datagram) : datagram);
  }

  /** Sends what is queued, then closes the session (`local-end`). Nothing is delivered after this call. */
  end(): void {
    if (this.st === SessionState.Open) this.host.closeSession(this, 'local-end', undefined, true);
  }

  /**
   * Closes the session without sending what is queued.
   * @param reason - the close reason to report; default `local-destroy`.
   */
  destroy(reason: CloseReason = 'local-destroy', error?: Error): void {
    if (this.st === SessionState.Open) this.host.closeSession(this, reason, error, false);
  }

  /** @internal */
  onWheelDue(now: number): void {
    this.host.sessionDue(this, now);
  }
}
