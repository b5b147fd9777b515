/**
 * Filters: stages between the socket (after TLS) and the codec that rewrite
 * the byte stream both ways: compression, a framing or cipher of one's own, a
 * tap for debugging. A listener compiles its filters once; each connection
 * gets a session of each, chained:
 *
 * ```
 *  socket ─► [TLS] ─► filter 1 ─► filter 2 ─► … ─► codec ─► handler
 *  socket ◄─ [TLS] ◄─ filter 1 ◄─ filter 2 ◄─ … ◄─ codec ◄─ send
 *                     inbound: bytes from the peer, handed on with link.deliver
 *                     outbound: bytes to the peer, handed on with link.write
 * ```
 *
 * A listener without filters runs the plain path: no stage, no check per
 * byte. A filter may answer synchronously (hand bytes on inside the call) or
 * later (zlib runs on the thread pool); order is kept either way, and the
 * connection's limits count what a filter holds towards the peer
 * (`pendingBytes`); it bounds what it holds from the peer (`holdInbound`).
 *
 * The contract, which test/pipeline/filter-conformance.test.ts checks for
 * every filter Capstan ships:
 * - any split of the inbound stream into chunks gives the same bytes out;
 * - `outbound(…, true)` ends a batch: everything given so far must reach the
 *   socket without waiting for more (a compressor flushes), so a filter adds
 *   no latency beyond its own work;
 * - `inboundEnd` comes after the last inbound bytes: hand on what is held,
 *   then `link.deliverEnd()`; `outboundEnd` likewise before our FIN, then
 *   `link.writeEnd()`;
 * - bad input is `link.fail(reason, error)` with a CapstanError, never a throw
 *   from a later callback;
 * - `close` frees everything; nothing is called after it.
 */
import type { CloseReason } from '../connection/close-reason.js';

/**
 * What a filter session may do: hand bytes on, either way, and fail the connection.
 * @category Filters
 */
export interface FilterLink {
  /** Bytes towards the codec. */
  deliver(bytes: Buffer): void;
  /** The peer's end of stream, after every byte before it was delivered. */
  deliverEnd(): void;
  /** Bytes towards the peer. `endOfBatch`: the end of one turn's batch (pass it on with the last bytes of that batch). */
  write(bytes: Buffer, endOfBatch: boolean): void;
  /** Our end of stream, after every byte before it was written. */
  writeEnd(): void;
  /** Closes the connection gracefully with `reason` (the error should be a CapstanError with a stable code). */
  fail(reason: CloseReason, error: Error): void;
  /**
   * Stops (`true`) or restarts (`false`) reading the socket, for a filter that
   * holds too many received bytes it has not handed on yet (an inflater on the
   * thread pool that falls behind). Calls pair up.
   */
  holdInbound(held: boolean): void;
  /** True while the connection reads no more (paused by the handler or by backpressure): hold output if you can. */
  readonly paused: boolean;
  /**
   * Logs a line about this connection (its id and peer are added) under the
   * listener's log budget, shared with every connection's lines: 20 a second,
   * then a summary. For a bound the filter enforces; `kind` groups the lines.
   */
  note(kind: string, detail: Record<string, unknown>, message: string): void;
  /** The peer, for logs. */
  readonly remoteAddress: string;
}

/**
 * One connection's instance of a filter, made by {@link Filter.open}.
 * @category Filters
 */
export interface FilterSession {
  /** Bytes from the peer (from the socket, or the filter before this one). */
  inbound(bytes: Buffer): void;
  /** Bytes to the peer (from the codec, or the filter after this one); `endOfBatch` marks the end of a turn's batch. */
  outbound(bytes: Buffer, endOfBatch: boolean): void;
  /** The peer finished sending. Default: `link.deliverEnd()` at once. */
  inboundEnd?(): void;
  /** We finish sending. Default: `link.writeEnd()` at once. */
  outboundEnd?(): void;
  /** The connection reads again after a pause: hand on what was held. */
  resume?(): void;
  /**
   * Bytes to the peer given to the filter and not yet handed on: counted with
   * the socket's queue against the connection's high-water mark and
   * `maxBufferedBytes`. (Received bytes a filter holds are its own to bound,
   * with `link.holdInbound`.)
   */
  readonly pendingBytes?: number;
  /** The connection is closed: free resources. Called once; nothing is called after it. */
  close?(): void;
}

/**
 * A filter: a stage between the socket (after TLS) and the codec that rewrites
 * the byte stream both ways (`listen({ filters })`, `connect({ filters })`).
 *
 * One filter object serves a listener; each connection gets a session.
 *
 * ```
 *  socket ─► [TLS] ─► filter 1 ─► filter 2 ─► … ─► codec ─► handler
 *  socket ◄─ [TLS] ◄─ filter 1 ◄─ filter 2 ◄─ … ◄─ codec ◄─ send
 * ```
 *
 * Capstan ships {@link compression} and {@link passThrough}; the contract a
 * filter of your own keeps is in docs/filters.md.
 * @category Filters
 */
export interface Filter {
  /** Name in logs and in the listener's stats (`filters[name]`). */
  readonly name: string;
  /** A new connection opened: its session, which hands bytes on through `link`. */
  open(link: FilterLink): FilterSession;
  /**
   * The filter's counters, summed over its sessions: shown in the listener's
   * stats under `filters[name]` (the compression filter's give the
   * `capstan_compression_*` metrics).
   */
  stats?(): Record<string, number>;
}

/**
 * The identity filter: hands bytes on unchanged, each way. What a filter
 * costs the connection itself (`npm run bench -- --scenario filters`), and a
 * starting point for writing one.
 * @param name - the filter's name in logs and stats. Default `pass-through`.
 * @category Filters
 */
export function passThrough(name = 'pass-through'): Filter {
  return { name, open: (link) => new PassThroughSession(link) };
}

/**
 * A class, so every connection's session has one shape and one method of each
 * kind: a session made of per-connection closures makes the chain's calls
 * polymorphic. A filter on the hot path should do the same.
 */
class PassThroughSession implements FilterSession {
  constructor(private readonly link: FilterLink) {}
  inbound(bytes: Buffer): void {
    this.link.deliver(bytes);
  }
  outbound(bytes: Buffer, endOfBatch: boolean): void {
    this.link.write(bytes, endOfBatch);
  }
}
