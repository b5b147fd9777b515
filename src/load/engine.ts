/**
 * The load engine of one process: opens its share of the connections, drives
 * the traffic of the run's mode, checks replies, and counts everything.
 *
 * ```
 *   connect() ──► run() ─────────────────────────────► finish()
 *   dial every     echo: depth messages in flight,       end each connection,
 *   slot, paced    a reply sends the next one            wait for the peer to
 *   (rate, max     rate: on one shared 1 ms tick, each   close (bounded), then
 *   connecting)    slot's due messages in one write      destroy what is left
 *                  send: write while the socket takes it
 *                  request: the same, with requests rendered per message
 *                  idle: hold; churn: connect, echo, close, repeat
 *                  ── deadline/count/stop ─► wait for due replies (bounded)
 * ```
 *
 * The hot path is one read callback per read: the verifier checks the bytes in
 * one call, latency is recorded once per group of messages sent together, and
 * the replacement messages leave in one write of a view of the pre-encoded
 * train. Every wait has a limit: connects, due replies and closes are swept by
 * one interval timer, not a timer per connection.
 */
import { classify, type ErrorKind } from './error-kinds.js';
import { recordBatch } from './histogram.js';
import type { Socket } from 'node:net';
import { RequestJudge } from './expect.js';
import { messagesInTail, trainOutbox, type MessageSet, type Outbox } from './messages.js';
import { prepare } from './prepare.js';
import type { ResolvedLoadOptions } from './options.js';
import type { LoadEngine } from './load-engine.js';
import { emptyDatagrams, emptyDelivery, type PartialResult, type Sample } from './partial.js';
import { Tally, TrafficTimers, Waiter } from './tally.js';
import { Dialer } from './dialer.js';
import { attach, onRead, Slot, SlotState, type SlotOwner } from './slot.js';
import { driverFor, type Driver, type Target } from './target.js';
import { ByteVerifier, EchoJudge, FrameVerifier, type Verifier } from './verify.js';

/** Which of the run's connections this process opens. */
export interface EngineSlice {
  /** Index of the first connection over the whole run. */
  first: number;
  count: number;
  /** This process's number among the run's processes, from 0. */
  worker: number;
}

const SWEEP_MS = 100;
const count = (n: number): string => n.toLocaleString('en-US');

