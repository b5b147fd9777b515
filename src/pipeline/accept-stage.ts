/**
 * What a listener does with a new socket before the connection opens, when it
 * does more than accept: read a PROXY header, tell TLS from plaintext by the
 * first byte, then start TLS or open. Compiled once per listener
 * ({@link AcceptPlan}); a listener without these runs the plain accept path.
 *
 * ```
 *            ┌─ trusted source ─► PROXY header? ─┬─ header: the client's address ─┐
 *  accept ───┤                                   └─ none (optional) ─────────────┤
 *            └─ other source ─► (required: refused at accept) ───────────────────┤
 *                                                                                 ▼
 *                             TLS only: wrap ─► handshake ─► open
 *                             TLS or plaintext: first byte 0x16 ? wrap : open
 *                             plaintext: open (an untrusted peer's PROXY header is refused)
 * ```
 *
 * Bytes read while looking stay in the connection's queue; those past a PROXY
 * header go to TLS (unshifted into the socket) or to the codec.
 */
import type { BlockList } from 'node:net';
import type { Connection, HandshakeStage } from '../connection/connection.js';
import { capstanError, type CapstanError } from '../errors.js';
import type { ListenerCounters, ProxyRefusal } from '../metrics/listener-counters.js';
import { parseProxyHeader, proxyErrorKind, proxySignature, V1_MAX_BYTES } from './proxy-protocol.js';
import type { TlsAcceptor } from './tls-acceptor.js';

/** The listener's PROXY protocol settings, resolved. */
export interface ProxyPolicy {
  mode: 'optional' | 'required';
  trusted: BlockList;
  timeoutMs: number;
  maxHeaderBytes: number;
}

/** Everything the accept stage needs from its listener, fixed at listen time. */
export interface AcceptPlan {
  proxy: ProxyPolicy | null;
  tls: TlsAcceptor | null;
  /** With `tls`: plaintext connections are served too, told apart by their first byte. */
  plaintext: boolean;
  counters: ListenerCounters;
  handshakeTimeoutMs: number;
  /** The client behind a proxy is known: apply the per-address limit to it; false refuses the connection. */
  admit(conn: Connection<any>): boolean;
}

const TLS_HANDSHAKE_RECORD = 0x16;

type Phase = 'proxy' | 'detect' | 'sniff';

/**
 * The accept stage of one connection. `start` returns it, or `null` when the
 * connection went straight on (to TLS or open).
 */
class AcceptStage implements HandshakeStage {
  due: number;

  constructor(
    private readonly plan: AcceptPlan,
    private phase: Phase,
    createdAt: number,
  ) {
    this.due = phase === 'proxy' && plan.proxy !== null ? createdAt + plan.proxy.timeoutMs : plan.handshakeTimeoutMs > 0 ? createdAt + plan.handshakeTimeoutMs : 0;
  }

  bytes(c: Connection<any>): void {
    if (this.phase === 'proxy') this.proxyBytes(c);
    else if (this.phase === 'detect') detect(this.plan, c);
    else this.sniff(c);
  }

  /** The peer closed before the stage was done. */
  abandoned(c: Connection<any>): void {
    if (this.phase === 'proxy' && c.queue.length > 0) return this.refuse(c, 'malformed', capstanError('ERR_PROXY_MALFORMED', 'the peer closed in the middle of the PROXY protocol header', { reason: 'protocol-error' }));
    c.destroy('peer-closed');
  }

  timedOut(): { reason: 'handshake-timeout'; error: Error } {
    if (this.phase === 'proxy') this.plan.counters.proxy.refused.timeout++;
    return {
      reason: 'handshake-timeout',
      error:
        this.phase === 'proxy'
          ? capstanError('ERR_PROXY_TIMEOUT', `no complete PROXY protocol header within ${this.plan.proxy?.timeoutMs} ms`, { reason: 'handshake-timeout', limit: this.plan.proxy?.timeoutMs })
          : capstanError('ERR_PROXY_TIMEOUT', 'the peer sent nothing to tell TLS from plaintext by', { reason: 'handshake-timeout' }),
    };
  }

