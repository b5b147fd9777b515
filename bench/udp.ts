/**
 * The UDP scenario: Capstan's UDP echo (sessions on, every rate limit on at a
 * bound the load never reaches) against the naive `dgram` echo and the C
 * `echo_epoll --udp`, each loaded by `udpload` (100 connect()ed sockets, 64 B,
 * 16 in flight each, every echo checked, no echo within 200 ms counted lost).
 *
 * - `udp`: one server at a time, rounds rotating the order: delivered
 *   datagrams/s, loss, the server's CPU per delivered datagram, p99.
 * - `udp-paired`: Capstan and `dgram` on CPU 0 at the same time, each with its
 *   own udpload, so outside load hits both alike (paired.ts); the ratio is the
 *   median of the rounds' ratios, beside an A/A control (`dgram` against
 *   itself) whose ratio is the method's bias and whose spread its noise.
 * - `udp-idle`: memory per idle session, 10,000 sessions (one per socket of an
 *   idle `capstan load udp://`, from 20 source addresses).
 *
 * Target (issue 13): Capstan ≥ 1.0 × the `dgram` echo's delivered datagrams/s,
 * at no more loss.
 */
import { runLoad } from '../src/load/run.js';
import { udpload, type UdpFigures, type UdpShape } from './generators.js';
import { bootstrapMedian, median } from './paired.js';
import { startEchoEpoll, startNodeServer, type BenchServer } from './procs.js';
import { check, ERRORS, MSGS, P99, summarize, type BenchContext, type Metric, type Table } from './scenarios.js';
import type { ServerStats } from './server.js';

type Kind = 'capstan-udp' | 'dgram' | 'c';

const LOSS: Metric = { key: 'lossPct', label: 'loss', unit: 'percent', higherIsBetter: false };
const CPU_DGRAM: Metric = { key: 'cpuPerMsgUs', label: 'CPU/dgram', unit: 'us', higherIsBetter: false };
const LATE: Metric = { key: 'late', label: 'late', unit: 'count', higherIsBetter: false };
/** Loss two runs may differ by and still count as "no more": udpload resolves 0.001 %, and a shared machine drops a few now and then. */
const LOSS_SLACK_PCT = 0.1;

function start(ctx: BenchContext, kind: Kind): Promise<BenchServer> {
  return kind === 'c' ? startEchoEpoll(ctx.echoEpoll as string, ctx.pin, true) : startNodeServer(kind, 'raw', ctx.pin);
}

/** One udpload run, with the server's CPU time over its measured window. */
async function measured(ctx: BenchContext, server: BenchServer, shape: UdpShape): Promise<{ f: UdpFigures; cpuUs: number }> {
  let before: Promise<ServerStats> | null = null;
  const f = await udpload(ctx.udpload as string, server.port, shape, ctx.pin, () => {
    before = server.stats();
  });
  const after = await server.stats();
  const b = before === null ? null : await (before as Promise<ServerStats>);
  return { f, cpuUs: b === null ? 0 : after.cpuUs - b.cpuUs };
}

function values(m: { f: UdpFigures; cpuUs: number }): Record<string, number> {
  const { f, cpuUs } = m;
  return { msgsPerSec: f.msgsPerSec, lossPct: f.lossPct, cpuPerMsgUs: f.received > 0 ? cpuUs / f.received : 0, p99: f.p99, late: f.late, errors: f.errors };
}

