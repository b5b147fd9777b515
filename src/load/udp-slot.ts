/**
 * One socket of a `udp://` run: a connect()ed datagram socket (its own source
 * port, so the server sees one peer per socket) and its window of datagrams
 * in flight. The socket listeners are module-level functions (the socket
 * carries its slot), so a slot costs no closures.
 *
 * ```
 *   window position:   free ──send──► in flight ──reply──► answered (free)
 *                                         └──reply timeout──► lost (free)
 * ```
 *
 * A position is freed when its datagram is answered or counted lost, in any
 * order, so one lost datagram holds back nothing but its own position.
 */
import type dgram from 'node:dgram';
import { carried, carry, onClose, onError, onReady, SlotState } from './slot.js';

export { SlotState };

export const enum Position {
  /** Answered (or never used): a reply for its generation now is a duplicate. */
  Answered = 0,
  InFlight = 1,
  /** Counted lost: a reply for its generation now is late. */
  Lost = 2,
  /** Lost, and its late reply came: another is a duplicate. */
  LateSeen = 3,
}

/** What a slot's socket events are delivered to. */
export interface UdpSlotOwner {
  ready(slot: UdpSlot): void;
  received(slot: UdpSlot, datagram: Buffer): void;
  socketError(slot: UdpSlot, err: Error): void;
  closed(slot: UdpSlot): void;
}

export class UdpSlot {
  socket: dgram.Socket | null = null;
  state = SlotState.Idle;
  /** Messages this slot may still send (count-limited runs). */
  quota = Infinity;
  /** Last progress (ms): dial start, or the moment the socket was connected. */
  since = 0;
  dialedAt = 0;
  /** The socket's failure was counted; nothing more is counted for it. */
  failed = false;
  /** Counted in the engine's active slots: it still has work in this run. */
  working = false;
  /** Datagrams in flight. */
  inFlight = 0;
  /** Generation of each window position (datagrams sent from it, 24-bit). */
  readonly gen: Uint32Array;
  readonly status: Uint8Array;
  /** Latency base of each position's datagram: its send, or with a rate its scheduled send (ms). */
  readonly sentAt: Float64Array;
  /** When each position's datagram really left (ms): the reply timeout runs from here. */
  readonly leftAt: Float64Array;
  /** Free positions, a stack. */
  readonly free: Int32Array;
  freeCount: number;
  /** Each position's outgoing datagram, `maxWire` bytes apiece; a position's bytes are rewritten only once it is free again. */
  readonly ring: Buffer;
  /** Sends to go before the next that carries {@link onSent}. */
  probeIn = 0;
  /** A reply came on this socket: from now on only a sample of its sends carries the callback. */
  heard = false;
  /** The callback of a sample of the sends: a send that fails (ECONNREFUSED after an ICMP port unreachable) is reported to the owner. */
  readonly onSent = (err: Error | null): void => {
    if (err !== null && err !== undefined) this.owner.socketError(this, err);
  };

  constructor(
    readonly owner: UdpSlotOwner,
    /** Index over the whole run (all processes): named in the tag, picks the source address and the start in the cycle. */
    readonly index: number,
    readonly base: number,
    cap: number,
    readonly maxWire: number,
  ) {
    this.gen = new Uint32Array(cap);
    this.status = new Uint8Array(cap);
    this.sentAt = new Float64Array(cap);
    this.leftAt = new Float64Array(cap);
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeCount = cap;
    this.ring = Buffer.allocUnsafe(cap * maxWire);
  }

  /** Returns `pos` to the free stack. */
  release(pos: number): void {
    this.free[this.freeCount++] = pos;
    this.inFlight--;
  }
}

function onMessage(this: dgram.Socket, datagram: Buffer): void {
  const s = carried<UdpSlot>(this);
  s.owner.received(s, datagram);
}

/** Binds a fresh socket to its slot. */
export function attachUdp(slot: UdpSlot, socket: dgram.Socket): void {
  carry(socket, slot);
  slot.socket = socket;
  socket.once('connect', onReady);
  socket.on('message', onMessage);
  socket.on('error', onError);
  socket.on('close', onClose);
}