  private proxyBytes(c: Connection<any>): void {
    const p = this.plan.proxy as ProxyPolicy;
    const q = c.queue;
    let parsed;
    try {
      parsed = parseProxyHeader(q.peek(Math.min(q.length, Math.max(p.maxHeaderBytes, V1_MAX_BYTES))), p.maxHeaderBytes);
    } catch (err) {
      return this.refuse(c, proxyErrorKind(err), err as CapstanError);
    }
    if (parsed.kind === 'more') return;
    const counters = this.plan.counters.proxy;
    if (parsed.kind === 'none') {
      if (p.mode === 'required') {
        return this.refuse(c, 'missing', capstanError('ERR_PROXY_REQUIRED', 'the connection did not start with a PROXY protocol header, which this listener requires', { reason: 'protocol-error' }));
      }
      counters.none++;
    } else {
      q.skip(parsed.length);
      const h = parsed.header;
      if (h.command === 'local') counters.local++;
      else counters.accepted++;
      c.proxy = h;
    }
    c.stage = null;
    if (!this.plan.admit(c)) return;
    proceed(this.plan, c);
  }

  /** An untrusted peer's connection is already open: its first bytes must not claim to be a proxy. */
  private sniff(c: Connection<any>): void {
    const q = c.queue;
    const seen = proxySignature(q.peek(Math.min(q.length, 12)));
    if (seen === 'partial') return;
    if (seen === 'match') {
      return this.refuse(c, 'untrusted', capstanError('ERR_PROXY_UNTRUSTED', `a PROXY protocol header from ${c.remoteAddress}, which is not a trusted proxy`, { reason: 'protocol-error' }));
    }
    c.stage = null;
    c.pump();
  }

  private refuse(c: Connection<any>, why: ProxyRefusal, error: Error): void {
    this.plan.counters.proxy.refused[why]++;
    c.stage = null;
    c.destroy('protocol-error', error);
  }
}

function detect(plan: AcceptPlan, c: Connection<any>): void {
  if (c.queue.length === 0) return;
  const first = c.queue.peek(1)[0];
  c.stage = null;
  if (first === TLS_HANDSHAKE_RECORD) {
    plan.counters.detected.tls++;
    wrapTls(plan, c);
  } else {
    plan.counters.detected.plaintext++;
    c.open();
  }
}

function wrapTls(plan: AcceptPlan, c: Connection<any>): void {
  const leftover = c.queue.length > 0 ? c.queue.takeAll() : undefined;
  c.queue.clear();
  (plan.tls as TlsAcceptor).wrap(c, c.socket, leftover);
  if (plan.handshakeTimeoutMs > 0) c.ctx.wheel.scheduleBy(c, c.createdAt + plan.handshakeTimeoutMs);
}

/** After the PROXY stage (or without one): TLS, detection, or open. */
function proceed(plan: AcceptPlan, c: Connection<any>): void {
  if (plan.tls === null) {
    c.open();
    return;
  }
  if (!plan.plaintext) {
    wrapTls(plan, c);
    return;
  }
  if (c.queue.length > 0) {
    detect(plan, c);
    return;
  }
  setStage(c, new AcceptStage(plan, 'detect', c.createdAt));
}

function setStage(c: Connection<any>, stage: AcceptStage): void {
  c.stage = stage;
  if (stage.due > 0) c.ctx.wheel.scheduleBy(c, stage.due);
}

/**
 * Starts the accept stage for a new connection (in the handshake state, on its
 * raw socket). `trusted`: the peer is one of the proxies allowed to send a
 * PROXY header.
 */
export function startAccept(plan: AcceptPlan, c: Connection<any>, trusted: boolean): void {
  if (plan.proxy !== null && trusted) {
    setStage(c, new AcceptStage(plan, 'proxy', c.createdAt));
    return;
  }
  if (plan.proxy !== null && plan.tls === null) {
    // An untrusted peer (optional mode) opens at once: servers that speak first must not wait for it.
    c.stage = new AcceptStage(plan, 'sniff', c.createdAt);
    c.open();
    return;
  }
  proceed(plan, c);
}
