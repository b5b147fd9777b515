/**
 * One hashed timer wheel drives every per-connection timeout (first byte, idle,
 * write stall, TLS handshake, linger): one interval for the whole process
 * instead of a `setTimeout` per connection (the wheel is drawn on the class).
 *
 * Timeouts are lazy: a connection stamps its activity in plain fields and keeps
 * one entry at its earliest possible deadline. When the entry comes due the
 * connection checks its real deadlines and either acts or schedules itself
 * again, so reads and writes never touch the wheel.
 */

/**
 * Source of the current time in milliseconds. Inject one to drive timeouts from tests.
 * @category Timers and buffers
 */
export interface Clock {
  /** The current time in ms; any origin, never going backwards. */
  now(): number;
}

/**
 * The default clock: milliseconds since this module loaded. Connections keep
 * several timestamps each; small integers stay in the object itself, where
 * Date.now()'s 41-bit values each need a heap box of their own, a cache miss
 * per stamp among thousands of connections. (After 24 days the values outgrow
 * a small integer and V8 boxes them, which only costs that again.)
 */
const EPOCH = Date.now();
export const processClock: Clock = { now: () => Date.now() - EPOCH };

/**
 * A clock that moves only when told to: for tests of timeouts in virtual time.
 *
 * ```ts
 * const clock = new ManualClock();
 * const timerWheel = new TimerWheel({ clock, autoTick: false });
 * const server = await listen({ handler, timerWheel, limits: { idleTimeoutMs: 1_000 } });
 * // … connect, then:
 * clock.advance(1_100);
 * timerWheel.tick(); // the idle connection is ended now
 * ```
 * @category Timers and buffers
 */
export class ManualClock implements Clock {
  /**
   * A clock standing at `time`.
   * @param time - the starting time, ms. Default 0.
   */
  constructor(private time = 0) {}
  /** The time it was set to: the start plus every `advance`. */
  now(): number {
    return this.time;
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.time += ms;
  }
}

/**
 * Something the wheel can hold: intrusive links so scheduling never allocates.
 * The wheel owns the four fields; start them as `null`, `null`, -1 and 0.
 * @category Timers and buffers
 */
export interface WheelEntry {
  /** The next entry in the same slot (the wheel's link). */
  wheelNext: WheelEntry | null;
  /** The previous entry in the same slot (the wheel's link). */
  wheelPrev: WheelEntry | null;
  /** Slot index, or -1 when not scheduled. */
  wheelSlot: number;
  /** Absolute time (ms) when the entry is due. */
  wheelDue: number;
  /** Called once when due (the entry is already unscheduled). */
  onWheelDue(now: number): void;
}

/**
 * Options of {@link TimerWheel}.
 * @category Timers and buffers
 */
export interface TimerWheelOptions {
  /** Tick length in ms: the resolution of every timeout. Default 100. */
  tickMs?: number;
  /** Number of slots; one turn of the wheel is `tickMs * slots`. Default 512. */
  slots?: number;
  /** Time source. Default: the process clock (ms since Capstan loaded). */
  clock?: Clock;
  /**
   * Tick on a real interval (unref'd, running only while entries exist).
   * Default `true`; set `false` with a {@link ManualClock} and call {@link TimerWheel.tick}.
   */
  autoTick?: boolean;
}

/**
 * A hashed timer wheel: one interval for many timeouts, instead of a
 * `setTimeout` each.
 *
 * Every listener's connection timeouts run on one (the process-wide wheel
 * unless `listen({ timerWheel })` gives another); deadlines fire up to one tick
 * after they are due. Entries further away than one turn (`tickMs × slots`) are
 * filed again when their slot comes round.
 *
 * ```
 *        now ─► slot k
 *   ┌────┬────┬────┬────┬────┬─ … ─┬────┐
 *   │    │ A  │    │ B↔C│    │     │    │   slots = ticks; each holds an intrusive
 *   └────┴────┴────┴────┴────┴─ … ─┴────┘   doubly-linked list of entries
 * ```
 * @category Timers and buffers
 */
