/**
 * Log lines for abnormal closes and discarded frames, rate-limited per
 * listener so a flood of bad peers cannot flood the log: at most `perSecond`
 * lines a second, then one line saying how many were suppressed.
 */
import { isAbnormal, type CloseReason } from './close-reason.js';
import type { Logger } from '../logger.js';
import { LogLimiter } from '../log-limiter.js';

interface Loggable {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export class CloseLog {
  private readonly budget: LogLimiter;

  /** `logger` is the listener's (or client's) child logger, which already names it. */
  constructor(
    private readonly logger: Logger,
    perSecond = 20,
  ) {
    this.budget = new LogLimiter(logger, perSecond, 'connection log lines');
  }

  closed(conn: Loggable, reason: CloseReason, error: Error | undefined): void {
    if (!isAbnormal(reason) || !this.budget.allow()) return;
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
    if (!this.budget.allow()) return;
    this.logger.warn({ conn: conn.id, bytes }, 'oversized frame discarded');
  }
}
