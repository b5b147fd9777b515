/**
 * A budget of log lines per second, so that a flood of events (bad peers,
 * refused connections) cannot flood the log: at most `perSecond` lines in a
 * one-second window, then one line saying how many were suppressed.
 */
import type { Logger } from './logger.js';

export class LogLimiter {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  /** The summary line reads `suppressed <n> <what>`. */
  constructor(
    private readonly logger: Logger,
    private readonly perSecond: number,
    private readonly what: string,
  ) {}

  /** True when a line may be written now (and counts it); false when it is over the budget (and counts it as suppressed). */
  allow(): boolean {
    this.roll();
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      return true;
    }
    this.suppressed++;
    return false;
  }

  /**
   * Writes the summary of a window that is over, if it suppressed anything.
   * {@link allow} does so too, but only when the next event comes; a caller
   * with a periodic timer calls this so the count does not wait for one.
   */
  flush(): void {
    this.roll();
  }

  private roll(): void {
    const now = Date.now();
    if (now - this.windowStart < 1000) return;
    if (this.suppressed > 0) this.logger.warn({ suppressed: this.suppressed }, `suppressed ${this.suppressed} ${this.what}`);
    this.windowStart = now;
    this.inWindow = 0;
    this.suppressed = 0;
  }
}