async function sequential(ctx: BenchContext, shape: UdpShape): Promise<Table> {
  const kinds: Kind[] = ctx.echoEpoll !== null ? ['capstan-udp', 'c', 'dgram'] : ['capstan-udp', 'dgram'];
  const labels: Record<Kind, string> = { 'capstan-udp': 'capstan udp', c: 'C echo_epoll --udp', dgram: 'dgram echo' };
  const runs = new Map<string, Record<string, number>[]>(kinds.map((k) => [labels[k], []]));
  for (let round = 0; round < ctx.rounds; round++) {
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[(i + round) % kinds.length] as Kind;
      const server = await start(ctx, kind);
      try {
        const v = values(await measured(ctx, server, shape));
        runs.get(labels[kind])?.push(v);
        ctx.log(`  udp round ${round + 1}/${ctx.rounds} ${labels[kind].padEnd(18)} ${Object.entries(v).map(([k, x]) => `${k}=${Math.round(x * 1000) / 1000}`).join(' ')}`);
      } finally {
        await server.stop();
      }
    }
  }
  const t = summarize('udp', `UDP echo: Capstan (sessions, rate limits on) vs the C echo and the naive dgram echo, ${shape.socks} sockets, ${shape.size} B, ${shape.depth} in flight, one server at a time`, 'udpload (C)', [MSGS, LOSS, CPU_DGRAM, P99, LATE, ERRORS], runs);
  const capstan = t.rows[0]?.values ?? {};
  const dgram = t.rows[t.rows.length - 1]?.values ?? {};
  t.targets.push(
    check('msgsPerSec', 'ratio', '>=', 1.0, t.ratios.msgsPerSec ?? 0),
    check('lossPct', 'absolute', '<=', Math.round(((dgram.lossPct ?? 0) + LOSS_SLACK_PCT) * 1000) / 1000, capstan.lossPct ?? 0),
  );
  return t;
}

