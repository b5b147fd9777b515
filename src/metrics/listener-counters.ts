/**
 * Per-listener counters: plain number fields bumped on the hot path, read only
 * when someone asks for a snapshot. No maps, no labels, no allocation per event.
 */
import { CLOSE_REASONS, type CloseReason } from '../connection/close-reason.js';
import type { UdpStats } from './udp-counters.js';
import type { WebSocketStats } from '../websocket/counters.js';

/**
 * Why an accepted socket was turned away before it became a connection.
 *
 * `max-connections` and `max-per-address` (the limits), `fd-limit` (the
 * process is near its file-descriptor limit), `closing` (the listener is
 * closing), `proxy-untrusted` (PROXY protocol required, peer not trusted).
 * @category Metrics
 */
export type RefuseReason = 'max-connections' | 'max-per-address' | 'fd-limit' | 'closing' | 'proxy-untrusted';

/**
 * Why a PROXY protocol header (or its absence) closed a connection.
 *
 * A `malformed` or `too-large` header, a bad `checksum` (CRC32C TLV), a header
 * from an `untrusted` peer, a `missing` one in required mode, or none within
 * the `timeout`.
 * @category Metrics
 */
export type ProxyRefusal = 'malformed' | 'too-large' | 'checksum' | 'untrusted' | 'missing' | 'timeout';

/**
 * A TLS listener's handshakes and certificates.
 * @category Metrics
 */
export interface TlsStats {
  /** Completed handshakes by protocol version (`TLSv1.3` …). */
  versions: Record<string, number>;
  /** Completed handshakes by the certificate they got: an SNI entry's name, or `default`. */
  names: Record<string, number>;
  /** Handshakes refused because no certificate matched the server name and there was no default. */
  unknownName: number;
  /** Days until each certificate expires, by name (negative once expired). */
  expiryDays: Record<string, number>;
  /** New TLS settings applied (`updateTls`: certificate rotation, reload). */
  reloads: number;
  /** New TLS settings refused (they did not load); the old ones stayed. */
  reloadFailures: number;
}

/**
 * PROXY protocol headers: read, and refused by reason.
 * @category Metrics
 */
export interface ProxyStats {
  /** PROXY commands read: the client behind the proxy is known. */
  accepted: number;
  /** LOCAL commands (the proxy's own connections, such as health checks). */
  local: number;
  /** Connections from a trusted proxy without a header (optional mode). */
  none: number;
  /** Connections closed over their header (or its absence), by reason. */
  refused: Record<ProxyRefusal, number>;
}


/**
 * A snapshot of one listener's (or client's) counters, from `server.stats()`.
 *
 * Counts since the listener started, except `active` and `bufferedBytes`,
 * which are current. `/metrics` exposes the same figures.
 * @category Metrics
 */
export interface ListenerStats {
  /** Connections accepted and handed to the handler (or to the TLS handshake). */
  accepted: number;
  /** Connections currently open (including those in a TLS handshake). */
  active: number;
  /** Sockets closed on accept, by reason. */
  refused: Record<RefuseReason, number>;
  /** Accept failures the listener survived (EMFILE, ENFILE …) by error code. */
  acceptErrors: Record<string, number>;
  /** Bytes read from sockets (after TLS decryption, before filters such as compression). */
  bytesIn: number;
  /** Bytes written to sockets (after filters, before TLS encryption). */
  bytesOut: number;
  /** Frames decoded and handed to `message`. */
  framesIn: number;
  /** Frames given to `send` and queued. */
  framesOut: number;
  /** Oversized frames dropped by a codec in discard mode. */
  framesDiscarded: number;
  /** Times a connection stopped reading because its outbound queue passed the high-water mark. */
  backpressurePauses: number;
  /** Bytes queued for sending, summed over open connections, at snapshot time. */
  bufferedBytes: number;
  /** Handler methods that threw. */
  handlerErrors: number;
  /** TLS handshakes that failed or were rejected. */
  tlsHandshakeFailures: number;
  /** Closed connections by close reason. */
  closes: Record<CloseReason, number>;
  /** PROXY protocol headers (listeners with `proxyProtocol`). */
  proxy: ProxyStats;
  /** Connections told apart by their first byte on a listener serving TLS and plaintext. */
  detected: {
    /** Connections whose first byte started a TLS handshake. */
    tls: number;
    /** Connections served in plaintext. */
    plaintext: number;
  };
  /** TLS handshakes by protocol version and by certificate name (an SNI entry, or `default`); certificate expiry. */
  tls: TlsStats;
  /** STARTTLS upgrades done, and refused (bytes injected before the handshake). */
  starttls: {
    /** Connections that completed `conn.startTls()`. */
    upgraded: number;
    /** Upgrades refused because the peer sent bytes before the handshake. */
    refused: number;
  };
  /** Each filter's counters by filter name (compression: plainOut, wireOut, wireIn, plainIn bytes). */
  filters: Record<string, Record<string, number>>;
  /** Timeouts by kind (the timeout close reasons). */
  timeouts: {
    /** Closed by `firstByteTimeoutMs`. */
    firstByte: number;
    /** Closed by `frameTimeoutMs`. */
    frame: number;
    /** Closed by `idleTimeoutMs`. */
    idle: number;
    /** Closed by `writeTimeoutMs`. */
    write: number;
    /** Closed by `handshakeTimeoutMs`. */
    handshake: number;
    /** Closed by `lingerMs`. */
    linger: number;
  };
  /**
   * A UDP listener's datagrams, drops, sessions and ICMP errors; absent on stream
   * listeners. On a UDP listener the fields above count sessions as connections
   * (`accepted` opened, `active` open, `closes` by reason) and records as frames.
   */
  udp?: UdpStats;
  /** A WebSocket listener's handshakes, messages, control frames and close codes. */
  websocket?: WebSocketSnapshot;
}

