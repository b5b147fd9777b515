/**
 * Stream compression as a filter: each direction is one compressed stream for
 * the life of the connection (the dictionary carries over, so small messages
 * compress well), flushed at the end of every outbound batch so a reply never
 * waits for more bytes: one flush per connection per event-loop turn.
 *
 * ```
 *  send … send │ end of the turn's batch ─► compressor.write … flush(SYNC) ─► one socket write
 *  socket chunk ─► decompressor ─► bytes for the codec (bounded: see maxInflateRatio)
 * ```
 *
 * Inbound bounds: received bytes waiting for the inflater (the thread pool
 * behind, or the connection paused) stop the socket's reads past 256 KiB
 * (counted, `inboundHolds`, and logged once per connection); inflated bytes
 * wait in the inflater's own buffer, which stops inflating when it is full;
 * and more than `maxInflateRatio` inflated bytes per received byte close the
 * connection (`inflateLimits`).
 *
 * Wire formats: `deflate` is raw DEFLATE (RFC 1951) with sync flushes, as IMAP
 * COMPRESS=DEFLATE (RFC 4978) uses it; `brotli` is a Brotli stream with
 * BROTLI_OPERATION_FLUSH; `zstd` (when the running Node has it) a Zstandard
 * stream with flushes. Both peers must use the same filter.
 *
 * zlib runs on libuv's thread pool, so each session answers asynchronously;
 * order is kept. Memory: a deflate session holds about 2^(windowBits+2) +
 * 2^(memLevel+9) bytes for compressing plus 2^windowBits for decompressing
 * (about 300 KiB at the defaults), so `windowBits`, `memLevel` and a
 * process-wide budget bound it; a connection that would pass the budget is
 * closed (`refused`, `ERR_COMPRESSION_BUDGET`).
 */
import zlib from 'node:zlib';
import { capstanError } from '../errors.js';
import type { Filter, FilterLink, FilterSession } from './filter.js';

/**
 * Options of {@link compression}; each is checked when the filter is made.
 * @category Filters
 */
export interface CompressionOptions {
  /** `deflate` (default), `brotli`, or `zstd` where the running Node has it (22.15 and later). */
  algorithm?: 'deflate' | 'brotli' | 'zstd';
  /** Compression level: deflate 0-9 (default 6), brotli quality 0-11 (default 5), zstd 1-19 (default 3). */
  level?: number;
  /** Window size as a power of two: deflate 9-15 (default 15), brotli 10-24 (default 18), zstd 10-27 (default 18). */
  windowBits?: number;
  /** deflate's internal state size, 1-9 (default 8): less memory, slightly worse compression. */
  memLevel?: number;
  /**
   * Decompressed bytes allowed per compressed byte received (plus 1 MiB):
   * beyond it the connection closes (`protocol-error`, `ERR_INFLATE_LIMIT`), so a
   * decompression bomb cannot make the server inflate without end. Default 100.
   */
  maxInflateRatio?: number;
}

const INFLATE_SLACK = 1024 * 1024;
/** Received bytes waiting for the inflater beyond which the socket is not read. */
const INBOUND_HOLD = 256 * 1024;
const DEFAULT_BUDGET = 512 * 1024 * 1024;
let budget = DEFAULT_BUDGET;
let used = 0;

/**
 * Sets the process-wide memory budget for compression sessions, in bytes
 *
 * (each session's use is estimated from its algorithm, `windowBits` and
 * `memLevel`: about 300 KiB for deflate's defaults). A connection whose session
 * would pass it is closed (`refused`, `ERR_COMPRESSION_BUDGET`). Default 512 MiB.
 * @category Filters
 */
export function setCompressionBudget(bytes: number): void {
  budget = bytes;
}

/**
 * Estimated bytes the process's compression sessions hold now, and the budget.
 * @category Filters
 */
