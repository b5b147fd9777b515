/**
 * A listener's (or client's) log of what peers cause: abnormal closes, frames
 * discarded, handler errors, refused connections and accept failures. Peers
 * decide how often these happen, so every line goes through one per-listener
 * {@link LogLimiter} (20 lines a second, then a summary), and the summary of a
 * suppressed burst comes from the timer wheel at the end of its window, so the
 * last burst of a flood is reported even when nothing happens after it.
 */
import { isAbnormal, type CloseReason } from './close-reason.js';
import { LogLimiter } from '../log-limiter.js';
import type { Logger } from '../logger.js';
import type { TimerWheel, WheelEntry } from '../timers/timer-wheel.js';

interface Loggable {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export class EventLog implements WheelEntry {
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  wheelDue = 0;

  private readonly budget: LogLimiter;

  /** `logger` is the listener's (or client's) child logger, which already names it. */
  constructor(
    private readonly logger: Logger,
    private readonly wheel: TimerWheel,
    perSecond = 20,
  ) {
    this.budget = new LogLimiter(logger, perSecond, 'connection log lines', wheel);
  }

  closed(conn: Loggable, reason: CloseReason, error: Error | undefined): void {
    if (!isAbnormal(reason) || !this.allow(reason)) return;
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
    if (!this.allow('frame-discarded')) return;
    this.logger.warn({ conn: conn.id, bytes }, 'oversized frame discarded');
  }

  /** A handler method threw: a bug in the server's code, so logged at error level with the stack. */
  handlerThrew(conn: Loggable, method: string, err: Error): void {
    if (!this.allow('handler-error')) return;
    this.logger.error({ conn: conn.id, remote: `${conn.remoteAddress}:${conn.remotePort}`, method, err }, `handler.${method} threw; closing the connection`);
  }

  /** A connection was turned away at accept (a limit, or the listener closing). */
  refused(remote: string, reason: string, detail: Record<string, unknown>, message: string): void {
    if (!this.allow(`refused:${reason}`)) return;
    this.logger.warn({ remote, reason, ...detail }, message);
  }

  /** Accepting failed (EMFILE, ENFILE, ENOBUFS …); the listener keeps serving. */
  acceptFailed(code: string, detail: Record<string, unknown>, message: string): void {
    if (!this.allow(`accept-error:${code}`)) return;
    this.logger.warn({ code, ...detail }, message);
  }

  /**
   * A datagram dropped. Floods make these by the thousand, so the line's fields
   * are built only once the budget lets it through: a suppressed drop allocates nothing.
   * `cause`: the error that said why (a PROXY header's parse error), logged with its code.
   */
  dropped(kind: string, address: string, port: number, bytes: number, count: number, message: string, cause?: Error): void {
    if (!this.allow(kind)) return;
    const detail: Record<string, unknown> = { remote: `${address}:${port}`, bytes, dropped: count };
    if (cause !== undefined) {
      detail.code = (cause as { code?: string }).code;
      detail.detail = cause.message;
    }
    this.logger.warn(detail, message);
  }

  /** Something else a peer or the network caused (a dropped datagram, a failed send, a socket error), under `kind`. */
  note(kind: string, detail: Record<string, unknown>, message: string): void {
    if (!this.allow(kind)) return;
    this.logger.warn(detail, message);
  }

  /** The wheel calls this at the end of a window in which lines were suppressed. */
  onWheelDue(): void {
    this.budget.flush();
  }

  private allow(kind: string): boolean {
    if (this.budget.allow(kind)) return true;
    if (this.wheelSlot === -1) this.wheel.schedule(this, this.budget.windowEnd);
    return false;
  }
}
