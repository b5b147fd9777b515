/**
 * The permessage-deflate benchmark's load client: a process of its own (on
 * CPU 1), built to cost as little per message as a Node client can, since
 * tcpload cannot compress and every other client compresses and inflates
 * each message itself, which costs as much as the server being measured.
 *
 *   node dist/bench/ws-deflate-client.js --port P --offer takeover|server-nct|none
 *        [--mode echo|hold] [--conns N] [--depth D] [--warmup S] [--seconds S] [--verify N]
 *
 * Every message is sent as a precompressed, premasked frame (ws-deflate-train.ts).
 * Echoes are parsed for their header only and counted: payload bytes against
 * the plain size give the server's compression ratio. The first `--verify`
 * connections (default 2) inflate every echo in order on a zlib stream of
 * their own and compare it with what they sent, so a server that garbles
 * messages is caught without the client inflating a million messages a run.
 *
 * echo: all connections up, `ESTABLISHED n`; `depth` messages in flight on
 * each, warm-up, then `START`, the measured window, `END {json}`.
 * hold: all connections up, one message echoed on each (so the server's zlib
 * contexts exist), then `READY {json}`, held for `--seconds`, closed.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { newHistogram, summarize } from '../src/load/histogram.js';
import { checkUpgradeResponse, parseResponseHead, upgradeRequest } from '../src/websocket/client-handshake.js';
import { DEFAULT_DEFLATE } from '../src/websocket/deflate-options.js';
import { checkDeflateAnswer, deflateOffer, type DeflateAgreement } from '../src/websocket/extension-negotiation.js';
import { buildTrain, CYCLE, OFFERS, type OfferName, type Train } from './ws-deflate-train.js';


const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const CRLFCRLF = Buffer.from('\r\n\r\n');

const { values: a } = parseArgs({
  options: {
    port: { type: 'string' },
    offer: { type: 'string', default: 'takeover' },
    mode: { type: 'string', default: 'echo' },
    conns: { type: 'string', default: '100' },
    depth: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '5' },
    verify: { type: 'string', default: '2' },
    'max-connecting': { type: 'string', default: '100' },
  },
});
const port = Number(a.port);
const offerName = a.offer as OfferName;
if (OFFERS[offerName] === undefined) throw new Error(`--offer is one of ${Object.keys(OFFERS).join(', ')}`);
const hold = a.mode === 'hold';
const conns = Number(a.conns);
const depth = hold ? 1 : Number(a.depth);
const options = { ...DEFAULT_DEFLATE, ...OFFERS[offerName] };
const offer = deflateOffer(options, false);

let train: Train | null = null;
let plainLen: number[] = [];
let counting = false;
let sending = true;
let msgs = 0;
let wireIn = 0;
let plainIn = 0;
let verified = 0;
let errors = 0;
const problems = new Set<string>();
const hist = newHistogram();

function problem(what: string): void {
  errors++;
  if (problems.size < 5) problems.add(what);
}

/** An echo check on its own inflate stream: echoes inflate in order, each compared with what was sent. */
class Checker {
  private readonly inf: zlib.InflateRaw;
  private out: Buffer[] = [];
  constructor(windowBits: number) {
    this.inf = zlib.createInflateRaw({ windowBits, flush: zlib.constants.Z_SYNC_FLUSH });
    this.inf.on('data', (c: Buffer) => this.out.push(c));
    this.inf.on('error', (err) => problem(`an echo did not inflate: ${err.message}`));
  }
  check(payload: Buffer, compressed: boolean, expected: Buffer): void {
    if (!compressed) return this.compare(payload, expected);
    this.inf.write(Buffer.concat([payload, TRAILER]), () => {
      const got = Buffer.concat(this.out);
      this.out = [];
      this.compare(got, expected);
    });
  }
  private compare(got: Buffer, expected: Buffer): void {
    if (got.equals(expected)) verified++;
    else problem(`an echo of ${got.length} bytes differs from the ${expected.length}-byte message sent`);
  }
  close(): void {
    this.inf.close();
  }
}

