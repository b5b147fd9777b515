/**
 * One connection's filter sessions, chained between its socket and its codec
 * (see filter.ts). Built when the connection opens, when its listener has
 * filters; a connection without them has no chain at all.
 *
 * ```
 *           inbound ─►                                       ◄─ outbound
 *  socket ─ session[0] ─ session[1] ─ … ─ session[n-1] ─ codec
 *           link[i].deliver → session[i+1] (or the codec), link[i].write → session[i-1] (or the socket)
 * ```
 *
 * The chain itself is the first session's link (the socket's side), so a read
 * or a batch through one filter reaches two objects of the connection's, the
 * chain and the session: with many connections they are seldom in cache, and
 * each object on the way costs a cache miss. Reached through a sessions array
 * and a link object of its own, a read took five, most of what a pass-through
 * filter cost (0.95-0.96x the echo without it, in paired rounds).
 */
import type { Connection } from '../connection/connection.js';
import { State } from '../connection/connection.js';
import { F_BP_PAUSED, F_FILTER_HELD, F_FRAMES_HELD, F_USER_PAUSED } from '../connection/flags.js';
import type { CloseReason } from '../connection/close-reason.js';
import type { Filter, FilterLink, FilterSession } from './filter.js';

/** What the chain hands back to its connection (read-path.ts, write-path.ts). */
export interface ChainEnds {
  /** Bytes that went through every filter, for the codec. */
  deliver(c: Connection<any>, bytes: Buffer): void;
  /** The peer's FIN, after the filters handed on what they held. */
  delivered(c: Connection<any>): void;
  /** Bytes for the socket: one batch (written with one cork when there are several). */
  write(c: Connection<any>, batch: Buffer | Buffer[], bytes: number): void;
  /** A batch reached the socket's end of the chain (written, or empty): what the filters held may have fallen. */
  settled(c: Connection<any>): void;
}

export class FilterChain implements FilterLink {
  // What a read or a batch touches comes first, so it sits together at the object's start.
  /** @internal The session next to the socket, where every read enters. */
  readonly first: FilterSession;
  /** @internal The session next to the codec, where every batch enters. */
  readonly last: FilterSession;
  /** @internal As the first session's link: the session after it, or null when the codec is next. */
  private readonly next: FilterSession | null;
  /** @internal */
  closed = false;
  /** @internal Bytes written towards the socket since the last end of batch, gathered into one write. */
  pendingOutBytes = 0;
  /** The sessions that may hold outbound bytes (they have `pendingBytes`), or null when none does: pass-through ones are not asked. */
  private readonly holders: FilterSession[] | null;
  /** @internal */
  readonly ends: ChainEnds;
  /** @internal */
  readonly c: Connection<any>;
  /** @internal */
  pendingOut: Buffer[] = [];
  /** @internal */
  readonly sessions: FilterSession[] = [];
  /** Each session's link: this chain for the first, a {@link ChainLink} for the others. */
  private readonly links: FilterLink[];
  /** @internal */
  onWriteEnd: (() => void) | null = null;
  /** True once the peer's end went through every filter. */
  inboundEnded = false;
  private endRequested = false;
  /** Sessions holding the socket's reads (holdInbound). */
  holds = 0;
  /** An empty write is out to look at the marks again when it completes (write-path.ts, filterSettled). */
  settling = false;

  constructor(c: Connection<any>, filters: readonly Filter[], ends: ChainEnds) {
    this.ends = ends;
    this.c = c;
    const n = filters.length;
    const links: ChainLink[] = [];
    for (let i = 1; i < n; i++) links.push(new ChainLink(this, i));
    this.links = [this, ...links];
    for (let i = 0; i < n; i++) this.sessions.push((filters[i] as Filter).open(this.links[i] as FilterLink));
    // Each link reaches its neighbours directly, not through the sessions array.
    for (const link of links) {
      link.next = link.i + 1 < n ? (this.sessions[link.i + 1] as FilterSession) : null;
      link.prev = this.sessions[link.i - 1] as FilterSession;
    }
    this.next = n > 1 ? (this.sessions[1] as FilterSession) : null;
    this.first = this.sessions[0] as FilterSession;
    this.last = this.sessions[n - 1] as FilterSession;
    const holders = this.sessions.filter((s) => 'pendingBytes' in s);
    this.holders = holders.length > 0 ? holders : null;
  }

  /** Bytes from the socket. */
  inbound(bytes: Buffer): void {
    if (!this.closed) this.first.inbound(bytes);
  }

  /** One turn's batch from the codec. */
  outbound(batch: Buffer | Buffer[]): void {
    if (this.closed) return;
    const last = this.last;
    if (!Array.isArray(batch)) return last.outbound(batch, true);
    for (let i = 0; i < batch.length; i++) last.outbound(batch[i] as Buffer, i === batch.length - 1);
  }

  /** The peer sent FIN: it goes through the filters, which hand on what they hold first. */
  endInbound(): void {
    if (this.closed || this.endRequested) return;
    this.endRequested = true;
    this.endInboundAt(0);
  }

  /** We are ending: the filters write what they hold, then `done` sends our FIN. */
  endOutbound(done: () => void): void {
    if (this.closed) return done();
    this.onWriteEnd = done;
    this.endOutboundAt(this.sessions.length - 1);
  }

  /** The connection reads again: filters hand on what they held. */
  resume(): void {
    for (const s of this.sessions) s.resume?.();
  }

