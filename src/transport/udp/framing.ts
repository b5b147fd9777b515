/**
 * A datagram is one frame. With the raw codec the datagram is the message;
 * with another codec its records are decoded from that datagram alone:
 *
 * ```
 *   datagram ─► [hdr|rec][hdr|rec][hdr|re ─► truncated: the whole datagram is dropped
 *   datagram ─► [hdr|rec][hdr|rec]         ─► two records, delivered in order
 * ```
 *
 * The records are all decoded before any is delivered, so a datagram is
 * delivered whole or not at all, and bytes left at its end are never joined
 * with the next datagram's (UDP may reorder, lose or duplicate datagrams, so
 * a record split across two could not be put back together anyway).
 */
import { ByteQueue } from '../../buffers/byte-queue.js';
import type { Codec, Decoder, DecoderEvents } from '../../codecs/codec.js';

export class DatagramFraming {
  /** The records of the last datagram split; the caller empties it once delivered. */
  readonly records: Buffer[] = [];
  private readonly queue = new ByteQueue();
  /** The codec's decoder when it hands every caller the same one (it keeps no state), else null. */
  private readonly shared: Decoder | null;

  constructor(
    private readonly codec: Codec,
    private readonly events: DecoderEvents,
  ) {
    // A codec that keeps per-stream state (a line decoder's scan position) gets a fresh
    // decoder per datagram, so nothing one datagram left can shape how the next is read.
    const d = codec.decoder(events);
    this.shared = codec.decoder(events) === d ? d : null;
  }

  /** Decodes `datagram` into {@link records}: `null` when it held whole records only, else the drop reason. */
  split(datagram: Buffer): 'truncated' | 'malformed' | null {
    const q = this.queue;
    const records = this.records;
    const decoder = this.shared ?? this.codec.decoder(this.events);
    q.push(datagram);
    try {
      for (;;) {
        const before = q.length;
        const r = decoder.decode(q);
        if (r === undefined) break;
        records.push(r);
        // A decoder that returns a frame without consuming bytes would loop here for good.
        if (q.length === before) return this.fail('malformed');
      }
      if (q.length > 0) {
        const last = decoder.finish?.(q);
        if (last === undefined) return this.fail('truncated');
        records.push(last);
        if (q.length > 0) return this.fail('truncated');
      }
    } catch {
      return this.fail('malformed');
    }
    return null;
  }

  private fail(reason: 'truncated' | 'malformed'): 'truncated' | 'malformed' {
    this.queue.clear();
    this.records.length = 0;
    return reason;
  }
}