/**
 * Byte counts through a compressor, each way: plain (before compressing, after
 * inflating) and on the wire. A direction no byte has taken yet may be absent.
 * @category Metrics
 */
export interface CompressedBytes {
  /** Bytes sent, before compression. */
  plainOut?: number;
  /** Bytes sent, compressed (on the wire). */
  wireOut?: number;
  /** Bytes received, after decompression. */
  plainIn?: number;
  /** Bytes received, compressed (on the wire). */
  wireIn?: number;
}

/**
 * A WebSocket listener's counters, with those permessage-deflate and pub/sub
 * add when the server has them: read only where present, so a server without
 * them shows no such figures.
 * @category Metrics
 */
export type WebSocketSnapshot = WebSocketStats & {
  /** permessage-deflate message bytes, counted as a compression filter counts them. */
  deflate?: CompressedBytes;
  /** Subscribers per topic, now. */
  topics?: Record<string, number>;
  /** Messages published to topics. */
  publishes?: number;
};

export class ListenerCounters {
  accepted = 0;
  active = 0;
  bytesIn = 0;
  bytesOut = 0;
  framesIn = 0;
  framesOut = 0;
  framesDiscarded = 0;
  backpressurePauses = 0;
  handlerErrors = 0;
  tlsHandshakeFailures = 0;
  readonly refused: Record<RefuseReason, number> = { 'max-connections': 0, 'max-per-address': 0, 'fd-limit': 0, closing: 0, 'proxy-untrusted': 0 };
  readonly proxy: ProxyStats = { accepted: 0, local: 0, none: 0, refused: { malformed: 0, 'too-large': 0, checksum: 0, untrusted: 0, missing: 0, timeout: 0 } };
  readonly detected = { tls: 0, plaintext: 0 };
  readonly starttls = { upgraded: 0, refused: 0 };
  readonly tls: TlsStats = { versions: {}, names: {}, unknownName: 0, expiryDays: {}, reloads: 0, reloadFailures: 0 };
  readonly acceptErrors: Record<string, number> = {};
  readonly closes: Record<CloseReason, number>;

  constructor() {
    const closes = {} as Record<CloseReason, number>;
    for (const r of CLOSE_REASONS) closes[r] = 0;
    this.closes = closes;
  }

  snapshot(bufferedBytes: number, filters: Record<string, Record<string, number>> = {}): ListenerStats {
    const c = this.closes;
    return {
      accepted: this.accepted,
      active: this.active,
      refused: { ...this.refused },
      acceptErrors: { ...this.acceptErrors },
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      framesDiscarded: this.framesDiscarded,
      backpressurePauses: this.backpressurePauses,
      bufferedBytes,
      handlerErrors: this.handlerErrors,
      tlsHandshakeFailures: this.tlsHandshakeFailures,
      closes: { ...c },
      proxy: { ...this.proxy, refused: { ...this.proxy.refused } },
      detected: { ...this.detected },
      starttls: { ...this.starttls },
      tls: { ...this.tls, versions: { ...this.tls.versions }, names: { ...this.tls.names }, expiryDays: { ...this.tls.expiryDays } },
      filters,
      timeouts: {
        firstByte: c['first-byte-timeout'],
        frame: c['frame-timeout'],
        idle: c['idle-timeout'],
        write: c['write-timeout'],
        handshake: c['handshake-timeout'],
        linger: c['linger-timeout'],
      },
    };
  }
}
