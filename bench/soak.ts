/**
 * The TLS soak: connection churn against a TLS echo through every stage
 * (bench/soak-server.ts), for a bounded time, with the server's memory sampled
 * after a forced collection every few seconds. What it guards against is the
 * seed framework's filter bug, a buffer leaked on every read and write through
 * its TLS filter: memory that grows for the life of the process. Such a leak
 * shows as a slope, so the soak reports the least-squares slope of the
 * server's RSS and of its heap + external memory over the second half of the
 * run (the first half warms up: JIT, pools, the TLS session cache).
 *
 * Each client connection picks a route: most send a PROXY v2 header, then TLS,
 * then raw DEFLATE both ways; some skip the header; some speak plaintext
 * (told apart from TLS by the first byte). Each sends 1-50 lp4 frames of 16 B
 * to 16 KiB (text and random bytes), checks every echo byte for byte, and then
 * ends gracefully, or (one in five) destroys the connection mid-stream.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { encodeProxyV2 } from '../src/index.js';
import type { SoakMemory } from './soak-server.js';

const SERVER = fileURLToPath(new URL('./soak-server.js', import.meta.url));

export interface SoakOptions {
  seconds: number;
  /** Client connections in flight at once. Default 50. */
  concurrency?: number;
  /** Memory sample interval, ms. Default 2,000. */
  sampleMs?: number;
  /** Run the server with a deliberate leak (a copy of every frame kept), to prove the check can fail. */
  leak?: boolean;
}

export interface SoakSample {
  atSec: number;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
}

export interface SoakResult {
  seconds: number;
  connections: number;
  messages: number;
  /** Echoes that differed from what was sent, or never came back before a graceful end. */
  verifyFailures: number;
  /** Connections that failed in a way the route did not choose (refused, reset, TLS error). */
  errors: number;
  /** The first few failures, described. */
  failures: string[];
  samples: SoakSample[];
  /** Least-squares slopes over the second half, bytes per minute. */
  rssSlopePerMin: number;
  heapExternalSlopePerMin: number;
}

/** Least-squares slope of `ys` over `xs` (per unit of x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function lp4(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length);
  return Buffer.concat([h, payload]);
}

function payload(): Buffer {
  const size = 16 + Math.floor(Math.random() ** 2 * 16_368);
  if (Math.random() < 0.5) return randomBytes(size);
  return Buffer.from(`{"seq":${Math.random()},"text":"${'soak '.repeat(Math.ceil(size / 5))}"}`.slice(0, size));
}

type Route = 'proxy+tls' | 'tls' | 'plain';

interface Counts {
  messages: number;
  verifyFailures: number;
  errors: number;
  /** The first few failures, described. */
  failures: string[];
}

/** One client connection along `route`: frames out, echoes checked, then an end or a reset. */
function session(port: number, route: Route, counts: Counts): Promise<void> {
  return new Promise((resolve) => {
    const frames = Array.from({ length: 1 + Math.floor(Math.random() * 50) }, payload);
    const expected = Buffer.concat(frames.map(lp4));
    const abort = Math.random() < 0.2 ? Math.floor(Math.random() * frames.length) : -1;
    const raw = net.connect({ host: '127.0.0.1', port });
    const deflate = zlib.createDeflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH });
    const inflate = zlib.createInflateRaw();
    const got: Buffer[] = [];
    let gotBytes = 0;
    let done = false;
    const finish = (failed: 'error' | 'verify' | null, why = ''): void => {
      if (done) return;
      done = true;
      if (failed === 'error') counts.errors++;
      if (failed === 'verify') counts.verifyFailures++;
      if (failed !== null && counts.failures.length < 10) counts.failures.push(`${route}, ${frames.length} frames (${expected.length} B), got ${gotBytes} B: ${why}`);
      raw.destroy();
      deflate.destroy();
      inflate.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish(abort >= 0 ? null : 'verify', 'no complete echo within 30 s'), 30_000);
    timer.unref();
    inflate.on('data', (d: Buffer) => {
      got.push(d);
      gotBytes += d.length;
      if (gotBytes < expected.length) return;
      clearTimeout(timer);
      if (!Buffer.concat(got).equals(expected)) return finish('verify', 'the echo differs');
      counts.messages += frames.length;
      stream.end();
      stream.once('close', () => finish(null));
    });
    inflate.on('error', (e) => finish('verify', `inflate: ${e.message}`));
    let stream: net.Socket = raw;
    const start = (): void => {
      stream.on('data', (d: Buffer) => inflate.write(d));
      deflate.on('data', (d: Buffer) => stream.write(d));
      frames.forEach((f, i) => {
        if (i === abort) {
          // Cut off mid-stream: the server must release the connection and keep serving others.
          setImmediate(() => {
            clearTimeout(timer);
            finish(null);
          });
          return;
        }
        deflate.write(lp4(f));
      });
    };
    raw.on('error', (e) => finish(abort >= 0 ? null : 'error', `socket: ${e.message}`));
    raw.once('connect', () => {
      if (route === 'proxy+tls') {
        raw.write(encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: `198.51.100.${1 + Math.floor(Math.random() * 250)}`, port: 40_000 }, destination: { address: '127.0.0.1', port } }));
      }
      if (route === 'plain') return start();
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
      stream = secure;
      secure.on('error', (e) => finish(abort >= 0 ? null : 'error', `tls: ${e.message}`));
      secure.once('secureConnect', start);
    });
  });
}