class Conn {
  readonly sock: net.Socket;
  private readonly key = randomBytes(16).toString('base64');
  private head: Buffer | null = Buffer.alloc(0);
  private rest: Buffer | null = null;
  private sent = 0;
  private acked = 0;
  private readonly sentAt = new Float64Array(depth);
  private checker: Checker | null = null;
  open = false;

  constructor(private readonly verify: boolean) {
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.on('connect', () => this.sock.write(upgradeRequest({ resource: '/', host: `127.0.0.1:${port}`, key: this.key, protocols: [], origin: undefined, extensions: offer, extra: '' })));
    this.sock.on('data', (d: Buffer) => (this.head !== null ? this.handshake(d) : this.frames(d)));
    this.sock.on('error', (err) => problem(`socket: ${err.message}`));
    this.sock.on('close', () => {
      if (sending && this.open) problem('the server closed a connection during the run');
      this.checker?.close();
      if (!this.open) connectionFailed();
    });
  }

  start(n: number): void {
    const t = performance.now();
    this.sock.cork();
    for (let i = 0; i < n; i++) this.sendNext(t);
    this.sock.uncork();
  }

  private sendNext(t: number): void {
    this.sentAt[this.sent % depth] = t;
    this.sock.write((train as Train).frames[this.sent % CYCLE] as Buffer);
    this.sent++;
  }

  private handshake(d: Buffer): void {
    const head = Buffer.concat([this.head as Buffer, d]);
    const end = head.indexOf(CRLFCRLF);
    if (end < 0) {
      this.head = head;
      return;
    }
    this.head = null;
    const res = parseResponseHead(head.subarray(0, end + 4));
    const ok = 'code' in res ? res : checkUpgradeResponse(res, this.key, [], true);
    if ('code' in ok) return this.fail(ok.message);
    const agreed = checkDeflateAnswer((res as { headers: Record<string, string> }).headers['sec-websocket-extensions'], options, false);
    if (agreed === null) return this.fail('the server declined permessage-deflate');
    if ('code' in agreed) return this.fail(agreed.message);
    const asked = OFFERS[offerName];
    // The train was compressed for the offer, with a 15-bit window: an answer that changes either would garble it.
    if (agreed.in.noContextTakeover !== asked.serverNoContextTakeover || agreed.out.noContextTakeover !== asked.clientNoContextTakeover || agreed.out.windowBits !== 15) {
      return this.fail(`the server answered ${agreed.header} to the offer ${offer}`);
    }
    if (this.verify) this.checker = new Checker(agreed.in.windowBits);
    connectionOpened(this, agreed);
    if (end + 4 < head.length) this.frames(head.subarray(end + 4));
  }

  private fail(why: string): void {
    problem(why);
    this.sock.destroy();
  }

  private frames(d: Buffer): void {
    const buf = this.rest === null ? d : Buffer.concat([this.rest, d]);
    let at = 0;
    const t = performance.now();
    let replies = 0;
    for (;;) {
      const left = buf.length - at;
      if (left < 2) break;
      const b0 = buf[at] as number;
      const len7 = (buf[at + 1] as number) & 0x7f;
      let hl = 2;
      let n = len7;
      if (len7 === 126) {
        if (left < 4) break;
        n = buf.readUInt16BE(at + 2);
        hl = 4;
      } else if (len7 === 127) {
        if (left < 10) break;
        n = Number(buf.readBigUInt64BE(at + 2));
        hl = 10;
      }
      if (left < hl + n) break;
      const op = b0 & 0x0f;
      if (op === 1 || op === 2) {
        if ((b0 & 0x80) === 0) problem('the server fragmented an echo');
        this.echo(buf.subarray(at + hl, at + hl + n), (b0 & 0x40) !== 0, t);
        replies++;
      } else if (op === 8) problem(`the server sent a close frame (${n >= 2 ? buf.readUInt16BE(at + hl) : 'no code'})`);
      at += hl + n;
    }
    this.rest = at < buf.length ? buf.subarray(at) : null;
    if (replies === 0 || hold || !sending) return;
    this.sock.cork();
    for (let i = 0; i < replies; i++) this.sendNext(t);
    this.sock.uncork();
  }