export class Engine implements SlotOwner, LoadEngine {
  readonly target: Target;
  private readonly driver: Driver;
  /** The pre-encoded messages (null in `request` mode). */
  private readonly messages: MessageSet | null;
  private readonly outbox: Outbox;
  private readonly payloadKind: string;
  private readonly verifier: Verifier | null;
  private readonly cap: number;
  private readonly slots: Slot[];
  private readonly tally = new Tally();
  private readonly errors = this.tally.errors;
  private readonly total = this.tally.total;
  private readonly interval = this.tally.interval;
  private readonly waiter = new Waiter();
  private readonly dialer: Dialer;
  private running = false;
  private stopped = false;
  private active = 0;
  private waiting = 0;
  private events = 0;
  private cycles = 0;
  private cyclesReported = 0;
  private windowCycles = 0;
  private readonly delivery = emptyDelivery();
  private lastConfirmed = 0;
  /** Slots with messages due in the current fixed-rate tick (reused, so a tick allocates nothing). */
  private readonly batch: Slot[] = [];
  private pumpScheduled = false;
  private readonly timers = new TrafficTimers();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: ResolvedLoadOptions,
    slice: EngineSlice,
  ) {
    const { target, codec, replies, cap, messages, requests, payload } = prepare(options);
    this.target = target;
    this.driver = driverFor(target);
    this.cap = cap;
    this.messages = messages;
    this.payloadKind = payload;
    if (requests !== null) {
      requests.numberFrom(slice.worker, options.workers);
      this.outbox = requests;
      this.verifier = new FrameVerifier(codec, new RequestJudge(options.expect, (t) => requests.text(t)));
    } else {
      const m = messages as MessageSet;
      this.outbox = trainOutbox(m);
      const checks = options.mode === 'echo' || options.mode === 'churn';
      this.verifier = !checks ? null : replies !== null ? new FrameVerifier(replies, new EchoJudge(m)) : options.verify === 'frames' && codec.name !== 'raw' ? new FrameVerifier(codec, new EchoJudge(m)) : new ByteVerifier(m);
    }
    const cycle = requests?.count ?? (messages as MessageSet).count;
    const { messages: total, connections } = options;
    this.slots = [];
    for (let i = slice.first; i < slice.first + slice.count; i++) {
      // Requests go round-robin from the connection's own index; echo messages start spread over the cycle.
      const slot = new Slot(this, i, requests !== null ? i % cycle : (i * 13) % cycle);
      if (total > 0) slot.quota = Math.floor(total / connections) + (i < total % connections ? 1 : 0);
      this.slots.push(slot);
    }
    this.dialer = new Dialer(options, this.slots.length, () => this.tally.connecting, (i) => this.dial(this.slots[i] as Slot));
  }

  /** The payload kind in use (`random` may have become `ascii` for a delimiter framing). */
  get payload(): string {
    return this.payloadKind;
  }

  // ── phases ────────────────────────────────────────────────────────────────

  /** Opens the connections (churn: none yet). Resolves with the number established once every attempt has resolved. */
  async connect(): Promise<number> {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    if (this.options.mode === 'churn') return 0;
    this.dialer.begin();
    await this.until(() => this.tally.resolved === this.slots.length || this.stopped);
    return this.tally.established;
  }

  /** Runs the traffic until the deadline, the message count, the loss of every connection, or {@link stop}; then waits for due replies. */
  async run(): Promise<void> {
    if (this.stopped) return;
    const o = this.options;
    const now = performance.now();
    this.running = true;
    this.tally.startWindow(now);
    for (const slot of this.slots) {
      if (o.mode === 'churn') {
        slot.sentAt = new Float64Array(1);
        this.activate(slot);
        this.dial(slot);
      } else if (slot.state === SlotState.Ready && (o.mode === 'idle' || slot.quota > 0)) {
        if (this.verifier !== null) slot.sentAt = new Float64Array(this.cap);
        this.activate(slot);
      }
    }
    const answered = o.mode === 'echo' || o.mode === 'request';
    const rate = o.rate > 0 && (answered || o.mode === 'send');
    this.timers.start(o.durationSec, now, () => this.stopTraffic(), rate ? () => this.tickRate() : undefined);
    if (!rate && answered) {
      for (const slot of this.slots) if (slot.working) this.send(slot, Math.min(o.depth, slot.quota), now, now);
    } else if (!rate && o.mode === 'send') {
      this.schedulePump();
    }
    if (this.active === 0) this.stopTraffic();
    await this.until(() => !this.running);
    if (this.verifier !== null) await this.until(() => this.waiting === 0);
  }

  /** Ends every connection gracefully and resolves once all are closed (stragglers are destroyed after a grace period). */
  async finish(): Promise<void> {
    this.stopped = true;
    this.stopTraffic();
    this.dialer.stop();
    const now = performance.now();
    const driver = this.driver;
    for (const slot of this.slots) {
      const socket = slot.socket;
      if (socket === null) continue;
      if (slot.state === SlotState.Ready) {
        slot.state = SlotState.Ending;
        slot.since = now;
        if (driver.end !== undefined) driver.end(socket);
        else socket.end();
      } else if (slot.state === SlotState.Connecting) {
        slot.failed = true;
        socket.destroy();
      }
    }
    await this.until(() => this.tally.open === 0 && this.tally.connecting === 0);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Ends the run early: the connect phase resolves, traffic stops, due replies are still awaited. */
  stop(): void {
    this.stopped = true;
    this.dialer.stop();
    this.stopTraffic();
    this.poke();
  }

  // ── connections ───────────────────────────────────────────────────────────

  private dial(slot: Slot): void {
    const sources = this.options.sourceAddresses;
    const local = this.driver.network && sources.length > 0 ? sources[slot.index % sources.length] : undefined;
    slot.state = SlotState.Connecting;
    slot.failed = slot.confirmed = false;
    slot.unsent = -1;
    slot.issued = slot.done = slot.rxOff = 0;
    slot.queue = null;
    slot.decoder = null;
    slot.dialedAt = slot.since = performance.now();
    this.tally.connecting++;
    attach(slot, this.driver.dial(this.target, this.options, local, onRead), this.driver.readyEvent);
  }

  ready(slot: Slot): void {
    if (slot.state !== SlotState.Connecting) return;
    const now = performance.now();
    this.tally.connecting--;
    this.tally.open++;
    slot.state = SlotState.Ready;
    slot.since = now;
    this.tally.connectTime.recordValue(Math.round((now - slot.dialedAt) * 1000));
    if (this.options.mode === 'churn') {
      // A cycle's latency runs from the start of its connect to its reply.
      if (this.running && slot.quota > 0) this.send(slot, 1, slot.dialedAt, now);
      else this.close(slot);
      return;
    }
    this.tally.established++;
    this.tally.resolved++;
    this.dialer.more();
    this.poke();
  }

  peerEnded(slot: Slot): void {
    if (slot.state === SlotState.Ending && this.options.mode === 'send' && !slot.failed) {
      // Our FIN went out behind every message: a FIN after it means the server read them all.
      if ((slot.socket as Socket).writableFinished) slot.confirmed = true;
      else this.unconfirmed(slot, 'the server ended its side before it had taken everything');
      return;
    }
    if (slot.state !== SlotState.Ready) return;
    const due = slot.issued - slot.done;
    this.fail(slot, 'closed', due > 0 ? `the server closed the connection with ${due} replies due` : 'the server closed the connection before the run ended');
  }

  socketError(slot: Slot, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
    if (slot.state === SlotState.Ending && this.options.mode === 'send') {
      // A reset after the server's FIN still means it left some of our bytes unread.
      slot.confirmed = false;
      this.unconfirmed(slot, `the connection failed while closing: ${message}`);
      return;
    }
    const handshaking = slot.state === SlotState.Connecting && this.driver.readyEvent === 'secureConnect' && slot.socket?.readyState === 'open';
    this.fail(slot, classify(err, handshaking), message);
  }

  closed(slot: Slot): void {
    const was = slot.state;
    if (this.options.mode === 'send' && (was === SlotState.Ready || was === SlotState.Ending)) this.settle(slot);
    slot.state = SlotState.Dead;
    slot.socket = null;
    slot.blocked = false;
    if (was === SlotState.Connecting) {
      this.tally.connecting--;
      if (!slot.failed) this.count(slot, 'closed', 'the connection closed while connecting');
      if (this.options.mode !== 'churn') {
        this.tally.resolved++;
        this.dialer.more();
      }
    } else if (was === SlotState.Ready || was === SlotState.Ending) {
      this.tally.open--;
      if (was === SlotState.Ready && !slot.failed) this.count(slot, 'closed', 'the connection closed before the run ended');
    }
    if (this.options.mode === 'churn' && this.running && slot.quota > 0) this.dial(slot);
    else this.retire(slot);
    if (slot.draining) {
      slot.draining = false;
      this.waiting--;
    }
    this.poke();
  }

  drained(slot: Slot): void {
    slot.blocked = false;
    if (this.options.mode === 'send' && this.options.rate === 0) this.schedulePump();
  }

  /** Counts a failure of the slot's connection (once) and destroys it. */
  private fail(slot: Slot, kind: ErrorKind, message: string): void {
    this.holdUnsent(slot);
    this.count(slot, kind, message);
    slot.socket?.destroy();
  }

  /** `send`: notes what is still queued in this process before the socket is destroyed (which drops it). */
  private holdUnsent(slot: Slot): void {
    if (this.options.mode === 'send' && slot.unsent < 0 && slot.socket !== null) slot.unsent = slot.socket.writableLength;
  }

  /** `send`: the server did not confirm the connection's messages; one error, with how many there were. */
  private unconfirmed(slot: Slot, why: string): void {
    this.holdUnsent(slot);
    const queued = messagesInTail(this.messages as MessageSet, slot.base, slot.issued, slot.unsent);
    this.count(slot, 'unconfirmed', `${count(slot.issued)} messages not confirmed (${count(queued)} of them still queued here): ${why}`);
  }

  /** `send`: adds a closed connection's messages to the delivery counts. */
  private settle(slot: Slot): void {
    const socket = slot.socket as Socket;
    if (slot.state === SlotState.Ending && !slot.confirmed && !slot.failed) this.unconfirmed(slot, 'the connection closed without a FIN from the server');
    if (slot.unsent < 0) slot.unsent = socket.writableFinished ? 0 : socket.writableLength;
    const d = this.delivery;
    d.taken += slot.issued - messagesInTail(this.messages as MessageSet, slot.base, slot.issued, slot.unsent);
    if (slot.confirmed) {
      d.delivered += slot.issued;
      this.lastConfirmed = performance.now();
    } else d.unconfirmed += slot.issued;
  }

  private count(slot: Slot, kind: ErrorKind, message: string): void {
    if (slot.failed) return;
    slot.failed = true;
    this.errors.add(kind, `connection ${slot.index + 1}: ${message}`);
  }

  /** Closes a connection on purpose (churn, after its exchange). */
  private close(slot: Slot): void {
    slot.state = SlotState.Ending;
    slot.socket?.destroy();
  }

  // ── traffic ───────────────────────────────────────────────────────────────

  received(slot: Slot, buf: Buffer, n: number): void {
    this.total.receivedBytes += n;
    const v = this.verifier;
    if (v === null || slot.state !== SlotState.Ready) return;
    const now = performance.now();
    slot.since = now;
    const before = slot.done;
    const k = v.consume(slot, buf, n);
    if (k <= 0) {
      if (k < 0) this.fail(slot, 'mismatch', v.problem);
      return;
    }
    this.total.receivedMsgs += k;
    recordBatch(this.interval, slot.sentAt as Float64Array, before, k, now);
    if (v.wrong > 0) {
      this.errors.add('mismatch', this.errors.samples.mismatch === undefined ? `connection ${slot.index + 1}: ${v.wrongSample}` : '', v.wrong);
      v.wrong = 0;
    }
    if (this.options.mode === 'churn') {
      if (this.running) this.cycles++;
      this.close(slot);
      return;
    }
    const idle = slot.done === slot.issued;
    if (this.running) {
      if (this.options.rate === 0) {
        const m = k < slot.quota ? k : slot.quota;
        if (m > 0) this.send(slot, m, now, now);
        else if (idle) this.retire(slot);
      } else if (idle && slot.quota === 0) this.retire(slot);
    } else if (idle && slot.draining) {
      slot.draining = false;
      this.waiting--;
      this.poke();
    }
  }

  /** Sends the slot's next `k` messages (k ≤ cap) in one write, the first stamped `at`, each next one `step` ms later; false when the socket's buffer is full. */
  private send(slot: Slot, k: number, at: number, now: number, step = 0): boolean {
    const bytes = slot.send(this.outbox, k, at, now, step);
    this.total.sentMsgs += k;
    this.total.sentBytes += bytes;
    return !slot.blocked;
  }

  /**
   * Fixed rate, on one shared 1 ms tick: events are spread evenly over the slots
   * (event e belongs to slot e mod n and is scheduled at start + e × period), and
   * every slot sends the messages that fell due since the last tick in one write,
   * each stamped with its own scheduled time. A write costs far more than a
   * message (on loopback the kernel does the peer's receive and wake-up inside
   * it), so when the loop runs late the backlog leaves in few writes instead of
   * one per message, and the client catches up rather than falling further behind.
   */
  private tickRate(): void {
    const slots = this.slots;
    const n = slots.length;
    const step = 1000 / this.options.rate;
    const period = step / n;
    const now = performance.now();
    const due = Math.floor((now - this.tally.startedAt) / period) + 1;
    const cap = this.cap;
    const checks = this.verifier !== null;
    const batch = this.batch;
    for (let e = this.events; e < due; e++) {
      const slot = slots[e % n] as Slot;
      if (slot.state !== SlotState.Ready || slot.quota <= slot.due) continue;
      if (checks && slot.issued - slot.done + slot.due >= cap) {
        this.tally.skipped++;
        continue;
      }
      if (slot.due === 0) {
        slot.dueAt = this.tally.startedAt + e * period;
        batch.push(slot);
      } else if (slot.due === cap) {
        // The train holds at most `cap` consecutive messages (send mode only: echo skips first).
        this.send(slot, cap, slot.dueAt, now, step);
        slot.dueAt += cap * step;
        slot.due = 0;
      }
      slot.due++;
    }
    this.events = due;
    for (let i = 0; i < batch.length; i++) {
      const slot = batch[i] as Slot;
      const k = slot.due;
      slot.due = 0;
      if (slot.state !== SlotState.Ready) continue;
      this.send(slot, k, slot.dueAt, now, step);
      if (!checks && slot.quota === 0) this.retire(slot);
    }
    batch.length = 0;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.running) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  /** Send mode: one write of `depth` messages per connection per turn, while the socket takes them. */
  private pump(): void {
    this.pumpScheduled = false;
    if (!this.running) return;
    const now = performance.now();
    let more = false;
    for (const slot of this.slots) {
      if (slot.state !== SlotState.Ready || slot.blocked || slot.quota === 0) continue;
      if (this.send(slot, Math.min(this.options.depth, slot.quota), now, now)) more = true;
      if (slot.quota === 0) this.retire(slot);
    }
    if (more) this.schedulePump();
  }

  private activate(slot: Slot): void {
    slot.working = true;
    this.active++;
  }

  /** The slot has no more work (its count is done or its connection is gone); the run ends with the last one. */
  private retire(slot: Slot): void {
    if (!slot.working) return;
    slot.working = false;
    if (--this.active === 0) this.stopTraffic();
  }

  private stopTraffic(): void {
    if (!this.running) return;
    this.running = false;
    this.timers.clear();
    this.tally.closeWindow(performance.now());
    this.windowCycles = this.cycles;
    for (const slot of this.slots) {
      if (this.options.mode === 'churn') {
        if (slot.state === SlotState.Ready) this.close(slot);
        else if (slot.state === SlotState.Connecting) {
          slot.failed = true;
          slot.socket?.destroy();
        }
      } else if (slot.state === SlotState.Ready && slot.issued > slot.done && this.verifier !== null) {
        slot.draining = true;
        this.waiting++;
      }
    }
    this.poke();
  }

  /** Fails connections that wait too long; destroys ended ones the peer does not close. */
  private sweep(): void {
    const now = performance.now();
    const o = this.options;
    for (const slot of this.slots) {
      const waited = now - slot.since;
      if (slot.state === SlotState.Connecting && waited > o.connectTimeoutMs) {
        this.fail(slot, 'timeout', `no connection within ${o.connectTimeoutMs} ms`);
      } else if (slot.state === SlotState.Ready && waited > o.replyTimeoutMs) {
        if (this.verifier !== null && slot.issued > slot.done) {
          this.fail(slot, 'timeout', `no reply within ${o.replyTimeoutMs} ms (${slot.issued - slot.done} due)`);
        } else if (slot.blocked) {
          this.fail(slot, 'timeout', `the server took nothing for ${o.replyTimeoutMs} ms (writes blocked)`);
        }
      } else if (slot.state === SlotState.Ending && waited > o.drainTimeoutMs) {
        if (o.mode === 'send' && !slot.confirmed) this.unconfirmed(slot, `no clean close from the server within ${o.drainTimeoutMs} ms of our end`);
        slot.socket?.destroy();
      }
    }
  }

  private until(check: () => boolean): Promise<void> {
    return this.waiter.until(check);
  }

  private poke(): void {
    this.waiter.poke();
  }

  // ── reporting ─────────────────────────────────────────────────────────────

  /** Progress since the previous sample. */
  sample(): Sample {
    const cycles = this.cycles - this.cyclesReported;
    this.cyclesReported = this.cycles;
    return this.tally.sample(0, cycles);
  }

  /** This process's result; call after {@link finish}. Frees the histograms. */
  result(): PartialResult {
    const delivery = { ...this.delivery, lastSec: this.lastConfirmed > 0 ? (this.lastConfirmed - this.tally.startedAt) / 1000 : 0 };
    return this.tally.result(this.slots.length, { cycles: this.windowCycles, delivery, datagrams: emptyDatagrams() });
  }
}
