/**
 * Between the handshake and a socket's {@link MessageDeflate}: the
 * negotiation under the process-wide context cap, and what a socket needs
 * switched on once it is agreed (RSV1 allowed in its decoder, its ordering
 * queue, its counters). Server and client go through the same attach.
 */
import type { Connection } from '../connection/connection.js';
import type { CapstanError } from '../errors.js';
import type { DeflateCounters, WebSocketCounters } from './counters.js';
import type { ResolvedDeflateOptions } from './deflate-options.js';
import { releaseContexts, reserveContexts } from './deflate-pool.js';
import { contextsNeeded, deflateSettings, MessageDeflate, type DeflateHost } from './deflate.js';
import { acceptDeflateOffer, checkDeflateAnswer, deflateOffer, parseExtensions, type DeflateAgreement } from './extension-negotiation.js';
import { RSV1, type FrameDecoder } from './frame.js';

/** A negotiated permessage-deflate, with its zlib contexts reserved, waiting for its socket. */
export interface NegotiatedDeflate {
  readonly agreement: DeflateAgreement;
  /** True when the process's context cap turned an offer that keeps windows into one without. */
  readonly capped: boolean;
  /** Switches it on for `ws`: RSV1 allowed in `decoder`, frames sent through `encoder`. */
  attach(ws: DeflateHost & { readonly conn: Connection<unknown> }, decoder: FrameDecoder, encoder: { next: number }, counters: WebSocketCounters, maxMessageBytes: number): MessageDeflate;
}

function negotiated(agreement: DeflateAgreement, o: ResolvedDeflateOptions, contexts: number, capped = false): NegotiatedDeflate {
  return {
    agreement,
    capped,
    attach(ws, decoder, encoder, counters, maxMessageBytes) {
      decoder.rsvAllowed = RSV1;
      const ctr = (counters.deflate ??= { plainOut: 0, wireOut: 0, plainIn: 0, wireIn: 0, capped: 0 }) as DeflateCounters;
      return new MessageDeflate(ws.conn, encoder, deflateSettings(agreement, o), ctr, maxMessageBytes, ws, contexts);
    },
  };
}

/**
 * The server's answer to a client's `Sec-WebSocket-Extensions` (undefined: none sent).
 * @returns the negotiated extension, null when no offer is acceptable, 'malformed' when the header is not of its grammar (400).
 */
export function negotiateDeflate(header: string | undefined, o: ResolvedDeflateOptions): NegotiatedDeflate | null | 'malformed' {
  if (header === undefined) return null;
  const offers = parseExtensions(header);
  if (offers === null) return 'malformed';
  let a = acceptDeflateOffer(offers, o, true);
  if (a === null) return null;
  const need = contextsNeeded(a);
  if (!reserveContexts(need)) {
    // Over the process's cap: no window kept either way, rather than no compression or no connection.
    a = acceptDeflateOffer(offers, o, false) as DeflateAgreement;
    return negotiated(a, o, 0, true);
  }
  return negotiated(a, o, need);
}

/** A client's offer, with the contexts it may need reserved (two, or none once the cap is reached). */
export interface DeflateOffer {
  readonly header: string;
  readonly reserved: number;
}

/** The client's offer: with no context takeover asked for both ways when the process holds as many contexts as it may. */
export function offerDeflate(o: ResolvedDeflateOptions): DeflateOffer {
  const reserved = reserveContexts(2) ? 2 : 0;
  return { header: deflateOffer(o, reserved === 0), reserved };
}

/** Gives back what an offer reserved, when its handshake failed or the connection went first. */
export function withdrawOffer(offer: DeflateOffer): void {
  releaseContexts(offer.reserved);
}

/**
 * The client's check of the server's answer; contexts the agreement does not need are given back.
 * @returns the negotiated extension, null when the server declined, or the `ERR_WS_HANDSHAKE` error.
 */
export function acceptDeflateAnswer(value: string | undefined, o: ResolvedDeflateOptions, offer: DeflateOffer): NegotiatedDeflate | null | CapstanError {
  const a = checkDeflateAnswer(value, o, offer.reserved === 0);
  if (a === null || 'code' in a) {
    withdrawOffer(offer);
    return a;
  }
  const need = contextsNeeded(a);
  releaseContexts(offer.reserved - need);
  return negotiated(a, o, need);
}