/** Both servers on CPU 0 at once, each loaded by its own udpload; [datagrams/s, CPU ns per datagram] of each. */
async function pairedRound(ctx: BenchContext, a: Kind, b: Kind, shape: UdpShape, bFirst: boolean): Promise<{ a: number[]; b: number[] }> {
  const servers: BenchServer[] = [];
  try {
    for (const k of bFirst ? [b, a] : [a, b]) servers.push(await start(ctx, k));
    const [sa, sb] = (bFirst ? [servers[1], servers[0]] : [servers[0], servers[1]]) as [BenchServer, BenchServer];
    const [ma, mb] = await Promise.all([measured(ctx, sa, shape), measured(ctx, sb, shape)]);
    const figures = (m: { f: UdpFigures; cpuUs: number }) => [m.f.msgsPerSec, m.f.received > 0 ? (m.cpuUs * 1000) / m.f.received : 0, m.f.lossPct];
    return { a: figures(ma), b: figures(mb) };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function paired(ctx: BenchContext, shape: UdpShape): Promise<Table> {
  const rounds = ctx.rounds * 4 + 1;
  const s: UdpShape = { ...shape, seconds: Math.min(shape.seconds, 4) };
  const ratios = { msgs: [] as number[], cpu: [] as number[], aa: [] as number[] };
  const runs = new Map<string, Record<string, number>[]>([
    ['capstan udp', []],
    ['dgram echo', []],
  ]);
  for (let r = 0; r < rounds; r++) {
    const got = await pairedRound(ctx, 'capstan-udp', 'dgram', s, r % 2 === 1);
    const aa = await pairedRound(ctx, 'dgram', 'dgram', s, r % 2 === 1);
    const [ca = 0, cc = 0, cl = 0] = got.a;
    const [da = 0, dc = 0, dl = 0] = got.b;
    ratios.msgs.push(da > 0 ? ca / da : 0);
    ratios.cpu.push(dc > 0 ? cc / dc : 0);
    ratios.aa.push((aa.a[0] ?? 0) > 0 ? (aa.b[0] ?? 0) / (aa.a[0] as number) : 0);
    runs.get('capstan udp')?.push({ msgsPerSec: ca, cpuPerMsgUs: cc / 1000, lossPct: cl });
    runs.get('dgram echo')?.push({ msgsPerSec: da, cpuPerMsgUs: dc / 1000, lossPct: dl });
    ctx.log(`  udp-paired round ${r + 1}/${rounds} capstan/dgram ${(ratios.msgs.at(-1) as number).toFixed(3)} (CPU ${(ratios.cpu.at(-1) as number).toFixed(3)}) A/A ${(ratios.aa.at(-1) as number).toFixed(3)}`);
  }
  const [ml, mh] = bootstrapMedian(ratios.msgs);
  const [al, ah] = bootstrapMedian(ratios.aa);
  const msgs = median(ratios.msgs);
  const rows = [...runs].map(([label, rs]) => ({
    label,
    values: Object.fromEntries(['msgsPerSec', 'cpuPerMsgUs', 'lossPct'].map((k) => [k, median(rs.map((x) => x[k] as number))])),
    runs: rs,
  }));
  return {
    scenario: 'udp-paired',
    title: `UDP echo, Capstan vs dgram both on CPU 0 at once (${s.socks} sockets, ${s.size} B, ${s.depth} in flight, ${s.seconds} s); ratio: median of ${rounds} paired rounds`,
    load: 'udpload (C), one per server',
    metrics: [MSGS, CPU_DGRAM, LOSS],
    rows,
    ratios: { msgsPerSec: msgs, cpuPerMsgUs: median(ratios.cpu) },
    targets: [check('msgsPerSec', 'ratio', '>=', 1.0, msgs)],
    notes: [`paired datagrams/s ratio ${msgs.toFixed(3)} (95 % ${ml.toFixed(3)}-${mh.toFixed(3)}), CPU/dgram ratio ${median(ratios.cpu).toFixed(3)}; A/A control (dgram vs dgram) ${median(ratios.aa).toFixed(3)} (95 % ${al.toFixed(3)}-${ah.toFixed(3)})`],
    derived: { ratio: msgs, low: ml, high: mh, cpuRatio: median(ratios.cpu), aaRatio: median(ratios.aa), aaLow: al, aaHigh: ah },
  };
}

/** Memory per idle session: the server's RSS growth (after GC) with 10,000 sessions, one per socket of an idle load. */
async function idleSessions(ctx: BenchContext, sessions = 10_000): Promise<Table> {
  const sources = Array.from({ length: 20 }, (_, i) => `127.0.0.${2 + i}`);
  const runs = new Map<string, Record<string, number>[]>([
    ['capstan udp', []],
    ['dgram echo', []],
  ]);
  for (let round = 0; round < Math.min(ctx.rounds, 2); round++) {
    for (const kind of round % 2 === 0 ? (['capstan-udp', 'dgram'] as const) : (['dgram', 'capstan-udp'] as const)) {
      const server = await startNodeServer(kind, 'raw', ctx.pin);
      try {
        const base = await server.stats(true);
        let held: Promise<ServerStats> | null = null;
        const r = await runLoad(
          { target: `udp://127.0.0.1:${server.port}`, mode: 'idle', connections: sessions, sourceAddresses: sources, durationSec: ctx.holdSec, connectTimeoutMs: 30_000 },
          {
            onConnected: () => {
              held = (async () => {
                await new Promise((resolve) => setTimeout(resolve, 500));
                return server.stats(true);
              })();
            },
          },
        );
        if (held === null) throw new Error('the idle load never reported its sockets connected');
        const h = await (held as Promise<ServerStats>);
        // The dgram echo keeps nothing per peer: its growth is over the peers the load made.
        const peers = kind === 'dgram' ? r.connections.established : h.connections;
        const v = { bytesPerSession: peers > 0 ? (h.rssBytes - base.rssBytes) / peers : 0, sessions: h.connections, established: r.connections.established, errors: r.errors.total };
        runs.get(kind === 'dgram' ? 'dgram echo' : 'capstan udp')?.push(v);
        ctx.log(`  udp-idle round ${round + 1} ${kind.padEnd(12)} ${Object.entries(v).map(([k, x]) => `${k}=${Math.round(x)}`).join(' ')}`);
      } finally {
        await server.stop();
      }
    }
  }
  const t = summarize(
    'udp-idle',
    `${sessions.toLocaleString('en-US')} idle UDP peers (one datagram each, from 20 addresses): server RSS growth per peer; Capstan holds a session each, the dgram echo nothing`,
    'capstan load udp:// --mode idle (in process)',
    [
      { key: 'bytesPerSession', label: 'bytes/peer', unit: 'bytes', higherIsBetter: false },
      { key: 'sessions', label: 'sessions', unit: 'count', higherIsBetter: true },
      { key: 'established', label: 'sockets', unit: 'count', higherIsBetter: true },
      ERRORS,
    ],
    runs,
  );
  t.ratios = {};
  return t;
}

export async function udp(ctx: BenchContext): Promise<Table[]> {
  if (ctx.udpload === null) {
    ctx.log('  udp: skipped (udpload could not be built; it is the UDP load generator)');
    return [];
  }
  const shape: UdpShape = { socks: 100, size: 64, depth: 16, seconds: ctx.seconds };
  return [await sequential(ctx, shape), await paired(ctx, shape), await idleSessions(ctx)];
}
