/**
 * What the permessage-deflate benchmark's client sends: a cycle of JSON-like
 * text messages of 1,147-1,188 bytes (a market-data or dashboard update: the same
 * keys every time, numbers that change), each compressed and masked once
 * before the run, so sending one costs the client a write and nothing else.
 *
 * With the client's context takeover the cycle is compressed as one deflate
 * stream that starts with an empty window, so message k may refer back into
 * messages before it. Replaying the cycle is still a valid stream: the first
 * message refers to nothing before itself, and every later one finds the
 * same bytes at the same distances as when it was compressed.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { maskInto } from '../src/websocket/mask.js';
import { headerBytes, OP_TEXT, RSV1, writeHeader } from '../src/websocket/frame.js';

/** Messages in one cycle: 75 KB, more than a 32 KiB window holds, so no echo is a copy of one still in the server's window. */
export const CYCLE = 64;
/** The zlib level and memLevel both servers and the client compress with. */
export const DEFLATE_LEVEL = 1;
export const DEFLATE_MEM_LEVEL = 8;
/** Both servers' threshold (ws's default; Capstan's too): every message here is over it. */
export const DEFLATE_THRESHOLD = 1024;

/** The offers: which windows the server is asked to keep. */
export const OFFERS = {
  /** What browsers and the ws client offer: both sides keep their windows. */
  takeover: { serverNoContextTakeover: false, clientNoContextTakeover: false },
  /** The server compresses each message on its own; the client keeps its window. */
  'server-nct': { serverNoContextTakeover: true, clientNoContextTakeover: false },
  /** No window either way. */
  none: { serverNoContextTakeover: true, clientNoContextTakeover: true },
} as const;
export type OfferName = keyof typeof OFFERS;

/** A small deterministic generator, so every run sends the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const SYMBOLS = ['ACME', 'GLOBX', 'INITECH', 'UMBRL', 'HOOLI', 'STARK', 'WAYNE', 'TYRELL'];

/** Message `i` of the cycle: a JSON object of about 1.2 KB. */
export function plainMessage(i: number): Buffer {
  const r = rng(0x9e3779b9 ^ (i * 2654435761));
  const price = 100 + Math.floor(r() * 900);
  const level = (side: number, k: number): [number, number] => [Math.round((price + side * (k + 1) * 0.05 + r() * 0.01) * 100) / 100, Math.floor(r() * 5000) + 100];
  const doc = {
    type: 'book-update',
    seq: 1_000_000 + i * 37,
    ts: `2026-12-03T10:${String(10 + (i % 50)).padStart(2, '0')}:${String(Math.floor(r() * 60)).padStart(2, '0')}.${String(Math.floor(r() * 1000)).padStart(3, '0')}Z`,
    symbol: SYMBOLS[i % SYMBOLS.length],
    venue: 'XNAS',
    currency: 'USD',
    bids: Array.from({ length: 20 }, (_, k) => level(-1, k)),
    asks: Array.from({ length: 20 }, (_, k) => level(1, k)),
    trades: Array.from({ length: 6 }, () => ({ price: Math.round((price + r() - 0.5) * 100) / 100, size: Math.floor(r() * 900) + 1, side: r() < 0.5 ? 'buy' : 'sell', aggressor: r() < 0.5 })),
    stats: { open: price - 3.25, high: price + 4.5, low: price - 6.75, volume: Math.floor(r() * 1e7), vwap: Math.round((price + r()) * 1000) / 1000 },
    flags: { halted: false, auction: false, stale: r() < 0.1 },
  };
  return Buffer.from(JSON.stringify(doc));
}

/** Whether a direction keeps its window between messages. */
export interface TrainShape {
  /** The client starts every message with an empty window. */
  clientNoContextTakeover: boolean;
  /** The client's window, 8-15 (zlib raw deflate takes 9 for 8). */
  clientWindowBits: number;
}

/** The cycle: plain messages, and each one's whole masked, compressed frame. */
export interface Train {
  readonly plain: readonly Buffer[];
  readonly frames: readonly Buffer[];
  /** Compressed payload bytes of the cycle, and plain ones. */
  readonly wireBytes: number;
  readonly plainBytes: number;
}

/** The sync-flushed deflate output of each message, trailer (00 00 ff ff) removed (RFC 7692 §7.2.1). */
async function compressCycle(plain: readonly Buffer[], s: TrainShape): Promise<Buffer[]> {
  const options = { level: DEFLATE_LEVEL, memLevel: DEFLATE_MEM_LEVEL, windowBits: Math.max(9, s.clientWindowBits) };
  if (s.clientNoContextTakeover) return plain.map((p) => zlib.deflateRawSync(p, { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4));
  const d = zlib.createDeflateRaw({ ...options, flush: zlib.constants.Z_SYNC_FLUSH });
  let chunks: Buffer[] = [];
  d.on('data', (c: Buffer) => chunks.push(c));
  const out: Buffer[] = [];
  for (const p of plain) {
    await new Promise<void>((resolve, reject) => d.write(p, (err) => (err ? reject(err) : resolve())));
    out.push(Buffer.concat(chunks).subarray(0, -4));
    chunks = [];
  }
  d.close();
  return out;
}

/** Builds the cycle for a negotiated shape: one masked frame per message, each under its own key. */
export async function buildTrain(s: TrainShape): Promise<Train> {
  const plain = Array.from({ length: CYCLE }, (_, i) => plainMessage(i));
  const wire = await compressCycle(plain, s);
  const frames = wire.map((payload) => {
    const n = payload.length;
    const frame = Buffer.allocUnsafe(headerBytes(n) + 4 + n);
    const at = writeHeader(frame, 0, 0x80 | RSV1 | OP_TEXT, n, 0x80);
    const key = randomBytes(4);
    key.copy(frame, at);
    maskInto(payload, frame, at + 4, key, 0);
    return frame;
  });
  const sum = (bs: readonly Buffer[]): number => bs.reduce((a, b) => a + b.length, 0);
  return { plain, frames, wireBytes: sum(wire), plainBytes: sum(plain) };
}