function pickRoute(): Route {
  const r = Math.random();
  return r < 0.7 ? 'proxy+tls' : r < 0.85 ? 'tls' : 'plain';
}

async function startServer(leak: boolean): Promise<{ child: ChildProcess; port: number; mem(): Promise<SoakMemory> }> {
  const child = fork(SERVER, [], { execArgv: ['--expose-gc'], env: { ...process.env, CAPSTAN_SOAK_LEAK: leak ? '1' : '0' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`soak server exited with ${code}`)));
  });
  let queue: Promise<unknown> = Promise.resolve();
  const mem = (): Promise<SoakMemory> => {
    const next = queue.then(
      () =>
        new Promise<SoakMemory>((resolve) => {
          child.once('message', (m) => resolve(m as SoakMemory));
          child.send({ cmd: 'mem' });
        }),
    );
    queue = next.catch(() => undefined);
    return next;
  };
  return { child, port, mem };
}

/** Runs the soak for `seconds` (bounded) and returns its figures. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const server = await startServer(o.leak === true);
  const counts: Counts = { messages: 0, verifyFailures: 0, errors: 0, failures: [] };
  let connections = 0;
  const samples: SoakSample[] = [];
  const t0 = Date.now();
  const until = t0 + o.seconds * 1000;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const m = await server.mem();
      samples.push({ atSec: (Date.now() - t0) / 1000, rssBytes: m.rssBytes, heapUsedBytes: m.heapUsedBytes, externalBytes: m.externalBytes });
      await new Promise((r) => setTimeout(r, o.sampleMs ?? 2_000));
    }
  })();
  try {
    const lane = async (): Promise<void> => {
      while (Date.now() < until) {
        await session(server.port, pickRoute(), counts);
        connections++;
      }
    };
    await Promise.all(Array.from({ length: o.concurrency ?? 50 }, lane));
  } finally {
    sampling = false;
    await sampler;
    server.child.disconnect();
  }
  const late = samples.filter((s) => s.atSec >= o.seconds / 2);
  const xs = late.map((s) => s.atSec / 60);
  return {
    seconds: (Date.now() - t0) / 1000,
    connections,
    ...counts,
    samples,
    rssSlopePerMin: slope(xs, late.map((s) => s.rssBytes)),
    heapExternalSlopePerMin: slope(xs, late.map((s) => s.heapUsedBytes + s.externalBytes)),
  };
}

/**
 * Bounds for the slopes over the second half, bytes per minute. The soak serves
 * a few thousand messages a second; a leak of one 100-byte buffer per message
 * would grow memory by tens of MB a minute, so these bounds catch it, while a
 * healthy run's slope stays within the GC's noise of a few MB.
 */
export const HEAP_EXTERNAL_SLOPE_LIMIT = 8 * 1024 * 1024;
export const RSS_SLOPE_LIMIT = 16 * 1024 * 1024;
