/**
 * A peer that pipelines complete frames, sends FIN and reads its replies only
 * later: backpressure pauses reading while those frames wait, and the FIN must
 * not overtake them. Every frame received before the FIN is delivered in
 * order and answered before the connection closes. Whether the race shows
 * depends on how much the loopback socket buffers hold, so the sizes sweep
 * from well below them to well above.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, lengthPrefixed, lines, silentLogger, type Codec, type CloseReason, type Connection } from '../../src/index.js';
import { lp4, portOf } from '../support/net.js';

/** Total bytes each client sends: evenly spaced from 1 to 8 MiB, where the kernel's loopback buffers fill. */
const CLIENTS = 60;
const MAX_BYTES = 8 * 1024 * 1024;
const SIZES = Array.from({ length: CLIENTS }, (_, i) => Math.round(1024 * 1024 + (i * (MAX_BYTES - 1024 * 1024)) / (CLIENTS - 1)));
const READ_AFTER_MS = 800;

/** A deterministic pseudo-random source, so a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/**
 * One long stream of frames, shared by every client: a client sends the frames
 * of a prefix (whole frames only) and expects the echo of that prefix.
 */
interface Stream {
  wire: Buffer;
  expected: Buffer;
  /** Frame ends, as offsets into `wire` and `expected`, in order. */
  wireEnds: number[];
  expectedEnds: number[];
}

interface Slice {
  wire: Buffer;
  expected: Buffer;
  frames: number;
}

function sliceOf(stream: Stream, bytes: number): Slice {
  let frames = 0;
  while (frames < stream.wireEnds.length && (stream.wireEnds[frames] as number) <= bytes) frames++;
  return {
    wire: stream.wire.subarray(0, stream.wireEnds[frames - 1]),
    expected: stream.expected.subarray(0, stream.expectedEnds[frames - 1]),
    frames,
  };
}

function lp4Stream(): Stream {
  const rnd = prng(7);
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let total = 0;
  while (total < MAX_BYTES) {
    const f = lp4(Buffer.alloc(1 + Math.floor(rnd() * 8192), ends.length & 0xff));
    parts.push(f);
    total += f.length;
    ends.push(total);
  }
  const wire = Buffer.concat(parts);
  return { wire, expected: wire, wireEnds: ends, expectedEnds: ends };
}

function lineStream(): Stream {
  const rnd = prng(11);
  const sent: string[] = [];
  const echoed: string[] = [];
  const wireEnds: number[] = [];
  const expectedEnds: number[] = [];
  let w = 0;
  let e = 0;
  while (w < MAX_BYTES) {
    const text = `${sent.length}:${'x'.repeat(Math.floor(rnd() * 8000))}`;
    sent.push(`${text}\n`);
    echoed.push(`${text}\r\n`);
    wireEnds.push((w += text.length + 1));
    expectedEnds.push((e += text.length + 2));
  }
  return { wire: Buffer.from(sent.join('')), expected: Buffer.from(echoed.join('')), wireEnds, expectedEnds };
}

/**
 * Sends the slice and FIN at once, reads nothing for a while, then everything
 * until the server's FIN, comparing as it goes (nothing is kept).
 */
function lateReader(port: number, slice: Slice): Promise<{ matched: number; mismatch: boolean; how: 'end' | 'reset' }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let matched = 0;
    let mismatch = false;
    let how: 'end' | 'reset' = 'end';
    socket.once('connect', () => {
      socket.pause();
      socket.end(slice.wire);
      setTimeout(() => socket.resume(), READ_AFTER_MS);
    });
    socket.on('data', (d: Buffer) => {
      if (!mismatch && d.equals(slice.expected.subarray(matched, matched + d.length))) matched += d.length;
      else mismatch = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') how = 'reset';
      else reject(err);
    });
    socket.on('close', () => resolve({ matched, mismatch, how }));
  });
}

