/**
 * Cheap Buffer views for frames handed to handlers.
 *
 * A decoder makes one view per frame, so how it is built is a visible share of
 * the per-message cost (a profile of the 64-byte echo put `Buffer.from(ab, off,
 * len)` at an eighth of the server's busy time). `buf.subarray()` looks up the
 * species constructor on every call, and `Buffer.from(arrayBuffer, …)` checks
 * its arguments; both end in Node's own Buffer class, which `Buffer[Symbol.species]`
 * names. Constructing that class directly makes the same genuine Buffer (same
 * prototype, so `Buffer.isBuffer`, `deepStrictEqual` and `constructor` behave) at
 * the cost of a plain Uint8Array. Should a Node version stop exposing it, views
 * fall back to `Buffer.from`.
 */

type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer;

function nodeBufferClass(): ViewConstructor | null {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species !== 'function' || species === Buffer) return null;
  try {
    const probe = new (species as ViewConstructor)(new ArrayBuffer(2), 1, 1);
    return Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1 && probe.length === 1 ? (species as ViewConstructor) : null;
  } catch {
    return null;
  }
}

const NodeBuffer = nodeBufferClass();

/** A Buffer over `length` bytes of `memory` from `byteOffset` (no copy). */
export const viewAt: (memory: ArrayBufferLike, byteOffset: number, length: number) => Buffer =
  NodeBuffer !== null
    ? (memory, byteOffset, length) => new NodeBuffer(memory, byteOffset, length)
    : (memory, byteOffset, length) => Buffer.from(memory as ArrayBuffer, byteOffset, length);

/** A Buffer sharing `length` bytes of `source`'s memory from `start` (no copy). */
export function viewOf(source: Uint8Array, start: number, length: number): Buffer {
  return viewAt(source.buffer, source.byteOffset + start, length);
}
