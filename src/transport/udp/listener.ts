/**
 * The UDP listener: one socket, a session per peer, and the checks a datagram
 * passes before its handler sees it, cheapest first, each drop counted:
 *
 * ```
 *  datagram ─► size ─► [PROXY header] ─► address bucket ─► session? ─ no ─► closing? caps? accept? ─► new session, open
 *                 │          │                  │              │ yes                                      │
 *              oversize   proxy-*          address-rate        └──────────► session bucket ─► records ─► message*
 *                                                                                 │               │
 *                                                                                rate     truncated / malformed
 * ```
 *
 * | module       | what                                                        |
 * |--------------|-------------------------------------------------------------|
 * | listener.ts  | this class: receive, sessions' lifecycle, drain, stats      |
 * | session.ts   | the session handlers receive                                |
 * | peers.ts     | the session table, bounded by the session caps              |
 * | rate.ts      | token buckets on datagrams/s and bytes/s                    |
 * | framing.ts   | a datagram into records, whole or not at all                |
 * | proxy-datagram.ts | the PROXY protocol v2 header on each datagram (`proxyProtocol`) |
 * | sender.ts    | sends, packing, send errors and back-off                    |
 * | socket.ts    | the socket and its bind                                     |
 * | multicast.ts | group memberships, multicast and broadcast settings         |
 * | limits.ts    | the bounds and their defaults                               |
 */
import type dgram from 'node:dgram';
import type { CloseReason } from '../../connection/close-reason.js';
import { EventLog } from '../../connection/event-log.js';
import { capstanError } from '../../errors.js';
import { defaultLogger, type Logger } from '../../logger.js';
import { ListenerCounters, type ListenerStats } from '../../metrics/listener-counters.js';
import { resolveProxyPolicy } from '../../pipeline/proxy-policy.js';
import { countCode, UdpCounters, type UdpDropReason } from '../../metrics/udp-counters.js';
import { sharedTimerWheel, type TimerWheel } from '../../timers/timer-wheel.js';
import { dropLines } from './drop-lines.js';
import { DatagramFraming } from './framing.js';
import { resolveUdpLimits, type UdpLimits } from './limits.js';
import type { DatagramHandler, UdpCloseOptions, UdpCloseResult, UdpListenAddress, UdpListenOptions, UdpServer } from './options.js';
import { Memberships } from './multicast.js';
import { SessionTable, type PeerEntry } from './peers.js';
import { ProxyDatagrams } from './proxy-datagram.js';
import { rateOf, type Rate } from './rate.js';
import { maxPayload, Sender, UNREACHABLE_CODES, type SenderHost } from './sender.js';
import { EndOfTurn, finishClosing, handlerThrew, Session, SessionState, startClosing, type SessionHost } from './session.js';
import { bindSocket, socketType } from './socket.js';

export class UdpListener<D> implements UdpServer<D>, SessionHost, SenderHost {
  readonly name: string;
  readonly transport = 'udp' as const;
  private socket: dgram.Socket | null = null;
  private groups: Memberships | null = null;
  private sender: Sender | null = null;
  private readonly limits: UdpLimits;
  readonly counters = new ListenerCounters();
  private readonly udp = new UdpCounters();
  private readonly table = new SessionTable();
  private readonly handler: DatagramHandler<D>;
  private readonly wheel: TimerWheel;
  private readonly logger: Logger;
  readonly log: EventLog;
  private readonly sessionRate: Rate;
  private readonly addressRate: Rate;
  /** Records inside datagrams, or null for raw datagrams. */
  private readonly framing: DatagramFraming | null;
  /** The PROXY header reader (`proxyProtocol`), or null when off. */
  private readonly proxy: ProxyDatagrams | null;
  /** Sessions closing this turn: `close` is delivered at its end, after their last sends. */
  private readonly closingList: Session<D>[] = [];
  private readonly turn = new EndOfTurn(() => this.endOfTurn());
  private readonly onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => this.receive(msg, rinfo);
  private readonly onError = (err: NodeJS.ErrnoException): void => this.socketError(err);
  private boundAddress = { host: '', port: 0, family: '' };
  private isClosing = false;
  /** While draining: when the drain began (wheel time) and the quiet interval; -1 otherwise. */
  private drainStart = -1;
  private quietMs = 0;
  private closePromise: Promise<{ ended: number; forced: number }> | null = null;
  private onEmpty: (() => void) | null = null;
  private drained = 0;
  private forced = 0;
  /** Each drop reason's log kind and line, made once: the limits they quote do not change. */
  private readonly dropLines: Record<UdpDropReason, { kind: string; message: string }>;