async function sweep(codec: Codec, stream: Stream): Promise<void> {
  const closes: CloseReason[] = [];
  let framesIn = 0;
  const server = await listen({
    port: 0,
    codec,
    logger: silentLogger,
    handler: {
      message: (c: Connection, f: Buffer) => {
        framesIn++;
        c.send(f);
      },
      close: (_c, reason) => void closes.push(reason),
    },
  });
  const slices = SIZES.map((size) => sliceOf(stream, size));
  const results = await Promise.all(slices.map((slice) => lateReader(portOf(server), slice)));
  const bad: string[] = [];
  results.forEach((res, i) => {
    const slice = slices[i] as Slice;
    if (res.how !== 'end' || res.mismatch || res.matched !== slice.expected.length) {
      bad.push(`${slice.wire.length} B sent: ${res.matched} of ${slice.expected.length} echoed bytes matched${res.mismatch ? ', then wrong bytes' : ''}, closed by ${res.how}`);
    }
  });
  assert.deepEqual(bad, [], `${bad.length} of ${CLIENTS} clients lost replies:\n${bad.join('\n')}\nclose reasons: ${JSON.stringify(server.stats().closes)}`);
  assert.equal(framesIn, slices.reduce((n, s) => n + s.frames, 0));
  assert.deepEqual(closes, slices.map(() => 'peer-closed'));
  assert.ok(server.stats().backpressurePauses > 0, 'the sweep reached sizes where backpressure paused reading');
  await server.close();
}

/**
 * The race made certain: all requests arrive in one read with the FIN right
 * behind, and each reply is large, so the kernel's buffers fill and reading
 * pauses while most requests are still queued, with nothing left to read but
 * the FIN.
 */
async function amplified(codec: Codec, request: (i: number) => Buffer, parse: (received: Buffer) => string[]): Promise<void> {
  const REQUESTS = 400;
  const REPLY_BYTES = 32 * 1024;
  const closes: CloseReason[] = [];
  const server = await listen({
    port: 0,
    codec,
    logger: silentLogger,
    handler: {
      message: (c: Connection, f: Buffer) => void c.send(Buffer.concat([f, Buffer.alloc(REPLY_BYTES, 'y')])),
      close: (_c, reason) => void closes.push(reason),
    },
  });
  const wire = Buffer.concat(Array.from({ length: REQUESTS }, (_, i) => request(i)));
  const received = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ port: portOf(server), host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.once('connect', () => {
      socket.pause();
      socket.end(wire);
      setTimeout(() => socket.resume(), READ_AFTER_MS);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
  const replies = parse(received);
  assert.equal(replies.length, REQUESTS, `replies received (close reasons ${JSON.stringify(server.stats().closes)})`);
  replies.forEach((r, i) => assert.equal(r, `${i}:${'y'.repeat(REPLY_BYTES)}`));
  assert.deepEqual(closes, ['peer-closed']);
  assert.ok(server.stats().backpressurePauses > 0);
  await server.close();
}

function parseLp4(b: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= b.length; ) {
    const n = b.readUInt32BE(at);
    out.push(b.subarray(at + 4, at + 4 + n).toString());
    at += 4 + n;
  }
  return out;
}

describe('peer half-close under backpressure', () => {
  it('answers every lp4 request sent with the FIN, when large replies pause reading with requests still queued', async () => {
    await amplified(lengthPrefixed(), (i) => lp4(`${i}:`), parseLp4);
  });

  it('answers every line sent with the FIN, when large replies pause reading with lines still queued', async () => {
    await amplified(lines(), (i) => Buffer.from(`${i}:\n`), (b) => b.toString().split('\r\n').filter((l) => l !== ''));
  });

  it('delivers and answers every lp4 frame sent before FIN to a peer that reads late, at every size around the socket buffers', async () => {
    await sweep(lengthPrefixed(), lp4Stream());
  });

  it('delivers and answers every line sent before FIN to a peer that reads late, never joining lines', async () => {
    await sweep(lines(), lineStream());
  });
});
