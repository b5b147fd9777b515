/**
 * The process's file-descriptor budget. When accepting another connection
 * would leave fewer than `DESCRIPTOR_RESERVE` descriptors free, listeners
 * refuse it (counted as `fd-limit`, logged) instead of letting the process hit
 * EMFILE, which would also break opening files, DNS and outgoing connections,
 * and which libuv answers by silently closing every connection waiting in the
 * accept queue (Node is never told, so nothing could count or log them).
 *
 * The budget is the process's real descriptor use, not only its accepted
 * connections: the admin endpoint's sockets, clients, open files and anything
 * else count. Counting `/proc/self/fd` costs about 0.5 µs a descriptor, so it is
 * not done per accept: accepted connections are tracked exactly, everything else
 * is re-counted every few seconds, and every half second while the process is
 * within a margin of its limit (where the count decides).
 *
 * ```
 *   0 ─────── connections + others ──────┬── margin ──┬── reserve ──┤ limit
 *             re-count every 5 s         │ re-count   │ refuse      │
 *                                        │ every 0.5 s│             │
 * ```
 */
import { opendirSync, readFileSync } from 'node:fs';

/** Descriptors kept free for everything that is not an accepted connection. */
export const DESCRIPTOR_RESERVE = 32;
const FAR_RECOUNT_MS = 5_000;
const NEAR_RECOUNT_MS = 500;

function softLimit(): number {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('Max open files'));
    const value = line?.split(/\s{2,}/)[1];
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : Infinity;
  } catch {
    // Not Linux: no cheap way to read the limit, so only the EMFILE backstop applies.
    return Infinity;
  }
}

/** Descriptors the process has open now, or -1 where that cannot be read (not Linux). */
export function openDescriptors(): number {
  try {
    const dir = opendirSync('/proc/self/fd');
    let n = 0;
    try {
      while (dir.readSync() !== null) n++;
    } finally {
      dir.closeSync();
    }
    // The directory handle itself was one of them.
    return n - 1;
  } catch {
    return -1;
  }
}

const limit = softLimit();
const ceiling = limit - DESCRIPTOR_RESERVE;
const margin = Math.max(64, Math.floor(limit / 16));
/** Connections taken and not yet returned. */
let connections = 0;
/** Descriptors open besides those connections, as of the last count. */
let others = 0;
let countedAt = -Infinity;
let accepts = 0;

/** The soft descriptor limit read at start (Infinity when unknown). */
export function descriptorLimit(): number {
  return limit;
}

/** Re-counts the descriptors the process holds besides its connections (after EMFILE, or when near the limit). */
export function recountDescriptors(now = Date.now()): void {
  countedAt = now;
  const n = openDescriptors();
  if (n >= 0) others = Math.max(0, n - connections);
}

/** Takes a descriptor for a new connection, or returns false when the budget is spent. */
export function takeDescriptor(): boolean {
  if (limit === Infinity) {
    connections++;
    return true;
  }
  // Far from the limit the clock is read once every 64 accepts, not per accept.
  const near = connections + others + margin >= ceiling;
  if (near || (++accepts & 63) === 1) {
    const now = Date.now();
    if (now - countedAt >= (near ? NEAR_RECOUNT_MS : FAR_RECOUNT_MS)) recountDescriptors(now);
  }
  if (connections + others >= ceiling) return false;
  connections++;
  return true;
}

export function returnDescriptor(): void {
  connections--;
}

/** The budget's view, for logs: descriptors in use and the most it lets connections take. */
export function descriptorUse(): { inUse: number; limit: number; reserve: number } {
  return { inUse: connections + others, limit, reserve: DESCRIPTOR_RESERVE };
}
