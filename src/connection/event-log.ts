/**
 * A listener's (or client's) log of what peers cause: abnormal closes, frames
 * discarded, handler errors, refused connections and accept failures. Peers
 * decide how often these happen, so every line goes through one rate limit per
 * listener: at most `perSecond` lines in a one-second window, then one summary
 * line saying how many were suppressed, and of which kind.
 *
 * ```
 *  window  ├── 20 lines ──┤ suppressed … │ summary line (from the timer wheel)
 *          0 ms                          1,000 ms
 * ```
 *
 * The summary comes from the timer wheel at the end of the window, so the last
 * burst of a flood is reported even when nothing happens after it.
 */
import { isAbnormal, type CloseReason } from './close-reason.js';
import type { Logger } from '../logger.js';
import type { TimerWheel, WheelEntry } from '../timers/timer-wheel.js';

interface Loggable {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

const WINDOW_MS = 1000;

export class EventLog implements WheelEntry {
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  wheelDue = 0;

  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;
  /** Suppressed lines by kind (close reason, refusal reason …), for the summary; made only when a flood is suppressed. */
  private kinds: Record<string, number> | null = null;

  /** `logger` is the listener's (or client's) child logger, which already names it. */
  constructor(
    private readonly logger: Logger,
    private readonly wheel: TimerWheel,
    private readonly perSecond = 20,
  ) {}

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

  /** The wheel calls this at the end of a window in which lines were suppressed. */
  onWheelDue(now: number): void {
    this.summarize();
    this.windowStart = now;
    this.inWindow = 0;
  }

  private allow(kind: string): boolean {
    const now = this.wheel.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.summarize();
      this.wheel.cancel(this);
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      return true;
    }
    if (this.suppressed++ === 0) {
      this.kinds = {};
      this.wheel.schedule(this, this.windowStart + WINDOW_MS);
    }
    const kinds = this.kinds as Record<string, number>;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    return false;
  }

  private summarize(): void {
    if (this.suppressed === 0) return;
    this.logger.warn({ suppressed: this.suppressed, kinds: this.kinds }, `suppressed ${this.suppressed} log lines in the last second (at most ${this.perSecond} a second)`);
    this.suppressed = 0;
    this.kinds = null;
  }
}