  constructor(private readonly options: UdpListenOptions<D>) {
    this.handler = options.handler;
    this.limits = resolveUdpLimits(options.limits);
    const L = this.limits;
    this.name = options.name ?? `udp:${options.port ?? 0}`;
    this.logger = (options.logger ?? defaultLogger()).child({ listener: this.name });
    this.wheel = options.timerWheel ?? sharedTimerWheel();
    this.log = new EventLog(this.logger, this.wheel);
    this.sessionRate = rateOf(L.datagramsPerSecond, L.bytesPerSecond, L.maxDatagramBytes);
    this.addressRate = rateOf(L.addressDatagramsPerSecond, L.addressBytesPerSecond, L.maxDatagramBytes);
    this.dropLines = dropLines(L);
    const codec = options.codec;
    const counters = this.counters;
    // Raw framing needs no decoding: the datagram is the message (and is never split at the codec's maxFrameBytes).
    this.framing = codec === undefined || codec.name === 'raw' ? null : new DatagramFraming(codec, { frameDiscarded: () => void counters.framesDiscarded++ });
    const policy = resolveProxyPolicy(options.proxyProtocol);
    this.proxy = policy === null ? null : new ProxyDatagrams(policy, counters.proxy);
  }

  async start(): Promise<void> {
    const o = this.options;
    const host = o.host ?? '127.0.0.1';
    const socket = await bindSocket(this.name, o, host);
    const groups = new Memberships(`listen ${this.name}`, socketType(host), o.multicast?.interface);
    try {
      groups.joinAll(socket, o.multicast?.groups);
    } catch (err) {
      socket.close();
      throw err;
    }
    this.groups = groups;
    this.socket = socket;
    const codec = this.framing === null ? null : (o.codec ?? null);
    this.sender = new Sender(socket, codec === null ? null : codec.encoder(), o.packBytes ?? 1472, maxPayload(socketType(host)), this.counters, this.udp, this.wheel, this.log, this);
    const a = socket.address();
    this.boundAddress = { host: a.address, port: a.port, family: a.family };
    socket.on('message', this.onMessage);
    // Errors after the bind are the kernel's reports (ICMP on platforms that give them to unconnected sockets, ENOBUFS …): receiving goes on.
    socket.on('error', this.onError);
  }

  get address(): UdpListenAddress {
    return this.boundAddress;
  }

  get url(): string {
    const a = this.boundAddress;
    return `udp://${a.family === 'IPv6' ? `[${a.host}]` : a.host}:${a.port}`;
  }

  get sessionCount(): number {
    return this.table.size;
  }

  sessions(): IterableIterator<Session<D>> {
    return this.table.sessions() as IterableIterator<Session<D>>;
  }

  joinGroup(group: string, iface?: string): boolean {
    return (this.groups as Memberships).join(this.running(), group, iface);
  }

  leaveGroup(group: string, iface?: string): boolean {
    return (this.groups as Memberships).leave(this.running(), group, iface);
  }

  memberships(): string[] {
    return this.socket === null ? [] : (this.groups?.list() ?? []);
  }

  private running(): dgram.Socket {
    if (this.socket === null) throw capstanError('ERR_NOT_OPEN', `listen ${this.name}: the listener is closed`);
    return this.socket;
  }

  get closing(): boolean {
    return this.isClosing;
  }

  get listening(): boolean {
    return this.socket !== null;
  }

  stats(): ListenerStats {
    return { ...this.counters.snapshot(0), udp: this.udp.snapshot() };
  }

