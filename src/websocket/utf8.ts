/**
 * UTF-8 validation for text messages and close reasons (RFC 3629 as RFC 6455
 * §8.1 requires: no overlongs, no surrogates, nothing above U+10FFFF).
 *
 * A whole message in one frame goes to Node's `isUtf8` (native, SIMD). A
 * fragmented message is checked fragment by fragment with {@link Utf8Stream},
 * which carries an unfinished sequence across fragments, so a bad byte closes
 * the connection when its fragment arrives, not when the message ends.
 */
import { isUtf8 } from 'node:buffer';

export { isUtf8 };

/**
 * Incremental validator. `state` is 0 between characters; otherwise it holds
 * the bytes still expected (low 2 bits) and the bounds for the next one.
 */
export class Utf8Stream {
  /** Continuation bytes still expected in the current sequence. */
  private need = 0;
  /** Bounds for the next continuation byte (tighter right after E0, ED, F0, F4). */
  private lo = 0x80;
  private hi = 0xbf;

  /** True at a character boundary (a message may end here). */
  get complete(): boolean {
    return this.need === 0;
  }

  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
  }

  /** Checks the next bytes; returns the index of the first invalid byte, or -1. */
  push(bytes: Uint8Array): number {
    let need = this.need;
    let lo = this.lo;
    let hi = this.hi;
    const n = bytes.length;
    let i = 0;
    // Fast skip of ASCII between characters.
    if (need === 0) {
      while (i < n && (bytes[i] as number) < 0x80) i++;
    }
    for (; i < n; i++) {
      const b = bytes[i] as number;
      if (need === 0) {
        if (b < 0x80) continue;
        if (b >= 0xc2 && b <= 0xdf) {
          need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          if (b === 0xe0) lo = 0xa0;
          else if (b === 0xed) hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          if (b === 0xf0) lo = 0x90;
          else if (b === 0xf4) hi = 0x8f;
        } else {
          this.need = 0;
          return i;
        }
        continue;
      }
      if (b < lo || b > hi) {
        this.need = 0;
        this.lo = 0x80;
        this.hi = 0xbf;
        return i;
      }
      lo = 0x80;
      hi = 0xbf;
      need--;
    }
    this.need = need;
    this.lo = lo;
    this.hi = hi;
    return -1;
  }
}