export function compressionMemory(): {
  /** Estimated bytes held by open sessions. */
  used: number;
  /** The budget, bytes (see {@link setCompressionBudget}). */
  budget: number;
} {
  return { used, budget };
}

interface Algorithm {
  compressor(): zlib.Deflate | zlib.BrotliCompress;
  decompressor(): zlib.Inflate | zlib.BrotliDecompress;
  flushKind: number;
  memory: number;
}

function algorithm(o: CompressionOptions): Algorithm {
  const name = o.algorithm ?? 'deflate';
  const c = zlib.constants;
  if (name === 'deflate') {
    const windowBits = checkRange('windowBits', o.windowBits ?? 15, 9, 15);
    const memLevel = checkRange('memLevel', o.memLevel ?? 8, 1, 9);
    const level = checkRange('level', o.level ?? 6, 0, 9);
    return {
      compressor: () => zlib.createDeflateRaw({ level, windowBits, memLevel, flush: c.Z_SYNC_FLUSH }),
      decompressor: () => zlib.createInflateRaw({ windowBits }),
      flushKind: c.Z_SYNC_FLUSH,
      memory: 2 ** (windowBits + 2) + 2 ** (memLevel + 9) + 2 ** windowBits + 16 * 1024,
    };
  }
  if (name === 'brotli') {
    const lgwin = checkRange('windowBits', o.windowBits ?? 18, 10, 24);
    const quality = checkRange('level', o.level ?? 5, 0, 11);
    return {
      compressor: () => zlib.createBrotliCompress({ flush: c.BROTLI_OPERATION_FLUSH, params: { [c.BROTLI_PARAM_QUALITY]: quality, [c.BROTLI_PARAM_LGWIN]: lgwin } }),
      decompressor: () => zlib.createBrotliDecompress(),
      flushKind: c.BROTLI_OPERATION_FLUSH,
      memory: 3 * 2 ** lgwin + 256 * 1024,
    };
  }
  if (name === 'zstd') {
    const z = zlib as unknown as { createZstdCompress?: (o: object) => zlib.Deflate; createZstdDecompress?: (o: object) => zlib.Inflate };
    if (z.createZstdCompress === undefined || z.createZstdDecompress === undefined) {
      throw capstanError('ERR_INVALID_OPTION', `compression: zstd needs a Node with zlib.createZstdCompress (22.15 and later); this is ${process.version}`, { path: 'algorithm', actual: name });
    }
    const windowLog = checkRange('windowBits', o.windowBits ?? 18, 10, 27);
    const level = checkRange('level', o.level ?? 3, 1, 19);
    const zc = c as unknown as Record<string, number>;
    const make = z.createZstdCompress;
    const unmake = z.createZstdDecompress;
    return {
      compressor: () => make({ flush: zc.ZSTD_e_flush ?? 1, params: { [zc.ZSTD_c_compressionLevel as number]: level, [zc.ZSTD_c_windowLog as number]: windowLog } }),
      decompressor: () => unmake({}),
      flushKind: zc.ZSTD_e_flush ?? 1,
      memory: 3 * 2 ** windowLog + 256 * 1024,
    };
  }
  throw capstanError('ERR_INVALID_OPTION', `compression: option algorithm must be deflate, brotli or zstd, got ${JSON.stringify(name)}`, { path: 'algorithm', actual: name });
}

function checkRange(key: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw capstanError('ERR_INVALID_OPTION', `compression: option ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`, { path: key, actual: v });
  }
  return v;
}

/**
 * Byte counts of a compression filter, summed over its sessions: the ratio is
 * `plainOut / wireOut` one way and `plainIn / wireIn` the other.
 * @category Filters
 */
export interface CompressionCounters {
  /** Bytes sent, before compression. */
  plainOut: number;
  /** Bytes sent, compressed (on the wire). */
  wireOut: number;
  /** Bytes received, compressed (on the wire). */
  wireIn: number;
  /** Bytes received, after decompression. */
  plainIn: number;
}