  // ── receive ────────────────────────────────────────────────────────────────

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const n = msg.length;
    this.udp.datagramsIn++;
    this.counters.bytesIn += n;
    if (n > this.limits.maxDatagramBytes) return void this.drop('oversize', rinfo.address, rinfo.port, n);
    const proxy = this.proxy;
    if (proxy === null) return this.dispatch(msg, rinfo.address, rinfo.port, rinfo.family, null);
    const bad = proxy.read(msg, rinfo);
    if (bad !== null) return void this.drop(bad, rinfo.address, rinfo.port, n, proxy.error);
    this.dispatch(proxy.payload, proxy.address, proxy.port, proxy.family, rinfo);
  }

  /**
   * `msg` for the peer `address`:`port`, through the address's and the
   * session's checks. `via`: the source of a datagram read through the PROXY
   * stage (replies go back to it), null without one.
   */
  private dispatch(msg: Buffer, address: string, port: number, family: string, via: dgram.RemoteInfo | null): void {
    const n = msg.length;
    const now = this.wheel.now();
    const peer = this.table.peer(address);
    let s: Session<D> | undefined;
    if (peer !== undefined) {
      if (!peer.bucket.take(this.addressRate, now, n)) return void this.drop('address-rate', address, port, n);
      s = peer.sessions.get(port);
    }
    if (s === undefined) {
      const made = this.admit(peer, address, port, family, msg, now, via);
      if (made === null) return;
      s = made;
    } else if (s.st !== SessionState.Open) {
      return void this.drop('closing', address, port, n);
    }
    if (!s.bucket.take(this.sessionRate, now, n)) return void this.drop('rate', address, port, n);
    if (via !== null) this.route(s, via);
    s.lastActive = now;
    this.deliver(s, msg);
  }

  /** A session behind a proxy follows the proxy that relayed its latest datagram (another instance, after a failover). */
  private route(s: Session<D>, via: dgram.RemoteInfo): void {
    s.replyAddress = via.address;
    s.replyPort = via.port;
    s.proxy = (this.proxy as ProxyDatagrams).header;
  }

  /** A new peer: a session if the listener has room and `accept` agrees, opened; else null (dropped). */
  private admit(peer: PeerEntry | undefined, address: string, port: number, family: string, msg: Buffer, now: number, via: dgram.RemoteInfo | null): Session<D> | null {
    const L = this.limits;
    if (this.isClosing) return this.drop('closing', address, port, msg.length);
    if (this.table.size >= L.maxSessions) return this.drop('session-cap', address, port, msg.length);
    if (peer !== undefined && peer.sessions.size >= L.maxSessionsPerAddress) return this.drop('address-cap', address, port, msg.length);
    const h = this.handler;
    if (h.accept !== undefined) {
      let ok = false;
      try {
        const header = via === null ? null : (this.proxy as ProxyDatagrams).header;
        ok = h.accept(header === null ? { address, port, family } : { address, port, family, proxy: header }, msg) === true;
      } catch (err) {
        this.counters.handlerErrors++;
        this.log.handlerThrew({ id: 0, remoteAddress: address, remotePort: port }, 'accept', err instanceof Error ? err : new Error(String(err)));
      }
      if (!ok) return this.drop('refused', address, port, msg.length);
    }
    if (peer === undefined) {
      peer = this.table.entry(address, this.addressRate, now);
      peer.bucket.take(this.addressRate, now, msg.length);
    }
    const s = new Session<D>(this, peer, port, family, this.sessionRate, now);
    if (via !== null) this.route(s, via);
    this.table.add(s);
    this.counters.accepted++;
    this.counters.active++;
    if (L.idleTimeoutMs > 0) this.wheel.schedule(s, now + L.idleTimeoutMs);
    if (h.open !== undefined) {
      try {
        h.open(s);
      } catch (err) {
        this.handlerThrew(s, 'open', err);
      }
    }
    return s.st === SessionState.Open ? s : null;
  }

  private deliver(s: Session<D>, msg: Buffer): void {
    const h = this.handler;
    const framing = this.framing;
    if (framing === null) {
      this.counters.framesIn++;
      try {
        h.message?.(s, msg);
      } catch (err) {
        this.handlerThrew(s, 'message', err);
      }
      return;
    }
    const bad = framing.split(msg);
    if (bad !== null) return void this.drop(bad, s.remoteAddress, s.remotePort, msg.length);
    const records = framing.records;
    try {
      for (let i = 0; i < records.length && s.st === SessionState.Open; i++) {
        this.counters.framesIn++;
        h.message?.(s, records[i] as Buffer);
      }
    } catch (err) {
      this.handlerThrew(s, 'message', err);
    } finally {
      records.length = 0;
    }
  }

  private drop(reason: UdpDropReason, address: string, port: number, bytes: number, cause?: Error): null {
    const line = this.dropLines[reason];
    this.log.dropped(line.kind, address, port, bytes, ++this.udp.drops[reason], line.message, cause);
    return null;
  }

  private socketError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'UNKNOWN';
    const count = countCode(this.udp.receiveErrors, code);
    if (UNREACHABLE_CODES.has(code)) this.udp.icmpErrors++;
    this.log.note(`socket-error:${code}`, { code, count }, `udp socket reported ${code} (${err.message}); receiving goes on`);
  }

  // ── sessions ───────────────────────────────────────────────────────────────

  sendFrom(s: Session<any>, datagram: Buffer): boolean {
    return (this.sender as Sender).send(s, datagram);
  }

  private handlerThrew(s: Session<D>, method: string, err: unknown): void {
    handlerThrew(this, s, method, err);
  }

  closeSession(s: Session<any>, reason: CloseReason, error: Error | undefined, flush: boolean): void {
    if (!startClosing(s, reason, error, flush, this.sender as Sender, this.wheel)) return;
    this.closingList.push(s as Session<D>);
    this.queueTurn();
  }

  sessionDue(s: Session<any>, now: number): void {
    if (s.st !== SessionState.Open) return;
    let due = Infinity;
    if (this.drainStart >= 0) {
      const quietDue = Math.max(s.lastActive, this.drainStart) + this.quietMs;
      if (now >= quietDue) return this.closeSession(s, 'shutdown', undefined, true);
      due = quietDue;
    }
    const idle = this.limits.idleTimeoutMs;
    if (idle > 0) {
      const idleDue = s.lastActive + idle;
      if (now >= idleDue) return this.closeSession(s, 'idle-timeout', undefined, true);
      if (idleDue < due) due = idleDue;
    }
    if (due !== Infinity) this.wheel.schedule(s, due);
  }

  unreachable(address: string, port: number, error: Error): void {
    if (this.proxy === null) {
      const s = this.table.peer(address)?.sessions.get(port);
      if (s !== undefined) this.closeSession(s, 'peer-unreachable', error, false);
      return;
    }
    // Behind a proxy the error names the proxy's socket: every session replying through it has lost its way back.
    for (const s of [...this.table.sessions()]) {
      if (s.replyAddress === address && s.replyPort === port) this.closeSession(s, 'peer-unreachable', error, false);
    }
  }

  queueTurn(): void {
    this.turn.queue();
  }

  /** Packed records go out, then closing sessions get their `close`, in the order they began closing. */
  private endOfTurn(): void {
    (this.sender as Sender).flush();
    const list = this.closingList;
    // A `close` may end other sessions: they join the list and are finished in this loop too.
    for (let i = 0; i < list.length; i++) this.finalize(list[i] as Session<D>);
    list.length = 0;
    if (this.table.size === 0 && this.onEmpty !== null) this.onEmpty();
  }

  private finalize(s: Session<D>): void {
    this.table.remove(s);
    if (this.isClosing) this.drained++;
    finishClosing(this, s, this.handler);
  }

  // ── drain ──────────────────────────────────────────────────────────────────

  close(options: UdpCloseOptions = {}): Promise<UdpCloseResult> {
    if (this.closePromise !== null) return this.closePromise;
    this.isClosing = true;
    const graceMs = options.graceMs ?? 10_000;
    this.quietMs = options.quietMs ?? 250;
    const now = this.wheel.now();
    this.drainStart = now;
    this.closePromise = new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const finish = () => {
        if (timer !== null) clearTimeout(timer);
        this.onEmpty = null;
        const socket = this.socket;
        this.socket = null;
        const result = { ended: this.drained - this.forced, forced: this.forced };
        if (socket === null) return resolve(result);
        socket.close(() => resolve(result));
      };
      const h = this.handler;
      for (const s of [...this.table.sessions()] as Session<D>[]) {
        if (s.st !== SessionState.Open) continue;
        if (h.shutdown !== undefined) {
          try {
            h.shutdown(s);
          } catch (err) {
            this.handlerThrew(s, 'shutdown', err);
          }
        }
        if (s.st === SessionState.Open) this.wheel.scheduleBy(s, now + this.quietMs);
      }
      if (this.table.size === 0) return finish();
      this.onEmpty = finish;
      timer = setTimeout(() => {
        for (const s of [...this.table.sessions()]) {
          if (s.st !== SessionState.Open) continue;
          this.forced++;
          this.closeSession(s, 'shutdown', undefined, true);
        }
      }, graceMs);
    });
    return this.closePromise;
  }
}
