/**
 * One connection's filter sessions, chained between its socket and its codec
 * (see filter.ts). Built when the connection opens, when its listener has
 * filters; a connection without them has no chain at all.
 *
 * ```
 *           inbound ─►                                       ◄─ outbound
 *  socket ─ session[0] ─ session[1] ─ … ─ session[n-1] ─ codec
 *           links[i].deliver → session[i+1] (or the codec), links[i].write → session[i-1] (or the socket)
 * ```
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

export class FilterChain {
  /** @internal */
  readonly sessions: FilterSession[] = [];
  /** The sessions that may hold outbound bytes (they have `pendingBytes`): pass-through ones are not asked. */
  private readonly holders: FilterSession[];
  private readonly links: FilterLink[] = [];
  /** Bytes written towards the socket since the last end of batch, gathered into one write. */
  /** @internal */
  pendingOut: Buffer[] = [];
  /** @internal */
  pendingOutBytes = 0;
  /** @internal */
  onWriteEnd: (() => void) | null = null;
  /** @internal */
  closed = false;
  /** True once the peer's end went through every filter. */
  inboundEnded = false;
  private endRequested = false;
  /** Sessions holding the socket's reads (holdInbound). */
  holds = 0;
  /** An empty write is out to look at the marks again when it completes (write-path.ts, filterSettled). */
  settling = false;

  constructor(
    c: Connection<any>,
    filters: readonly Filter[],
    /** @internal */
    readonly ends: ChainEnds,
  ) {
    const n = filters.length;
    for (let i = 0; i < n; i++) this.links.push(new ChainLink(this, c, i, n));
    for (let i = 0; i < n; i++) this.sessions.push((filters[i] as Filter).open(this.links[i] as FilterLink));
    this.holders = this.sessions.filter((s) => 'pendingBytes' in s);
  }

  /** Bytes from the socket. */
  inbound(bytes: Buffer): void {
    if (!this.closed) (this.sessions[0] as FilterSession).inbound(bytes);
  }

  /** One turn's batch from the codec. */
  outbound(batch: Buffer | Buffer[]): void {
    if (this.closed) return;
    const last = this.sessions[this.sessions.length - 1] as FilterSession;
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
}

/**
 * One session's link to its neighbours. A class rather than an object literal
 * of closures: every link then shares one shape and its methods one function
 * each, so the calls through a chain stay monomorphic and inline (per-connection
 * closures made a pass-through filter cost about 14 % of a 64-byte echo).
 */
class ChainLink implements FilterLink {
  constructor(
    private readonly chain: FilterChain,
    private readonly c: Connection<any>,
    private readonly i: number,
    private readonly n: number,
  ) {}

  private alive(): boolean {
    return !this.chain.closed && this.c.st < State.Closing;
  }

  deliver(bytes: Buffer): void {
    if (!this.alive() || bytes.length === 0) return;
    const chain = this.chain;
    if (this.i + 1 < this.n) (chain.sessions[this.i + 1] as FilterSession).inbound(bytes);
    else chain.ends.deliver(this.c, bytes);
  }

  deliverEnd(): void {
    if (!this.alive()) return;
    const chain = this.chain;
    if (this.i + 1 < this.n) return chain.endInboundAt(this.i + 1);
    chain.inboundEnded = true;
    chain.ends.delivered(this.c);
  }

  write(bytes: Buffer, endOfBatch: boolean): void {
    if (!this.alive()) return;
    const chain = this.chain;
    const c = this.c;
    if (this.i > 0) return (chain.sessions[this.i - 1] as FilterSession).outbound(bytes, endOfBatch);
    if (endOfBatch && chain.pendingOutBytes === 0 && (c.flags & F_BP_PAUSED) === 0) {
      // The common case: a whole batch in one buffer, nothing held, reading not paused.
      if (bytes.length > 0) chain.ends.write(c, bytes, bytes.length);
      return;
    }
    if (bytes.length > 0) {
      chain.pendingOut.push(bytes);
      chain.pendingOutBytes += bytes.length;
    }
    if (!endOfBatch) return;
    if (chain.pendingOutBytes > 0) {
      const out = chain.pendingOut;
      const total = chain.pendingOutBytes;
      chain.pendingOut = [];
      chain.pendingOutBytes = 0;
      chain.ends.write(c, out.length === 1 ? (out[0] as Buffer) : out, total);
    }
    if (this.alive() && (c.flags & F_BP_PAUSED) !== 0) chain.ends.settled(c);
  }

  writeEnd(): void {
    if (!this.alive()) return;
    const chain = this.chain;
    if (this.i > 0) return chain.endOutboundAt(this.i - 1);
    const done = chain.onWriteEnd;
    chain.onWriteEnd = null;
    done?.();
  }

  fail(reason: CloseReason, error: Error): void {
    if (this.alive()) this.c.fail(reason, error);
  }

  holdInbound(held: boolean): void {
    if (!this.alive()) return;
    const chain = this.chain;
    const c = this.c;
    chain.holds += held ? 1 : -1;
    if (held && chain.holds === 1) {
      c.flags |= F_FILTER_HELD;
      c.socket.pause();
    } else if (!held && chain.holds === 0) {
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