/** How often a listener's compression sessions met their bounds (in the listener's stats beside the byte counts). */
interface LimitCounters {
  /** Times a session stopped reading the socket: `INBOUND_HOLD` received bytes were waiting for the inflater. */
  inboundHolds: number;
  /** Sessions closed as decompression bombs (`maxInflateRatio`, `ERR_INFLATE_LIMIT`). */
  inflateLimits: number;
}

/**
 * A stream compression filter.
 *
 * Each direction is one compressed stream for the life of the connection,
 * flushed at the end of every batch so a reply never waits. Both peers must use
 * the same filter (`deflate` is raw DEFLATE with sync flushes, as IMAP
 * COMPRESS=DEFLATE uses it).
 *
 * ```ts
 * listen({ port: 7000, codec: lines(), filters: [compression({ algorithm: 'deflate', level: 6 })], handler });
 * ```
 * @param counters - receives the byte counts that give the compression ratio
 *   (they are also in the listener's stats, `filters[algorithm]`, with
 *   `inboundHolds` and `inflateLimits`: how often the inbound bounds were met).
 * @throws CapstanError `ERR_INVALID_OPTION` for a bad option (checked here,
 *   before anything binds), or `zstd` on a Node without it.
 * @category Filters
 */
export function compression(options: CompressionOptions = {}, counters?: CompressionCounters): Filter {
  const algo = algorithm(options);
  const ratio = options.maxInflateRatio ?? 100;
  if (!(ratio >= 1)) throw capstanError('ERR_INVALID_OPTION', `compression: option maxInflateRatio must be at least 1, got ${ratio}`, { path: 'maxInflateRatio', actual: ratio });
  const counted: CompressionCounters = counters ?? { plainOut: 0, wireOut: 0, wireIn: 0, plainIn: 0 };
  const limits: LimitCounters = { inboundHolds: 0, inflateLimits: 0 };
  return {
    name: options.algorithm ?? 'deflate',
    open: (link) => new CompressionSession(link, algo, ratio, counted, limits),
    stats: () => ({ ...counted, ...limits }),
  };
}

class CompressionSession implements FilterSession {
  private readonly out: zlib.Deflate | zlib.BrotliCompress;
  private readonly in: zlib.Inflate | zlib.BrotliDecompress;
  private readonly reserved: number;
  /** The turn's batch so far, written at its end. */
  private readonly batch: Buffer[] = [];
  private batchBytes = 0;
  private wireIn = 0;
  private plainIn = 0;
  private closed = false;
  private holding = false;
  private held = false;

  constructor(
    private readonly link: FilterLink,
    private readonly algo: Algorithm,
    private readonly ratio: number,
    private readonly counters: CompressionCounters,
    private readonly limits: LimitCounters,
  ) {
    this.reserved = algo.memory;
    if (used + this.reserved > budget) {
      this.out = this.in = null as never;
      this.closed = true;
      this.reserved = 0;
      queueMicrotask(() =>
        link.fail(
          'refused',
          capstanError('ERR_COMPRESSION_BUDGET', `compression: the process's sessions would pass their memory budget (${budget} bytes); raise it with setCompressionBudget or serve fewer compressed connections per process`, {
            reason: 'refused',
            limit: budget,
          }),
        ),
      );
      return;
    }
    used += this.reserved;
    this.out = algo.compressor();
    this.in = algo.decompressor();
    this.out.on('data', (chunk: Buffer) => {
      counters.wireOut += chunk.length;
      link.write(chunk, false);
    });
    this.in.on('data', (chunk: Buffer) => this.inflated(chunk));
    // The inflater's queue emptied: read the socket again if it was held.
    this.in.on('drain', () => {
      if (!this.holding || this.closed) return;
      this.holding = false;
      link.holdInbound(false);
    });
    const broken = (err: Error) =>
      this.closed ||
      link.fail('protocol-error', capstanError('ERR_COMPRESSION', `compression: the peer's stream cannot be decompressed: ${err.message}`, { reason: 'protocol-error', cause: err }));
    this.in.on('error', broken);
    this.out.on('error', broken);
  }

