/**
 * What permessage-deflate may hold process-wide: zlib contexts (a window kept
 * between messages, one per direction with context takeover) and zlib jobs
 * running at once on libuv's thread pool.
 *
 * The contexts are the memory the ws README warns about: a compressor at the
 * defaults holds about 2^(windowBits+2) + 2^(memLevel+9) bytes (256 KiB) for
 * as long as its socket lives, and thousands of them fragment the heap.
 * Past the cap, new sockets are not refused: they negotiate no context
 * takeover, which keeps no window (each message is compressed or inflated in
 * one synchronous zlib call whose memory is freed at once).
 *
 * Jobs are bounded because each async zlib call takes a thread-pool thread
 * (shared with DNS and file I/O) and allocates while it waits; ws bounds them
 * for the same reason (its issue #1202). Waiting jobs run in arrival order.
 */

let maxContexts = 1024;
let contexts = 0;
let maxJobs = 10;
let running = 0;
const waiting: Array<() => void> = [];

/**
 * The process-wide bounds on permessage-deflate.
 * @category WebSocket
 */
export interface DeflateLimits {
  /** zlib contexts kept between messages (one per socket direction with context takeover). Default 1,024. */
  maxContexts?: number;
  /** Async zlib jobs at once; more wait their turn. Default 10. */
  maxConcurrentJobs?: number;
}

/**
 * Sets the process-wide bounds on permessage-deflate (for every server and
 * client in the process). Sockets already open keep what they negotiated.
 * @category WebSocket
 */
export function setDeflateLimits(limits: DeflateLimits): void {
  if (limits.maxContexts !== undefined) maxContexts = limits.maxContexts;
  if (limits.maxConcurrentJobs !== undefined) maxJobs = Math.max(1, limits.maxConcurrentJobs);
  drainWaiting();
}

/**
 * The contexts held and jobs running now, with the bounds.
 * @category WebSocket
 */
export function deflateUsage(): {
  /** zlib contexts reserved now, process-wide (one per socket direction with context takeover). */
  contexts: number;
  /** The bound on them (see {@link setDeflateLimits}). */
  maxContexts: number;
  /** Async zlib jobs running now. */
  jobs: number;
  /** Jobs waiting for one of the running ones to finish. */
  waiting: number;
  /** The bound on jobs at once. */
  maxConcurrentJobs: number;
} {
  return { contexts, maxContexts, jobs: running, waiting: waiting.length, maxConcurrentJobs: maxJobs };
}

/** Reserves `n` contexts if all fit under the cap. */
export function reserveContexts(n: number): boolean {
  if (n === 0) return true;
  if (contexts + n > maxContexts) return false;
  contexts += n;
  return true;
}

/** Gives back contexts {@link reserveContexts} took. */
export function releaseContexts(n: number): void {
  contexts -= n;
}

/** Runs `job` when a slot is free; it calls `done` exactly once when its zlib call has returned. */
export function runJob(job: (done: () => void) => void): void {
  if (running < maxJobs) start(job);
  else waiting.push(() => start(job));
}

function start(job: (done: () => void) => void): void {
  running++;
  let finished = false;
  job(() => {
    if (finished) return;
    finished = true;
    running--;
    drainWaiting();
  });
}

function drainWaiting(): void {
  while (running < maxJobs && waiting.length > 0) (waiting.shift() as () => void)();
}
