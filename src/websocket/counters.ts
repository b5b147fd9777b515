/**
 * A WebSocket server's counters: plain number fields bumped on the hot path,
 * read only when someone asks for {@link WebSocketCounters.snapshot}.
 */

/**
 * What a WebSocket server (`server.stats()` of {@link websocket}) or client
 * (`client.websocketStats()`) has done since it was made. Message and byte
 * counts are of whole messages, text and binary alike; control frames are
 * counted apart.
 * @category Metrics
 */
export interface WebSocketStats {
  /** Upgrades completed: 101 responses sent (server) or accepted (client). */
  handshakesAccepted: number;
  /** Refused upgrades (and plain requests answered with an error) by HTTP status. */
  handshakesRefused: Record<string, number>;
  /** Plain HTTP requests answered by the `request` hook. */
  httpRequests: number;
  /** Messages received, those dropped after our close frame included. */
  messagesIn: number;
  /** Messages queued by `send`. */
  messagesOut: number;
  /** Payload bytes of the messages received. */
  bytesIn: number;
  /** Payload bytes of the messages sent. */
  bytesOut: number;
  /** Pings received. */
  pingsIn: number;
  /** Pings sent, heartbeats and `ping()` calls alike. */
  pingsOut: number;
  /** Pongs received. */
  pongsIn: number;
  /** Pongs sent: answers to pings and `pong()` calls. */
  pongsOut: number;
  /** Close frames we sent, by code. */
  closesSent: Record<string, number>;
  /** Close frames the peers sent, by code (1005: no code). */
  closesReceived: Record<string, number>;
  /** Open WebSockets (upgraded connections). */
  open: number;
  /** permessage-deflate, when an endpoint (or the client) has it on: see {@link DeflateCounters}. */
  deflate?: DeflateCounters;
}

/**
 * Payload bytes of the messages of sockets that negotiated permessage-deflate:
 * plain (before compressing, after inflating) and on the wire, each way. A
 * message sent under the threshold counts the same on both sides, so the
 * ratio is what compression saved on that traffic.
 * @category Metrics
 */
export interface DeflateCounters {
  /** Payload bytes of messages sent, before compressing. */
  plainOut: number;
  /** Payload bytes of messages sent, as they went on the wire (compressed, or as they were under the threshold). */
  wireOut: number;
  /** Payload bytes of messages received, after inflating. */
  plainIn: number;
  /** Payload bytes of messages received, as they came on the wire. */
  wireIn: number;
  /** Sockets that offered to keep windows but got none, because the process held its cap of zlib contexts (see `setDeflateLimits`). */
  capped: number;
}

export class WebSocketCounters {
  handshakesAccepted = 0;
  httpRequests = 0;
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  pingsIn = 0;
  pingsOut = 0;
  pongsIn = 0;
  pongsOut = 0;
  open = 0;
  readonly refused = new Map<number, number>();
  readonly closesSent = new Map<number, number>();
  readonly closesReceived = new Map<number, number>();
  /** Set by a server with permessage-deflate on an endpoint, or a client offering it. */
  deflate: DeflateCounters | null = null;

  static bump(m: Map<number, number>, key: number): void {
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  snapshot(): WebSocketStats {
    const obj = (m: Map<number, number>) => Object.fromEntries([...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v]));
    return {
      handshakesAccepted: this.handshakesAccepted,
      handshakesRefused: obj(this.refused),
      httpRequests: this.httpRequests,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      pingsIn: this.pingsIn,
      pingsOut: this.pingsOut,
      pongsIn: this.pongsIn,
      pongsOut: this.pongsOut,
      closesSent: obj(this.closesSent),
      closesReceived: obj(this.closesReceived),
      open: this.open,
      ...(this.deflate !== null ? { deflate: { ...this.deflate } } : {}),
    };
  }
}