  /** Plain bytes given to the compressor and not yet compressed out (a write leaves the queue once its output is pushed). */
  get pendingBytes(): number {
    return this.closed ? 0 : this.out.writableLength;
  }

  inbound(bytes: Buffer): void {
    if (this.closed) return;
    this.wireIn += bytes.length;
    this.counters.wireIn += bytes.length;
    if (!this.in.write(bytes) && !this.holding && this.in.writableLength > INBOUND_HOLD) {
      // The thread pool inflates slower than the socket reads: stop reading until its queue empties.
      this.holding = true;
      this.link.holdInbound(true);
      this.limits.inboundHolds++;
      // Flow control, not an offence: one line per connection is enough to show a peer keeps it busy.
      if (!this.held) {
        this.held = true;
        this.link.note(
          'compression-inbound-hold',
          { waiting: this.in.writableLength, limit: INBOUND_HOLD, holds: this.limits.inboundHolds },
          `compression: ${this.in.writableLength} received bytes are waiting for the inflater (over ${INBOUND_HOLD}); reading this connection pauses until they are inflated`,
        );
      }
    }
  }

  outbound(bytes: Buffer, endOfBatch: boolean): void {
    if (this.closed) return;
    if (bytes.length > 0) {
      this.batch.push(bytes);
      this.batchBytes += bytes.length;
    }
    if (!endOfBatch || this.batchBytes === 0) {
      if (endOfBatch) this.link.write(EMPTY, true);
      return;
    }
    // The compressor flushes on every write (its default flush flag), so a batch is one write:
    // one trip to the thread pool, where a write and then a flush were two.
    const batch = this.batch;
    const data = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, this.batchBytes);
    this.counters.plainOut += this.batchBytes;
    batch.length = 0;
    this.batchBytes = 0;
    this.out.write(data, this.batchWritten);
  }

  /** A batch's compressed bytes went out (its `data` events come before this): the batch ends there too. */
  private readonly batchWritten = (): void => {
    if (!this.closed) this.link.write(EMPTY, true);
  };

  inboundEnd(): void {
    if (this.closed) return;
    // What the peer sent before its FIN is decompressed and handed on first.
    this.in.flush(this.algo.flushKind, () => {
      if (!this.closed) this.link.deliverEnd();
    });
  }

  outboundEnd(): void {
    if (this.closed) return this.link.writeEnd();
    // After the batches before it, every one flushed: nothing is held but what they wrote.
    this.out.write(EMPTY, () => {
      if (!this.closed) this.link.writeEnd();
    });
  }

  resume(): void {
    if (!this.closed && this.in.isPaused()) this.in.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    used -= this.reserved;
    this.out.destroy();
    this.in.destroy();
  }

  private inflated(chunk: Buffer): void {
    if (this.closed) return;
    this.plainIn += chunk.length;
    this.counters.plainIn += chunk.length;
    if (this.plainIn > this.wireIn * this.ratio + INFLATE_SLACK) {
      // The close is logged (under the listener's budget) with its code, ERR_INFLATE_LIMIT.
      this.limits.inflateLimits++;
      this.link.fail(
        'protocol-error',
        capstanError('ERR_INFLATE_LIMIT', `compression: ${this.wireIn} compressed bytes inflated to more than ${this.ratio}x (a decompression bomb)`, {
          reason: 'protocol-error',
          limit: this.ratio,
          actual: this.plainIn,
        }),
      );
      this.close();
      return;
    }
    this.link.deliver(chunk);
    // The connection reads no more for now: stop inflating until it resumes.
    if (this.link.paused) this.in.pause();
  }
}

const EMPTY = Buffer.alloc(0);