  private echo(payload: Buffer, compressed: boolean, t: number): void {
    const i = this.acked % CYCLE;
    if (counting) {
      msgs++;
      wireIn += payload.length;
      plainIn += plainLen[i] as number;
      hist.recordValue(Math.max(1, Math.round((t - (this.sentAt[this.acked % depth] as number)) * 1000)));
    }
    this.checker?.check(payload, compressed, (train as Train).plain[i] as Buffer);
    this.acked++;
    if (hold && this.acked === 1) echoedOnce();
  }
}

const all: Conn[] = [];
let connecting = 0;
let opened = 0;
let failed = 0;
let echoed = 0;
let agreement = '';

function connectMore(): void {
  const max = Number(a['max-connecting']);
  while (all.length < conns && connecting < max) {
    connecting++;
    all.push(new Conn(all.length < Number(a.verify)));
  }
}

function connectionOpened(c: Conn, agreed: DeflateAgreement): void {
  c.open = true;
  agreement = agreed.header;
  connecting--;
  opened++;
  connectMore();
  settle();
}

function connectionFailed(): void {
  connecting--;
  failed++;
  connectMore();
  settle();
}

let settled = false;
/** Every connection has opened or failed: start. */
function settle(): void {
  if (settled || opened + failed < conns) return;
  settled = true;
  const live = all.filter((c) => c.open && !c.sock.destroyed);
  process.stdout.write(`ESTABLISHED ${live.length}\n`);
  if (live.length === 0) return finish({ established: 0 });
  if (hold) {
    holding = live.length;
    for (const c of live) c.start(1);
    return;
  }
  for (const c of live) c.start(depth);
  setTimeout(() => {
    msgs = wireIn = plainIn = 0;
    hist.reset();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    counting = true;
    process.stdout.write('START\n');
    setTimeout(() => {
      counting = false;
      sending = false;
      const cpu = process.cpuUsage(cpu0);
      const sec = (performance.now() - t0) / 1000;
      finish({ established: live.length, ...windowFigures(sec, cpu.user + cpu.system) });
    }, Number(a.seconds) * 1000);
  }, Number(a.warmup) * 1000);
}

function windowFigures(sec: number, cpuUs: number): Record<string, number> {
  const l = summarize(hist);
  return {
    seconds: sec,
    msgs,
    msgsPerSec: Math.round(msgs / sec),
    p50: l.p50,
    p99: l.p99,
    p999: l.p999,
    // The server's compression of what it sent back: plain bytes over payload bytes on the wire.
    ratio: wireIn > 0 ? plainIn / wireIn : 0,
    clientCpuPerMsgUs: msgs > 0 ? cpuUs / msgs : 0,
    clientBusy: cpuUs / 1e6 / sec,
  };
}

/** Connections holding (hold mode), set when all are up. */
let holding = 0;

function echoedOnce(): void {
  echoed++;
  if (echoed < holding) return;
  process.stdout.write(`READY ${JSON.stringify({ established: opened, echoed, errors })}\n`);
  setTimeout(() => {
    sending = false;
    finish({ established: opened, echoed });
  }, Number(a.seconds) * 1000);
}

function finish(figures: Record<string, number>): void {
  sending = false;
  const train0 = train as Train;
  const out = { offer, agreement, ...figures, sentRatio: train0.plainBytes / train0.wireBytes, verified, errors, problems: [...problems] };
  process.stdout.write(`END ${JSON.stringify(out)}\n`);
  for (const c of all) c.sock.destroy();
  hist.destroy();
  setTimeout(() => process.exit(0), 200).unref();
}

train = await buildTrain({ clientNoContextTakeover: OFFERS[offerName].clientNoContextTakeover, clientWindowBits: 15 });
plainLen = train.plain.map((p) => p.length);
connectMore();
