/**
 * Log lines for abnormal closes and discarded frames, rate-limited per
 * listener so a flood of bad peers cannot flood the log: at most `perSecond`
 * lines a second, then one line saying how many were suppressed.
 */
import { isAbnormal, type CloseReason } from './close-reason.js';
import type { Logger } from '../logger.js';

interface Loggable {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export class CloseLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  /** `logger` is the listener's (or client's) child logger, which already names it. */
  constructor(
    private readonly logger: Logger,
    private readonly perSecond = 20,
  ) {}

  closed(conn: Loggable, reason: CloseReason, error: Error | undefined): void {
    if (!isAbnormal(reason) || !this.allow()) return;
    this.logger.warn(
      {
        conn: conn.id,
        remote: `${conn.remoteAddress}:${conn.remotePort}`,
        reason,
        ...(error !== undefined ? { code: (error as { code?: string }).code, detail: error.message } : {}),
      },
      `connection closed: ${reason}`,
    );
  }

  discarded(conn: Loggable, bytes: number): void {
    if (!this.allow()) return;
    this.logger.warn({ conn: conn.id, bytes }, 'oversized frame discarded');
  }

  private allow(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      if (this.suppressed > 0) {
        this.logger.warn({ suppressed: this.suppressed }, `suppressed ${this.suppressed} connection log lines`);
      }
      this.windowStart = now;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      return true;
    }
    this.suppressed++;
    return false;
  }
}