  /** Bytes to the peer the filters hold (counted with the socket's queue against the marks). */
  get pendingBytes(): number {
    let n = this.pendingOutBytes;
    const held = this.holders;
    if (held === null) return n;
    for (let i = 0; i < held.length; i++) n += (held[i] as FilterSession).pendingBytes as number;
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pendingOut = [];
    this.pendingOutBytes = 0;
    for (const s of this.sessions) {
      try {
        s.close?.();
      } catch {
        // A filter's cleanup must not keep the connection from closing.
      }
    }
  }

  /** @internal */
  endInboundAt(i: number): void {
    const s = this.sessions[i] as FilterSession;
    if (s.inboundEnd !== undefined) s.inboundEnd();
    else (this.links[i] as FilterLink).deliverEnd();
  }

  /** @internal */
  endOutboundAt(i: number): void {
    const s = this.sessions[i] as FilterSession;
    if (s.outboundEnd !== undefined) s.outboundEnd();
    else (this.links[i] as FilterLink).writeEnd();
  }

  // ── the first session's link (FilterLink) ─────────────────────────────────

  /** @internal True while bytes may still move: the connection is not closing. */
  alive(): boolean {
    return !this.closed && this.c.st < State.Closing;
  }

  deliver(bytes: Buffer): void {
    if (this.alive() && bytes.length > 0) this.handOn(this.next, bytes);
  }

  /** @internal Bytes out of a session, for `next` (or the codec, when null). */
  handOn(next: FilterSession | null, bytes: Buffer): void {
    if (next !== null) next.inbound(bytes);
    else this.ends.deliver(this.c, bytes);
  }

  deliverEnd(): void {
    this.endDeliveredBy(0);
  }

  /** @internal Session `i` handed on the peer's end. */
  endDeliveredBy(i: number): void {
    if (!this.alive()) return;
    if (i + 1 < this.sessions.length) return this.endInboundAt(i + 1);
    this.inboundEnded = true;
    this.ends.delivered(this.c);
  }

  write(bytes: Buffer, endOfBatch: boolean): void {
    if (!this.alive()) return;
    const c = this.c;
    if (endOfBatch && this.pendingOutBytes === 0 && (c.flags & F_BP_PAUSED) === 0) {
      // The common case: a whole batch in one buffer, nothing held, reading not paused.
      if (bytes.length > 0) this.ends.write(c, bytes, bytes.length);
      return;
    }
    if (bytes.length > 0) {
      this.pendingOut.push(bytes);
      this.pendingOutBytes += bytes.length;
    }
    if (!endOfBatch) return;
    if (this.pendingOutBytes > 0) {
      const out = this.pendingOut;
      const total = this.pendingOutBytes;
      this.pendingOut = [];
      this.pendingOutBytes = 0;
      this.ends.write(c, out.length === 1 ? (out[0] as Buffer) : out, total);
    }
    if (this.alive() && (c.flags & F_BP_PAUSED) !== 0) this.ends.settled(c);
  }

  writeEnd(): void {
    if (!this.alive()) return;
    const done = this.onWriteEnd;
    this.onWriteEnd = null;
    done?.();
  }

  fail(reason: CloseReason, error: Error): void {
    if (this.alive()) this.c.fail(reason, error);
  }

  holdInbound(held: boolean): void {
    if (!this.alive()) return;
    const c = this.c;
    this.holds += held ? 1 : -1;
    if (held && this.holds === 1) {
      c.flags |= F_FILTER_HELD;
      c.socket.pause();
    } else if (!held && this.holds === 0) {
      c.flags &= ~F_FILTER_HELD;
      if ((c.flags & (F_USER_PAUSED | F_BP_PAUSED | F_FRAMES_HELD)) === 0) c.socket.resume();
    }
  }

  get paused(): boolean {
    return (this.c.flags & (F_USER_PAUSED | F_BP_PAUSED | F_FRAMES_HELD)) !== 0;
  }

  note(kind: string, detail: Record<string, unknown>, message: string): void {
    const c = this.c;
    c.ctx.log.note(kind, { conn: c.id, remote: `${c.remoteAddress}:${c.remotePort}`, ...detail }, message);
  }

  get remoteAddress(): string {
    return this.c.remoteAddress;
  }
}

/**
 * The link of every session after the first: it hands bytes to its
 * neighbours and leaves the rest to the chain. A class rather than an object
 * literal of closures: every link then shares one shape and its methods one
 * function each, so the calls through a chain stay monomorphic and inline
 * (per-connection closures made a pass-through filter cost about 14 % of a
 * 64-byte echo).
 */
class ChainLink implements FilterLink {
  /** The session towards the codec, or null for the last one (the codec is next). */
  next: FilterSession | null = null;
  /** The session towards the socket. */
  prev: FilterSession = null as unknown as FilterSession;

  constructor(
    private readonly chain: FilterChain,
    readonly i: number,
  ) {}

  deliver(bytes: Buffer): void {
    if (this.chain.alive() && bytes.length > 0) this.chain.handOn(this.next, bytes);
  }

  deliverEnd(): void {
    this.chain.endDeliveredBy(this.i);
  }

  write(bytes: Buffer, endOfBatch: boolean): void {
    if (this.chain.alive()) this.prev.outbound(bytes, endOfBatch);
  }

  writeEnd(): void {
    if (this.chain.alive()) this.chain.endOutboundAt(this.i - 1);
  }

  fail(reason: CloseReason, error: Error): void {
    this.chain.fail(reason, error);
  }

  holdInbound(held: boolean): void {
    this.chain.holdInbound(held);
  }

  get paused(): boolean {
    return this.chain.paused;
  }

  note(kind: string, detail: Record<string, unknown>, message: string): void {
    this.chain.note(kind, detail, message);
  }

  get remoteAddress(): string {
    return this.chain.remoteAddress;
  }
}
