/**
 * A token bucket on datagrams and bytes at once, refilled lazily from the
 * time of the last take: no timer, two numbers of state and a timestamp. It
 * holds one second of its rate, so a peer may burst that much after a pause.
 *
 * ```
 *   tokens ▲ cap ─────────╮      ╭──────── refill: rate × elapsed, up to cap
 *          │              ╰─╮  ╭─╯
 *          │                ╰──╯  ◄── each datagram takes 1 and its size
 * ```
 */

/** A rate: datagrams and bytes per second. */
export interface Rate {
  readonly datagrams: number;
  readonly bytes: number;
  /** What the byte bucket holds at most: a second of `bytes`, but never less than one datagram of the largest size, which would otherwise never pass. */
  readonly burstBytes: number;
}

export function rateOf(datagrams: number, bytes: number, maxDatagramBytes: number): Rate {
  return { datagrams, bytes, burstBytes: Math.max(bytes, maxDatagramBytes) };
}

export class RateBucket {
  private datagrams: number;
  private bytes: number;
  private at: number;

  constructor(rate: Rate, now: number) {
    this.datagrams = rate.datagrams;
    this.bytes = rate.burstBytes;
    this.at = now;
  }

  /** Takes one datagram of `size` bytes if both buckets allow it; a refused take costs nothing. */
  take(rate: Rate, now: number, size: number): boolean {
    const elapsed = now - this.at;
    if (elapsed > 0) {
      this.at = now;
      const d = this.datagrams + (elapsed * rate.datagrams) / 1000;
      this.datagrams = d < rate.datagrams ? d : rate.datagrams;
      const b = this.bytes + (elapsed * rate.bytes) / 1000;
      this.bytes = b < rate.burstBytes ? b : rate.burstBytes;
    }
    if (this.datagrams < 1 || this.bytes < size) return false;
    this.datagrams -= 1;
    this.bytes -= size;
    return true;
  }
}
