/**
 * One connection slot of a load run, and the socket listeners that feed it to
 * its engine. The listeners are module-level functions (the socket carries its
 * slot), so a slot costs no closures.
 */
import type { Socket } from 'node:net';
import type { ByteQueue } from '../buffers/byte-queue.js';
import type { Decoder } from '../codecs/codec.js';
import type { Outbox } from './messages.js';
import type { Progress } from './verify.js';

export const enum SlotState {
  Idle = 0,
  Connecting = 1,
  Ready = 2,
  /** We ended our side and wait for the peer to close. */
  Ending = 3,
  Dead = 4,
}

/** What a slot's socket events are delivered to. */
export interface SlotOwner {
  ready(slot: Slot): void;
  received(slot: Slot, buf: Buffer, n: number): void;
  peerEnded(slot: Slot): void;
  socketError(slot: Slot, err: Error): void;
  closed(slot: Slot): void;
  drained(slot: Slot): void;
}

export class Slot implements Progress {
  socket: Socket | null = null;
  state = SlotState.Idle;
  /** Messages sent, and messages answered and checked. */
  issued = 0;
  done = 0;
  rxOff = 0;
  queue: ByteQueue | null = null;
  decoder: Decoder | null = null;
  /** Send time (ms, `performance.now`) of each message in flight, by message number modulo its length. */
  sentAt: Float64Array | null = null;
  /** Messages this slot may still send (count-limited runs). */
  quota = Infinity;
  /** Last progress (ms): connect start, last read, or the send that started a wait. */
  since = 0;
  /** When the current connection attempt started (ms). */
  dialedAt = 0;
  /** The connection's failure was counted; nothing more is counted for it. */
  failed = false;
  /** A `send`-mode write was refused by the socket's buffer; waiting for `drain`. */
  blocked = false;
  /** Counted in the engine's active slots: it still has work in this run. */
  working = false;
  /** Counted in the engine's slots that still wait for replies after the traffic stopped. */
  draining = false;
  /** `send`: the server closed cleanly after our FIN, so it read every message of this connection. */
  confirmed = false;
  /** `send`: bytes still queued in this process when the connection's fate was decided; -1 until then. */
  unsent = -1;
  /** Fixed rate: messages that fell due in the current tick, to leave in one write, and the scheduled time (ms) of the first. */
  due = 0;
  dueAt = 0;

  constructor(
    readonly owner: SlotOwner,
    /** Index over the whole run (all processes): picks the source address and the start in the message cycle. */
    readonly index: number,
    public base: number,
  ) {}

  /**
   * Writes the next `k` messages of this connection (k ≤ the train's cap) in one
   * write. Message i is stamped `at + i × step` (ms): a fixed-rate batch keeps each
   * message's own scheduled time. `now` is the current time (ms).
   * Returns the bytes written; `blocked` tells whether the socket's buffer is now full.
   */
  send(out: Outbox, k: number, at: number, now: number, step = 0): number {
    const bytes = out.take(this.issued, this.base, this.index, k);
    const ring = this.sentAt;
    if (ring !== null) {
      const cap = ring.length;
      for (let i = this.issued, end = i + k, t = at; i < end; i++, t += step) ring[i % cap] = t;
    }
    // A wait for replies starts now (`at` may be a scheduled time in the past).
    if (this.issued === this.done) this.since = now;
    this.issued += k;
    this.quota -= k;
    this.blocked = !(this.socket as Socket).write(bytes);
    if (this.blocked) this.since = now;
    return bytes.length;
  }
}

const kSlot = Symbol('capstan.load.slot');
type SlotSocket = Socket & { [kSlot]: Slot };

/** A slot of either engine, as the listeners both share see it: an owner with lifecycle methods. */
interface Owned {
  readonly owner: { ready(slot: never): void; socketError(slot: never, err: Error): void; closed(slot: never): void };
}
type Carrier = { [kSlot]: Owned };

/** Marks `socket` (a stream or a datagram socket) as carrying `slot`, for the listeners below. */
export function carry(socket: object, slot: Owned): void {
  (socket as Carrier)[kSlot] = slot;
}

/** The slot `socket` carries (see {@link carry}). */
export function carried<S>(socket: object): S {
  return (socket as Carrier)[kSlot] as S;
}

/** Listeners shared by both engines' sockets: each hands its event to the owner of the socket's slot. */
export function onReady(this: Carrier): void {
  const s = this[kSlot];
  s.owner.ready(s as never);
}
export function onError(this: Carrier, err: Error): void {
  const s = this[kSlot];
  s.owner.socketError(s as never, err);
}
export function onClose(this: Carrier): void {
  const s = this[kSlot];
  s.owner.closed(s as never);
}
function onEnd(this: SlotSocket): void {
  const s = this[kSlot];
  s.owner.peerEnded(s);
}
function onDrain(this: SlotSocket): void {
  const s = this[kSlot];
  s.owner.drained(s);
}

/** Delivers each read to the slot's engine (the `onread` callback of every load socket). */
export function onRead(this: Socket, nread: number, buf: Buffer): void {
  const s = (this as SlotSocket)[kSlot];
  s.owner.received(s, buf, nread);
}

/** Binds a freshly dialed socket to its slot. */
export function attach(slot: Slot, socket: Socket, readyEvent: string): void {
  carry(socket, slot);
  slot.socket = socket;
  socket.once(readyEvent, onReady);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.on('drain', onDrain);
}
