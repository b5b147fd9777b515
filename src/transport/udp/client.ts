/**
 * The UDP client: a connect()ed socket and one session with its peer, on the
 * listener's session, sender and framing.
 *
 * ```
 *   bind ─► broadcast, multicast settings ─► connect ─► join groups ─► OPEN ── message* ──┐
 *                                                                     │ request: requests.ts │
 *   end() / idle / ICMP (ECONNREFUSED on the socket or a send) / handler threw ─► CLOSING ─► close(reason) ─► socket closed
 * ```
 *
 * A connected socket takes datagrams from its peer only (the kernel drops the
 * rest), and the kernel reports an ICMP error about the peer to it (Linux as
 * an error of the next receive): the session then closes with
 * `peer-unreachable`. Send errors and their back-off are the listener's
 * (sender.ts).
 */
import type dgram from 'node:dgram';
import type { CloseReason } from '../../connection/close-reason.js';
import { EventLog } from '../../connection/event-log.js';
import { capstanError } from '../../errors.js';
import { validateOptions } from '../options-schema.js';
import { defaultLogger, type Logger } from '../../logger.js';
import { ListenerCounters } from '../../metrics/listener-counters.js';
import { countCode, UdpCounters, type UdpDropReason } from '../../metrics/udp-counters.js';
import type { TimerWheel } from '../../timers/timer-wheel.js';
import { RequestOptionsSchema, type RequestOptions, type UdpClient, type UdpClientHandler, type UdpClientLimits, type UdpClientStats, type UdpConnectOptions, type UdpEndpoint } from './client-options.js';
import { dropLines } from './drop-lines.js';
import { DatagramFraming } from './framing.js';
import { DEFAULT_UDP_LIMITS } from './limits.js';
import { applySendSettings, Memberships } from './multicast.js';
import { PeerEntry } from './peers.js';
import { rateOf } from './rate.js';
import { Requests, type RequestHost } from './requests.js';
import { maxPayload, Sender, UNREACHABLE_CODES, type SenderHost } from './sender.js';
import { EndOfTurn, finishClosing, handlerThrew, Session, SessionState, startClosing, type SessionHost } from './session.js';
import { bindTo } from './socket.js';

/** A client's session is never rate limited: its bucket is a formality of the listener's session. */
const NO_RATE = rateOf(1, 1, 1);

export class UdpClientImpl<D> implements UdpClient<D>, SessionHost, SenderHost, RequestHost {
  readonly transport = 'udp' as const;
  readonly where: string;
  readonly wheel: TimerWheel;
  readonly counters = new ListenerCounters();
  private readonly udp = new UdpCounters();
  private readonly handler: UdpClientHandler<D>;
  private readonly logger: Logger;
  readonly log: EventLog;
  private readonly framing: DatagramFraming | null;
  private readonly requests: Requests;
  private readonly groups: Memberships;
  private readonly dropLines: Record<UdpDropReason, { kind: string; message: string }>;
  private readonly limit: number;
  private sender: Sender | null = null;
  private s: Session<D> | null = null;
  private remoteInfo = { address: '', port: 0, family: '' };
  private localInfo = { address: '', port: 0, family: '' };
  private readonly turn = new EndOfTurn(() => this.endOfTurn());
  private readonly closed: Promise<void>;
  private resolveClosed: () => void = () => undefined;

