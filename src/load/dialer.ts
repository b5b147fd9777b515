/**
 * The connect phase's pacing, for both engines: connection attempts start in
 * slot order, at most `maxConnecting` at once and no faster than
 * `connectRate` a second; the engine calls {@link Dialer.more} whenever an
 * attempt ends, and one timer waits out the rate.
 */
export class Dialer {
  /** The next slot to dial. */
  private next = 0;
  private start = 0;
  private pacer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly options: { readonly maxConnecting: number; readonly connectRate: number },
    private readonly count: number,
    /** Attempts in progress now. */
    private readonly inProgress: () => number,
    private readonly dial: (slot: number) => void,
  ) {}

  /** Starts the first attempts. */
  begin(): void {
    this.start = performance.now();
    this.more();
  }

  /** Starts as many attempts as the bounds allow now. */
  more(): void {
    const o = this.options;
    while (this.next < this.count && this.inProgress() < o.maxConnecting && !this.stopped) {
      if (o.connectRate > 0) {
        const ahead = this.next * (1000 / o.connectRate) - (performance.now() - this.start);
        if (ahead > 0) {
          this.pacer ??= setTimeout(() => {
            this.pacer = null;
            this.more();
          }, Math.ceil(ahead));
          return;
        }
      }
      this.dial(this.next++);
    }
  }

  /** Starts no more attempts. */
  stop(): void {
    this.stopped = true;
    if (this.pacer !== null) clearTimeout(this.pacer);
    this.pacer = null;
  }
}
