/**
 * The load engine for `udp://` targets: many connect()ed datagram sockets,
 * each with its own source port (one server session per socket), each
 * keeping up to `depth` datagrams in flight, every reply checked.
 *
 * ```
 *   connect() ──► run() ──────────────────────────────────► finish()
 *   a socket per    echo: depth datagrams in flight per        close every
 *   slot, bound     socket; an answer or a loss sends the      socket
 *   and connected   next (rate: one shared 1 ms tick sends
 *   (idle: and one  each datagram at its scheduled time)
 *   echo answered)  ── deadline/count/stop ─► every datagram in flight is
 *                                             answered or counted lost
 * ```
 *
 * A datagram is one message. Its reply is matched by the tag in its body
 * (udp-datagrams.ts), so loss, duplication and reordering are each counted
 * for what they are: a datagram with no reply within `replyTimeoutMs` is
 * *lost* (counted, not an error), a reply after that is *late*, a second
 * reply a *duplicate*, and a reply that differs from what was sent, or
 * carries no tag of ours, a `mismatch` error. ICMP port-unreachable
 * (ECONNREFUSED on the connected socket) fails that socket as `refused`.
 * Latency runs from the send, or with a rate from the scheduled send, so a
 * stalled server cannot hide its stall. One sweep timer finds every lost
 * datagram; nothing has a timer of its own.
 */
import dgram from 'node:dgram';
import type { Codec } from '../codecs/codec.js';
import { DatagramFraming } from '../transport/udp/framing.js';
import type { EngineSlice } from './engine.js';
import { classify, type ErrorKind } from './error-kinds.js';
import type { LoadEngine } from './load-engine.js';
import type { ResolvedLoadOptions } from './options.js';
import { emptyDatagrams, emptyDelivery, type PartialResult, type Sample } from './partial.js';
import { Tally, TrafficTimers, Waiter } from './tally.js';
import { Dialer } from './dialer.js';
import { prepare } from './prepare.js';
import type { Target } from './target.js';
import { GEN_MASK, messageOf, payloadDifference, payloadMatches, readTag, tag, writeTag, type DatagramSet } from './udp-datagrams.js';
import { attachUdp, Position, SlotState, UdpSlot, type UdpSlotOwner } from './udp-slot.js';

const HALF_GEN = 0x800000;
/** One send in this many per socket carries the send callback (the first included). */
const PROBE_EVERY = 16;

