/**
 * A budget of log lines per second, so that a flood of events (bad peers,
 * refused connections) cannot flood the log: at most `perSecond` lines in a
 * one-second window, then one line saying how many were suppressed, by kind.
 *
 * ```
 *  window  ├── perSecond lines ──┤ suppressed … │ summary line
 *          0 ms                                 1,000 ms
 * ```
 *
 * The summary is written by the first {@link LogLimiter.allow} of a later window
 * or by {@link LogLimiter.flush}; owners with a periodic timer (the timer wheel,
 * the admin endpoint's sweep) call `flush` at {@link LogLimiter.windowEnd}, so the
 * last burst of a flood is reported even when nothing happens after it.
 */
import type { Logger } from './logger.js';

const WINDOW_MS = 1000;

export class LogLimiter {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;
  /** Suppressed lines by kind, for the summary; made only once a window suppresses something. */
  private kinds: Record<string, number> | null = null;

  /** The summary line reads `suppressed <n> <what>`. */
  constructor(
    private readonly logger: Logger,
    private readonly perSecond: number,
    private readonly what: string,
    private readonly clock: { now(): number } = Date,
  ) {}

  /**
   * True when a line may be written now (and counts it); false when it is over
   * the budget (and counts it as suppressed under `kind`).
   */
  allow(kind = 'other'): boolean {
    this.roll(this.clock.now());
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      return true;
    }
    if (this.suppressed++ === 0) this.kinds = {};
    const kinds = this.kinds as Record<string, number>;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    return false;
  }

  /** When the current window ends (ms on the limiter's clock). */
  get windowEnd(): number {
    return this.windowStart + WINDOW_MS;
  }

  /** Writes the summary of a window that is over, if it suppressed anything. */
  flush(): void {
    this.roll(this.clock.now());
  }

  private roll(now: number): void {
    if (now - this.windowStart < WINDOW_MS) return;
    if (this.suppressed > 0) {
      this.logger.warn({ suppressed: this.suppressed, kinds: this.kinds }, `suppressed ${this.suppressed} ${this.what} in the last second (at most ${this.perSecond} a second)`);
    }
    this.windowStart = now;
    this.inWindow = 0;
    this.suppressed = 0;
    this.kinds = null;
  }
}
