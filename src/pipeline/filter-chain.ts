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
import { F_BP_PAUSED, F_FILTER_HELD, F_USER_PAUSED } from '../connection/flags.js';
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
  private readonly sessions: FilterSession[] = [];
  private readonly links: FilterLink[] = [];
  /** Bytes written towards the socket since the last end of batch, gathered into one write. */
  private pendingOut: Buffer[] = [];
  private pendingOutBytes = 0;
  private onWriteEnd: (() => void) | null = null;
  private closed = false;
  /** True once the peer's end went through every filter. */
  inboundEnded = false;
  private endRequested = false;
  /** Sessions holding the socket's reads (holdInbound). */
  private holds = 0;

  constructor(
    private readonly c: Connection<any>,
    filters: readonly Filter[],
    private readonly ends: ChainEnds,
  ) {
    const n = filters.length;
    for (let i = 0; i < n; i++) this.links.push(this.link(i, n));
    for (let i = 0; i < n; i++) this.sessions.push((filters[i] as Filter).open(this.links[i] as FilterLink));
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
    for (const s of this.sessions) n += s.pendingBytes ?? 0;
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

  private endInboundAt(i: number): void {
    const s = this.sessions[i] as FilterSession;
    if (s.inboundEnd !== undefined) s.inboundEnd();
    else (this.links[i] as FilterLink).deliverEnd();
  }

  private endOutboundAt(i: number): void {
    const s = this.sessions[i] as FilterSession;
    if (s.outboundEnd !== undefined) s.outboundEnd();
    else (this.links[i] as FilterLink).writeEnd();
  }

  private link(i: number, n: number): FilterLink {
    const chain = this;
    const c = this.c;
    const alive = () => !chain.closed && c.st < State.Closing;
    return {
      deliver(bytes) {
        if (!alive() || bytes.length === 0) return;
        if (i + 1 < n) (chain.sessions[i + 1] as FilterSession).inbound(bytes);
        else chain.ends.deliver(c, bytes);
      },
      deliverEnd() {
        if (!alive()) return;
        if (i + 1 < n) return chain.endInboundAt(i + 1);
        chain.inboundEnded = true;
        chain.ends.delivered(c);
      },
      write(bytes, endOfBatch) {
        if (!alive()) return;
        if (i > 0) return (chain.sessions[i - 1] as FilterSession).outbound(bytes, endOfBatch);
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
        if (alive()) chain.ends.settled(c);
      },
      writeEnd() {
        if (!alive()) return;
        if (i > 0) return chain.endOutboundAt(i - 1);
        const done = chain.onWriteEnd;
        chain.onWriteEnd = null;
        done?.();
      },
      fail(reason: CloseReason, error: Error) {
        if (alive()) c.fail(reason, error);
      },
      holdInbound(held: boolean) {
        if (!alive()) return;
        chain.holds += held ? 1 : -1;
        if (held && chain.holds === 1) {
          c.flags |= F_FILTER_HELD;
          c.socket.pause();
        } else if (!held && chain.holds === 0) {
          c.flags &= ~F_FILTER_HELD;
          if ((c.flags & (F_USER_PAUSED | F_BP_PAUSED)) === 0) c.socket.resume();
        }
      },
      get paused() {
        return (c.flags & (F_USER_PAUSED | F_BP_PAUSED)) !== 0;
      },
      get remoteAddress() {
        return c.remoteAddress;
      },
    };
  }
}
