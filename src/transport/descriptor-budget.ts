/**
 * The process's file-descriptor budget. When accepting another connection
 * would leave fewer than `reserve` descriptors, listeners refuse it (counted as
 * `fd-limit`, logged) instead of letting the process hit EMFILE, which would
 * also break opening files, DNS and outgoing connections. If EMFILE happens
 * anyway (descriptors used elsewhere), libuv sheds the pending connection and
 * the listener keeps serving once descriptors free up.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept free for everything that is not an accepted connection. */
export const DESCRIPTOR_RESERVE = 32;

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

const limit = softLimit();
let open = 0;

/** The soft descriptor limit read at start (Infinity when unknown). */
export function descriptorLimit(): number {
  return limit;
}

/** Takes a descriptor for a new connection, or returns false when the budget is spent. */
export function takeDescriptor(): boolean {
  if (open >= limit - DESCRIPTOR_RESERVE) return false;
  open++;
  return true;
}

export function returnDescriptor(): void {
  open--;
}