export class UdpEngine implements LoadEngine, UdpSlotOwner {
  private readonly target: Target;
  private readonly codec: Codec;
  private readonly set: DatagramSet;
  /** Records inside each reply datagram, or null for raw datagrams. */
  private readonly framing: DatagramFraming | null;
  private readonly payloadKind: string;
  private readonly cap: number;
  private readonly idle: boolean;
  private readonly slots: UdpSlot[] = [];
  private readonly tally = new Tally();
  private readonly errors = this.tally.errors;
  private readonly total = this.tally.total;
  private readonly interval = this.tally.interval;
  private readonly counts = emptyDatagrams();
  private readonly waiter = new Waiter();
  private readonly dialer: Dialer;
  private running = false;
  private stopped = false;
  private active = 0;
  /** Datagrams in flight over every socket. */
  private inFlight = 0;
  private events = 0;
  private readonly timers = new TrafficTimers();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: ResolvedLoadOptions,
    slice: EngineSlice,
  ) {
    const { target, codec, datagrams, cap, payload } = prepare(options);
    this.target = target;
    this.codec = codec;
    this.payloadKind = payload;
    this.cap = cap;
    this.idle = options.mode === 'idle';
    const set = (this.set = datagrams as DatagramSet);
    this.framing = codec.name === 'raw' ? null : new DatagramFraming(codec, { frameDiscarded() {} });
    const total = options.messages;
    for (let i = slice.first; i < slice.first + slice.count; i++) {
      const slot = new UdpSlot(this, i, (i * 13) % set.count, cap, set.maxWire);
      if (total > 0) slot.quota = Math.floor(total / options.connections) + (i < total % options.connections ? 1 : 0);
      this.slots.push(slot);
    }
    this.dialer = new Dialer(options, this.slots.length, () => this.tally.connecting, (i) => this.dial(this.slots[i] as UdpSlot));
  }

  get payload(): string {
    return this.payloadKind;
  }

  // ── phases ────────────────────────────────────────────────────────────────

  async connect(): Promise<number> {
    // Lost datagrams are found by this sweep: often enough that a loss costs about a timeout, not two.
    const every = Math.max(5, Math.min(100, Math.floor(this.options.replyTimeoutMs / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.dialer.begin();
    await this.until(() => this.tally.resolved === this.slots.length || this.stopped);
    return this.tally.established;
  }

  async run(): Promise<void> {
    if (this.stopped) return;
    const o = this.options;
    const now = performance.now();
    this.running = true;
    this.tally.startWindow(now);
    for (const slot of this.slots) {
      if (slot.state === SlotState.Ready && (this.idle || slot.quota > 0)) {
        slot.working = true;
        this.active++;
      }
    }
    const rate = !this.idle && o.rate > 0;
    this.timers.start(o.durationSec, now, () => this.stopTraffic(), rate ? () => this.tickRate() : undefined);
    if (!this.idle && !rate) for (const slot of this.slots) if (slot.working) for (let k = Math.min(this.cap, slot.quota); k > 0; k--) this.send(slot, now, now);
    if (this.active === 0) this.stopTraffic();
    await this.until(() => !this.running);
    await this.until(() => this.inFlight === 0);
  }

  /** Ends the run early: the connect phase resolves, traffic stops, datagrams in flight are still awaited (or counted lost). */
  stop(): void {
    this.stopped = true;
    this.dialer.stop();
    this.stopTraffic();
    this.poke();
  }

  async finish(): Promise<void> {
    this.stopped = true;
    this.stopTraffic();
    this.dialer.stop();
    for (const slot of this.slots) {
      const socket = slot.socket;
      if (socket === null) continue;
      if (slot.state === SlotState.Ready) slot.state = SlotState.Ending;
      else if (slot.state === SlotState.Connecting) slot.failed = true;
      else continue;
      this.drop(slot);
      socket.close();
    }
    await this.until(() => this.tally.open === 0 && this.tally.connecting === 0);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  // ── sockets ───────────────────────────────────────────────────────────────

  private dial(slot: UdpSlot): void {
    const t = this.target;
    const socket = dgram.createSocket({ type: t.host.includes(':') ? 'udp6' : 'udp4' });
    attachUdp(slot, socket);
    slot.state = SlotState.Connecting;
    slot.dialedAt = slot.since = performance.now();
    this.tally.connecting++;
    const sources = this.options.sourceAddresses;
    const connect = (): void => {
      try {
        socket.connect(t.port, t.host);
      } catch (err) {
        this.socketError(slot, err as Error);
      }
    };
    if (sources.length > 0) socket.bind({ address: sources[slot.index % sources.length] as string, port: 0 }, connect);
    else connect();
  }

  ready(slot: UdpSlot): void {
    if (slot.state !== SlotState.Connecting || slot.failed) return;
    // Idle: the server makes a session on the first datagram, so a socket counts once one echo came back.
    if (this.idle) this.send(slot, performance.now(), performance.now());
    else this.established_(slot);
  }

  private established_(slot: UdpSlot): void {
    const now = performance.now();
    this.tally.connecting--;
    this.tally.open++;
    this.tally.established++;
    this.tally.resolved++;
    slot.state = SlotState.Ready;
    slot.since = now;
    this.tally.connectTime.recordValue(Math.round((now - slot.dialedAt) * 1000));
    this.dialer.more();
    this.poke();
  }

  socketError(slot: UdpSlot, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
    const kind = classify(err);
    // A send the kernel could not take (ENOBUFS …) is a datagram that will be counted lost; it ends nothing.
    if (slot.state === SlotState.Ready && kind === 'other' && code !== undefined && /^E(NOBUFS|AGAIN|WOULDBLOCK|NOMEM)$/.test(code)) return;
    this.fail(slot, kind, kind === 'refused' ? `${message}: nothing listens there (ICMP port unreachable)` : message);
  }

  closed(slot: UdpSlot): void {
    const was = slot.state;
    slot.state = SlotState.Dead;
    slot.socket = null;
    if (was === SlotState.Connecting) {
      this.tally.connecting--;
      this.tally.resolved++;
      this.dialer.more();
    } else if (was === SlotState.Ready || was === SlotState.Ending) {
      this.tally.open--;
    }
    this.retire(slot);
    this.poke();
  }

  /** Counts the socket's failure (once), counts what it had in flight as lost, and closes it. */
  private fail(slot: UdpSlot, kind: ErrorKind, message: string): void {
    if (slot.failed || slot.socket === null || slot.state === SlotState.Ending || slot.state === SlotState.Dead) return;
    slot.failed = true;
    this.errors.add(kind, `socket ${slot.index + 1}: ${message}`);
    this.drop(slot);
    slot.socket.close();
  }

  /** Counts what `slot` has in flight as lost (nothing, while an idle socket is still connecting). */
  private drop(slot: UdpSlot): void {
    if (slot.inFlight === 0) return;
    const counted = slot.state !== SlotState.Connecting;
    for (let pos = 0; pos < this.cap; pos++) {
      if (slot.status[pos] !== Position.InFlight) continue;
      slot.status[pos] = Position.Lost;
      slot.release(pos);
      this.inFlight--;
      if (counted) this.counts.lost++;
    }
    this.poke();
  }

  // ── traffic ───────────────────────────────────────────────────────────────

  /** Sends the next datagram from a free position of `slot`, stamped `at` for latency. */
  private send(slot: UdpSlot, at: number, now: number): void {
    const set = this.set;
    const pos = slot.free[--slot.freeCount] as number;
    slot.inFlight++;
    this.inFlight++;
    const gen = ((slot.gen[pos] as number) + 1) & GEN_MASK;
    slot.gen[pos] = gen;
    slot.status[pos] = Position.InFlight;
    slot.sentAt[pos] = at;
    slot.leftAt[pos] = now;
    const m = messageOf(set, pos, gen, slot.base);
    const wire = set.wire[m] as Buffer;
    const off = pos * slot.maxWire;
    wire.copy(slot.ring, off);
    writeTag(slot.ring, off + (set.bodyAt[m] as number), slot.index, pos, gen);
    slot.quota--;
    this.total.sentMsgs++;
    this.total.sentBytes += wire.length;
    const socket = slot.socket as dgram.Socket;
    const view = slot.ring.subarray(off, off + wire.length);
    try {
      // A callback costs Node a deferred call per datagram. Until the server first answers, every send
      // carries it: on loopback the ICMP refusal of one send fails the very next send, unseen without one.
      // After that a sample does; a refusal also fails the next receive on a connected socket.
      if (!slot.heard || slot.probeIn-- <= 0) {
        slot.probeIn = PROBE_EVERY - 1;
        socket.send(view, slot.onSent);
      } else socket.send(view);
    } catch (err) {
      this.socketError(slot, err as Error);
    }
  }

  received(slot: UdpSlot, datagram: Buffer): void {
    this.total.receivedBytes += datagram.length;
    if (slot.state !== SlotState.Ready && slot.state !== SlotState.Connecting) return;
    const now = performance.now();
    const framing = this.framing;
    if (framing === null) return this.reply(slot, datagram, now);
    const bad = framing.split(datagram);
    if (bad !== null) {
      this.mismatch(slot, () => `a reply datagram of ${datagram.length} bytes ${bad === 'truncated' ? 'ends inside a record' : `is not valid ${this.codec.name}`}`);
      return;
    }
    const records = framing.records;
    for (let i = 0; i < records.length; i++) this.reply(slot, records[i] as Buffer, now);
    records.length = 0;
  }

  /** One reply body: matched to its datagram by its tag, checked, and counted. */
  private reply(slot: UdpSlot, body: Buffer, now: number): void {
    if (!readTag(body, 0)) return this.mismatch(slot, () => `a reply of ${body.length} bytes carries no tag of this client`);
    if (tag.socket !== (slot.index & GEN_MASK)) return this.mismatch(slot, () => `a reply carries the tag of socket ${tag.socket + 1}`);
    const pos = tag.pos;
    const gen = tag.gen;
    if (pos >= this.cap) return this.mismatch(slot, () => `a reply names window position ${pos}, beyond the ${this.cap} in use`);
    const m = messageOf(this.set, pos, gen, slot.base);
    const ok = payloadMatches(this.set, m, body);
    const current = slot.gen[pos] as number;
    if (gen === current && slot.status[pos] === Position.InFlight) {
      slot.status[pos] = Position.Answered;
      slot.release(pos);
      this.inFlight--;
      slot.heard = true;
      if (ok) {
        this.total.receivedMsgs++;
        this.interval.recordValue(Math.round((now - (slot.sentAt[pos] as number)) * 1000));
      } else this.mismatch(slot, () => `reply to datagram ${pos}/${gen} ${payloadDifference(this.set, m, body)}`);
      if (slot.state === SlotState.Connecting) this.established_(slot);
      else this.next(slot);
      return;
    }
    if (gen === current && slot.status[pos] !== Position.Lost) {
      this.counts.duplicates++;
    } else if (((current - gen) & GEN_MASK) < HALF_GEN) {
      if (gen === current) slot.status[pos] = Position.LateSeen;
      this.counts.late++;
    } else return this.mismatch(slot, () => `a reply names datagram ${pos}/${gen}, which was not sent`);
    if (!ok) this.mismatch(slot, () => `late reply to datagram ${pos}/${gen} ${payloadDifference(this.set, m, body)}`);
  }

  private mismatch(slot: UdpSlot, describe: () => string): void {
    this.errors.add('mismatch', this.errors.samples.mismatch === undefined ? `socket ${slot.index + 1}: ${describe()}` : '');
  }

  /** A position of `slot` came free (answered or lost): the closed loop sends the next datagram; the run notes when a socket is done. */
  private next(slot: UdpSlot): void {
    if (this.running) {
      if (this.options.rate === 0 && slot.quota > 0) return this.send(slot, performance.now(), performance.now());
      if (slot.quota <= 0 && slot.inFlight === 0) this.retire(slot);
    } else if (this.inFlight === 0) this.poke();
  }

  /**
   * Fixed rate, on one shared 1 ms tick: event e belongs to socket e mod n and
   * is due at start + e × period; each leaves as its own datagram stamped with
   * its scheduled time. A socket with `depth` datagrams in flight skips it.
   */
  private tickRate(): void {
    const slots = this.slots;
    const n = slots.length;
    const period = 1000 / this.options.rate / n;
    const now = performance.now();
    const due = Math.floor((now - this.tally.startedAt) / period) + 1;
    for (let e = this.events; e < due; e++) {
      const slot = slots[e % n] as UdpSlot;
      if (slot.state !== SlotState.Ready || slot.quota <= 0) continue;
      if (slot.freeCount === 0) {
        this.tally.skipped++;
        continue;
      }
      this.send(slot, this.tally.startedAt + e * period, now);
    }
    this.events = due;
  }

  private retire(slot: UdpSlot): void {
    if (!slot.working) return;
    slot.working = false;
    if (--this.active === 0) this.stopTraffic();
  }

  private stopTraffic(): void {
    if (!this.running) return;
    this.running = false;
    this.timers.clear();
    this.tally.closeWindow(performance.now());
    this.poke();
  }

  /** Counts datagrams with no reply within the timeout as lost, and fails sockets that do not connect in time. */
  private sweep(): void {
    const now = performance.now();
    const o = this.options;
    const timeout = o.replyTimeoutMs;
    for (const slot of this.slots) {
      const connecting = slot.state === SlotState.Connecting;
      if (connecting && now - slot.since > o.connectTimeoutMs) {
        this.fail(slot, 'timeout', this.idle && slot.socket !== null ? `no echo within ${o.connectTimeoutMs} ms (the first datagram, resent every ${timeout} ms)` : `no connection within ${o.connectTimeoutMs} ms`);
        continue;
      }
      if (slot.inFlight === 0 || (slot.state !== SlotState.Ready && !connecting)) continue;
      for (let pos = 0; pos < this.cap; pos++) {
        if (slot.status[pos] !== Position.InFlight || now - (slot.leftAt[pos] as number) <= timeout) continue;
        slot.status[pos] = Position.Lost;
        slot.release(pos);
        this.inFlight--;
        if (connecting) {
          // An idle socket's first datagram: lost before the run, so not counted; sent again.
          this.send(slot, now, now);
          continue;
        }
        this.counts.lost++;
        this.next(slot);
      }
    }
    this.poke();
  }

  private until(check: () => boolean): Promise<void> {
    return this.waiter.until(check);
  }

  private poke(): void {
    this.waiter.poke();
  }

  // ── reporting ─────────────────────────────────────────────────────────────

  sample(): Sample {
    return this.tally.sample(this.counts.lost, 0);
  }

  result(): PartialResult {
    return this.tally.result(this.slots.length, { cycles: 0, delivery: emptyDelivery(), datagrams: { ...this.counts } });
  }
}