export class TimerWheel {
  /** Tick length in ms: the resolution of every timeout on this wheel. */
  readonly tickMs: number;
  /** The wheel's time source. */
  readonly clock: Clock;
  private readonly slots: Array<WheelEntry | null>;
  private readonly autoTick: boolean;
  private current: number;
  private interval: NodeJS.Timeout | null = null;
  private tickQueued = false;
  /**
   * The time as of the last interval, while the interval runs (-1 otherwise):
   * what {@link TimerWheel.now} answers, so stamping activity on every read
   * costs a field read, not a clock call. Stamps are then up to one tick old,
   * and deadlines fire within one tick of when they are due, as they already
   * did; deadlines themselves are judged on the clock.
   */
  private stamp = -1;
  /**
   * Timers run before the event loop polls for I/O, so after a stall a deadline
   * would be judged on stamps that predate bytes already waiting in the kernel
   * (a busy connection ended as idle). The interval only queues the tick, which
   * runs in the same loop iteration right after the poll has read them.
   */
  private readonly onInterval = (): void => {
    this.stamp = this.clock.now();
    if (this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(this.queuedTick);
  };
  private readonly queuedTick = (): void => {
    // A stall between the interval and here (a long callback, the process descheduled) left the
    // poll's reads stamped with the time from before it. Stamp afresh and judge after one more poll,
    // once: a loop that stalls every turn must still time out.
    if (!this.tickDeferred && this.interval !== null && this.clock.now() - this.stamp > this.tickMs) {
      this.tickDeferred = true;
      this.stamp = this.clock.now();
      setImmediate(this.queuedTick);
      return;
    }
    this.tickDeferred = false;
    this.tickQueued = false;
    this.tick();
  };
  private tickDeferred = false;
  private count = 0;

  /**
   * An empty wheel; its interval starts with the first entry (with `autoTick`).
   * @param options - tick, slots, clock and ticking; each has a default.
   */
  constructor(options: TimerWheelOptions = {}) {
    this.tickMs = options.tickMs ?? 100;
    this.clock = options.clock ?? processClock;
    this.autoTick = options.autoTick ?? true;
    this.slots = new Array<WheelEntry | null>(options.slots ?? 512).fill(null);
    this.current = Math.floor(this.clock.now() / this.tickMs);
  }

  /**
   * The current time, to one tick: while the interval runs, the time of its
   * last tick (a field read, cheap enough to stamp every read); otherwise the clock's.
   */
  now(): number {
    return this.stamp >= 0 ? this.stamp : this.clock.now();
  }

  /** Number of scheduled entries. */
  get size(): number {
    return this.count;
  }

  /** Schedules (or moves) `entry` to come due at absolute time `due`. */
  schedule(entry: WheelEntry, due: number): void {
    if (entry.wheelSlot !== -1) this.unlink(entry);
    entry.wheelDue = due;
    let tick = Math.ceil(due / this.tickMs);
    if (tick <= this.current) tick = this.current + 1;
    const slot = tick % this.slots.length;
    const head = this.slots[slot] ?? null;
    entry.wheelPrev = null;
    entry.wheelNext = head;
    if (head !== null) head.wheelPrev = entry;
    this.slots[slot] = entry;
    entry.wheelSlot = slot;
    if (++this.count === 1 && this.autoTick && this.interval === null) {
      this.interval = setInterval(this.onInterval, this.tickMs);
      this.interval.unref();
      this.stamp = this.clock.now();
    }
  }

  /** Moves `entry` earlier if `due` is before its current due time (or schedules it). */
  scheduleBy(entry: WheelEntry, due: number): void {
    if (entry.wheelSlot === -1 || due < entry.wheelDue) this.schedule(entry, due);
  }

  /** Removes `entry` if scheduled. */
  cancel(entry: WheelEntry): void {
    if (entry.wheelSlot !== -1) this.unlink(entry);
  }

  /** Processes every slot up to the clock's current time, firing due entries. */
  tick(): void {
    const now = this.clock.now();
    const target = Math.floor(now / this.tickMs);
    const steps = Math.min(target - this.current, this.slots.length);
    for (let i = 1; i <= steps; i++) {
      const slot = (target - steps + i) % this.slots.length;
      let entry = this.slots[slot] ?? null;
      if (entry === null) continue;
      // Detach the slot first: entries re-filed while firing land in fresh lists.
      this.slots[slot] = null;
      while (entry !== null) {
        const next: WheelEntry | null = entry.wheelNext;
        entry.wheelNext = entry.wheelPrev = null;
        entry.wheelSlot = -1;
        this.count--;
        if (entry.wheelDue <= now) entry.onWheelDue(now);
        else if (entry.wheelSlot === -1) this.reinsert(entry, target);
        entry = next;
      }
    }
    if (target > this.current) this.current = target;
    if (this.count === 0 && this.interval !== null) {
      clearInterval(this.interval);
      this.interval = null;
      this.stamp = -1;
    }
  }

  /** Stops the interval; scheduled entries stay until the next `tick`. */
  stop(): void {
    if (this.interval !== null) clearInterval(this.interval);
    this.interval = null;
    this.stamp = -1;
  }

  private reinsert(entry: WheelEntry, target: number): void {
    const saved = this.current;
    this.current = target;
    this.schedule(entry, entry.wheelDue);
    this.current = saved;
  }

  private unlink(entry: WheelEntry): void {
    const { wheelPrev: prev, wheelNext: next } = entry;
    if (prev !== null) prev.wheelNext = next;
    else this.slots[entry.wheelSlot] = next;
    if (next !== null) next.wheelPrev = prev;
    entry.wheelNext = entry.wheelPrev = null;
    entry.wheelSlot = -1;
    this.count--;
  }
}

let shared: TimerWheel | null = null;

/** The process-wide wheel every listener uses unless given its own. */
export function sharedTimerWheel(): TimerWheel {
  if (shared === null) shared = new TimerWheel();
  return shared;
}