  constructor(
    private readonly options: UdpConnectOptions<D>,
    private readonly socket: dgram.Socket,
    type: 'udp4' | 'udp6',
    private readonly limits: UdpClientLimits,
    wheel: TimerWheel,
  ) {
    this.handler = options.handler;
    this.wheel = wheel;
    const host = options.host ?? '127.0.0.1';
    this.where = `udp://${host.includes(':') ? `[${host}]` : host}:${options.port}`;
    this.logger = (options.logger ?? defaultLogger()).child({ client: this.where });
    this.log = new EventLog(this.logger, wheel);
    this.dropLines = dropLines({ ...DEFAULT_UDP_LIMITS, maxDatagramBytes: limits.maxDatagramBytes });
    this.limit = maxPayload(type);
    const codec = options.codec;
    const counters = this.counters;
    this.framing = codec === undefined || codec.name === 'raw' ? null : new DatagramFraming(codec, { frameDiscarded: () => void counters.framesDiscarded++ });
    this.requests = new Requests(this, limits.maxPendingRequests);
    this.groups = new Memberships(`connect ${this.where}`, type, options.multicast?.interface);
    this.closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));
  }

  /** Binds, applies the socket settings, connects to `address`, joins groups and opens the session; rejects with `ERR_CONNECT_FAILED` or `ERR_MULTICAST`. */
  async start(address: string): Promise<UdpClient<D>> {
    const o = this.options;
    const socket = this.socket;
    try {
      // Bound first so that the multicast interface and broadcast flag are set before connect: the kernel picks the route and source by them.
      await bindTo(socket, o.localPort ?? 0, o.localAddress, true).catch((err: Error) => {
        throw this.failed(`cannot bind ${o.localAddress ?? 'any address'}:${o.localPort ?? 0}`, err);
      });
      applySendSettings(`connect ${this.where}`, socket, o.multicast, o.broadcast);
      await new Promise<void>((resolve, reject) => socket.connect(o.port, address, (err?: Error) => (err ? reject(this.failed('cannot connect', err)) : resolve())));
      this.groups.joinAll(socket, o.multicast?.groups);
    } catch (err) {
      socket.close();
      throw err;
    }
    const r = socket.remoteAddress();
    const l = socket.address();
    this.remoteInfo = { address: r.address, port: r.port, family: r.family };
    this.localInfo = { address: l.address, port: l.port, family: l.family };
    const codec = this.framing === null ? null : (o.codec ?? null);
    this.sender = new Sender(socket, codec === null ? null : codec.encoder(), o.packBytes ?? 1472, this.limit, this.counters, this.udp, this.wheel, this.log, this, true);
    socket.on('message', (msg: Buffer) => this.receive(msg));
    socket.on('error', (err: NodeJS.ErrnoException) => this.socketError(err));
    const now = this.wheel.now();
    const s = new Session<D>(this, new PeerEntry(r.address, NO_RATE, now), r.port, r.family, NO_RATE, now);
    this.s = s;
    this.counters.accepted++;
    this.counters.active++;
    if (this.limits.idleTimeoutMs > 0) this.wheel.schedule(s, now + this.limits.idleTimeoutMs);
    if (this.handler.open !== undefined) {
      try {
        this.handler.open(s);
      } catch (err) {
        this.handlerThrew(s, 'open', err);
      }
    }
    return this;
  }

  private failed(what: string, err: Error): Error {
    return capstanError('ERR_CONNECT_FAILED', `connect ${this.where}: ${what}: ${(err as NodeJS.ErrnoException).code ?? ''} (${err.message})`, { cause: err });
  }

  get session(): Session<D> | null {
    const s = this.s;
    return s !== null && s.st === SessionState.Open ? s : null;
  }

  get remote(): UdpEndpoint {
    return this.remoteInfo;
  }

  get local(): UdpEndpoint {
    return this.localInfo;
  }

  get url(): string {
    const r = this.remoteInfo;
    return `udp://${r.family === 'IPv6' ? `[${r.address}]` : r.address}:${r.port}`;
  }

  send(datagram: Buffer | string): boolean {
    return this.s !== null && this.s.send(datagram);
  }

  request(data: Buffer | string, options: RequestOptions = {}): Promise<Buffer> {
    try {
      validateOptions('request', RequestOptionsSchema, options);
      if (options.match !== undefined && typeof options.match !== 'function') {
        throw capstanError('ERR_INVALID_OPTION', 'request: option match must be a function (reply) => boolean', { path: 'match' });
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const s = this.session;
    if (s === null) return Promise.reject(capstanError('ERR_NOT_OPEN', `udp request to ${this.where}: the session is closed (${this.s?.reason ?? 'not open'})`, { reason: this.s?.reason ?? undefined }));
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (payload.length > this.limit) {
      return Promise.reject(capstanError('ERR_FRAME_TOO_LARGE', `udp request to ${this.where}: ${payload.length} bytes is larger than UDP carries (${this.limit})`, { limit: this.limit, actual: payload.length }));
    }
    return this.requests.add(payload, options);
  }

  sendRequest(data: Buffer): boolean {
    return this.s !== null && this.s.send(data);
  }

  joinGroup(group: string, iface?: string): boolean {
    return this.groups.join(this.running(), group, iface);
  }

  leaveGroup(group: string, iface?: string): boolean {
    return this.groups.leave(this.running(), group, iface);
  }

  memberships(): string[] {
    return this.s !== null && this.s.st === SessionState.Closed ? [] : this.groups.list();
  }

  private running(): dgram.Socket {
    if (this.s === null || this.s.st === SessionState.Closed) throw capstanError('ERR_NOT_OPEN', `connect ${this.where}: the client is closed`);
    return this.socket;
  }

  close(): Promise<void> {
    this.s?.end();
    return this.closed;
  }

  stats(): UdpClientStats {
    return { ...this.counters.snapshot(0), udp: this.udp.snapshot(), requests: { ...this.requests.counts } };
  }

  // ── receive ────────────────────────────────────────────────────────────────

  private receive(msg: Buffer): void {
    const n = msg.length;
    this.udp.datagramsIn++;
    this.counters.bytesIn += n;
    if (n > this.limits.maxDatagramBytes) return this.drop('oversize', n);
    const s = this.s as Session<D>;
    if (s.st !== SessionState.Open) return this.drop('closing', n);
    s.lastActive = this.wheel.now();
    const framing = this.framing;
    if (framing === null) return this.deliver(s, msg);
    const bad = framing.split(msg);
    if (bad !== null) return this.drop(bad, n);
    const records = framing.records;
    try {
      for (let i = 0; i < records.length && s.st === SessionState.Open; i++) this.deliver(s, records[i] as Buffer);
    } finally {
      records.length = 0;
    }
  }

  /** One record: to the request it answers, else to `message`. */
  private deliver(s: Session<D>, record: Buffer): void {
    this.counters.framesIn++;
    if (this.requests.offer(record)) return;
    try {
      this.handler.message?.(s, record);
    } catch (err) {
      this.handlerThrew(s, 'message', err);
    }
  }

  private drop(reason: UdpDropReason, bytes: number): void {
    const line = this.dropLines[reason];
    this.log.dropped(line.kind, this.remoteInfo.address, this.remoteInfo.port, bytes, ++this.udp.drops[reason], line.message);
  }

  private socketError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'UNKNOWN';
    const count = countCode(this.udp.receiveErrors, code);
    if (UNREACHABLE_CODES.has(code)) {
      this.udp.icmpErrors++;
      return this.unreachable('', 0, err);
    }
    this.log.note(`socket-error:${code}`, { code, count }, `udp socket reported ${code} (${err.message}); receiving goes on`);
  }

  // ── the session ────────────────────────────────────────────────────────────

  sendFrom(s: Session<any>, datagram: Buffer): boolean {
    return (this.sender as Sender).send(s, datagram);
  }

  unreachable(_address: string, _port: number, error: Error): void {
    const s = this.s;
    if (s !== null) this.closeSession(s, 'peer-unreachable', error, false);
  }

  private handlerThrew(s: Session<D>, method: string, err: unknown): void {
    handlerThrew(this, s, method, err);
  }

  closeSession(s: Session<any>, reason: CloseReason, error: Error | undefined, flush: boolean): void {
    if (startClosing(s, reason, error, flush, this.sender as Sender, this.wheel)) this.queueTurn();
  }

  sessionDue(s: Session<any>, now: number): void {
    const idle = this.limits.idleTimeoutMs;
    if (s.st !== SessionState.Open || idle === 0) return;
    const due = s.lastActive + idle;
    if (now >= due) this.closeSession(s, 'idle-timeout', undefined, true);
    else this.wheel.schedule(s, due);
  }

  queueTurn(): void {
    this.turn.queue();
  }

  /** Packed records go out; a closing session gets its `close`, then the socket closes. */
  private endOfTurn(): void {
    (this.sender as Sender).flush();
    const s = this.s as Session<D>;
    if (s.st !== SessionState.Closing) return;
    this.requests.abort(s.reason as CloseReason);
    finishClosing(this, s, this.handler);
    this.socket.close(this.resolveClosed);
  }
}
