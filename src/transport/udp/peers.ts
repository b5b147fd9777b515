/**
 * The session table: source address → its entry → sessions by source port.
 *
 * An address has an entry (and a rate bucket) only while it has a live
 * session, so the state any number of sources can make us keep is bounded by
 * `maxSessions`: a datagram from a source with no session and no room is
 * dropped before anything is allocated for it. Looking a datagram's session up
 * takes two map reads keyed by the address string and the port number, so no
 * key string is built per datagram.
 */
import type { Session } from './session.js';
import { RateBucket, type Rate } from './rate.js';

/** One source address with live sessions. */
export class PeerEntry {
  readonly sessions = new Map<number, Session<any>>();
  /** Datagrams from the address, all its sessions together. */
  readonly bucket: RateBucket;

  constructor(
    readonly address: string,
    rate: Rate,
    now: number,
  ) {
    this.bucket = new RateBucket(rate, now);
  }
}

export class SessionTable {
  private readonly peers = new Map<string, PeerEntry>();
  /** Live sessions (open or closing). */
  size = 0;

  peer(address: string): PeerEntry | undefined {
    return this.peers.get(address);
  }

  /** The entry for `address`, made if it has none. */
  entry(address: string, rate: Rate, now: number): PeerEntry {
    let p = this.peers.get(address);
    if (p === undefined) {
      p = new PeerEntry(address, rate, now);
      this.peers.set(address, p);
    }
    return p;
  }

  add(session: Session<any>): void {
    session.peer.sessions.set(session.remotePort, session);
    this.size++;
  }

  /** Removes `session`, and its address's entry with its last session. */
  remove(session: Session<any>): void {
    const p = session.peer;
    if (p.sessions.get(session.remotePort) !== session) return;
    p.sessions.delete(session.remotePort);
    this.size--;
    if (p.sessions.size === 0) this.peers.delete(p.address);
  }

  /** Source addresses with live sessions. */
  get addressCount(): number {
    return this.peers.size;
  }

  *sessions(): IterableIterator<Session<any>> {
    for (const p of this.peers.values()) yield* p.sessions.values();
  }
}
