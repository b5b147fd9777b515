/**
 * One suite, every codec the registry names, over real loopback sockets: an
 * echo server with the codec, and raw clients that write encoded streams in
 * random chunk sizes, oversize frames, and frames cut off by EOF.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CODEC_NAMES, codecFromName, listen, silentLogger, type CloseReason, type Codec, type Server } from '../../src/index.js';
import { portOf, rawConnect, waitFor, type RawPeer } from '../support/net.js';
import { framesFor } from './cases.js';
import { encodeAll } from './harness.js';

const MAX = 200;
const WAIT_MS = 30_000;

interface Subject {
  name: string;
  options?: object;
  /** Bytes that break maxFrameBytes, or null when this framing cannot be oversized. */
  oversize: Buffer | null;
  /** A frame cut off by EOF, and what it should cause; null when this framing has no partial frames. */
  cutOff: { bytes: Buffer; expect: 'protocol-error' | 'last-frame' } | null;
}

function subjectFor(listed: string): Subject {
  if (listed === 'raw') return { name: listed, oversize: null, cutOff: null };
  if (listed === 'fixed:<N>') return { name: 'fixed:16', oversize: null, cutOff: { bytes: Buffer.from('only 11 of 16'), expect: 'protocol-error' } };
  if (listed.startsWith('lp')) {
    const codec = codecFromName(listed);
    return {
      name: listed,
      // The header announces MAX + 1 bytes; a few body bytes follow, the rest never comes.
      oversize: encodeAll(codec, [Buffer.alloc(MAX + 1, 'o')]).subarray(0, 16),
      cutOff: { bytes: encodeAll(codec, [Buffer.from('hello')]).subarray(0, -2), expect: 'protocol-error' },
    };
  }
  const options = listed === 'delimited' ? { delimiter: '<>' } : undefined;
  return {
    name: listed,
    ...(options === undefined ? {} : { options }),
    oversize: Buffer.alloc(MAX + 50, 'x'),
    // An unterminated last line is a line; an unterminated delimited frame is cut off.
    cutOff: { bytes: Buffer.from('partial'), expect: listed === 'line' ? 'last-frame' : 'protocol-error' },
  };
}

interface EchoServer {
  server: Server;
  codec: Codec;
  closes: CloseReason[];
  frames: string[];
}

async function echoServer(s: Subject): Promise<EchoServer> {
  const codec = codecFromName(s.name, s.options);
  const closes: CloseReason[] = [];
  const frames: string[] = [];
  const server = await listen({
    port: 0,
    codec,
    limits: { maxFrameBytes: MAX },
    logger: silentLogger,
    handler: {
      message(conn, frame) {
        frames.push(frame.toString('latin1'));
        conn.send(frame);
      },
      close(_conn, reason) {
        closes.push(reason);
      },
    },
  });
  return { server, codec, closes, frames };
}

/** A seeded generator of chunk sizes, so a failure can be replayed. */
function chunkSizes(seed: number): () => number {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return 1 + (x % 300);
  };
}

/** Writes `stream` in random chunk sizes, yielding to the event loop now and then so reads split too. */
async function writeInChunks(peer: RawPeer, stream: Buffer, seed: number): Promise<void> {
  const next = chunkSizes(seed);
  let n = 0;
  for (let at = 0; at < stream.length; n++) {
    const size = next();
    peer.socket.write(stream.subarray(at, at + size));
    at += size;
    if (n % 4 === 3) await new Promise((r) => setTimeout(r, 1));
  }
}

async function echoes(peer: RawPeer, stream: Buffer, seed: number): Promise<void> {
  const before = peer.received().length;
  await writeInChunks(peer, stream, seed);
  const got = await peer.waitBytes(before + stream.length, WAIT_MS);
  assert.deepEqual(got.subarray(before), stream);
}

for (const listed of CODEC_NAMES) {
  const s = subjectFor(listed);
  describe(`${s.name} codec over a real socket`, () => {
    it('echoes every frame back in order when the client writes the stream in random chunk sizes', async () => {
      const e = await echoServer(s);
      try {
        // Fixed-size frames all have one size; the others range up to the limit.
        const [min, max] = s.name.startsWith('fixed:') ? [e.codec.maxFrameBytes, e.codec.maxFrameBytes] : [0, MAX];
        const frames = fc.sample(framesFor(e.codec, [...Buffer.from('\r\n<>')], min, max), { numRuns: 300, seed: 7 });
        const stream = encodeAll(e.codec, frames);
        const peer = await rawConnect({ port: portOf(e.server) });
        await echoes(peer, stream, 11);
        if (s.name !== 'raw') assert.equal(e.server.stats().framesIn, frames.length);
        peer.socket.destroy();
      } finally {
        await e.server.close({ graceMs: 2000 });
      }
    });

    if (s.oversize !== null) {
      const oversize = s.oversize;
      it('closes a connection that sends an oversize frame with frame-too-large while another connection keeps working', async () => {
        const e = await echoServer(s);
        try {
          const good = encodeAll(e.codec, [Buffer.from('still here'), Buffer.from('and here')]);
          const bystander = await rawConnect({ port: portOf(e.server) });
          await echoes(bystander, good, 1);
          const offender = await rawConnect({ port: portOf(e.server) });
          // A well-behaved peer answers the server's FIN with its own.
          offender.socket.on('end', () => offender.socket.end());
          offender.socket.write(oversize);
          assert.notEqual(await offender.closed, 'close');
          await waitFor(() => e.closes.length === 1, WAIT_MS, 'the offender to close');
          assert.deepEqual(e.closes, ['frame-too-large']);
          assert.equal(e.server.stats().closes['frame-too-large'], 1);
          await echoes(bystander, good, 2);
          bystander.socket.destroy();
        } finally {
          await e.server.close({ graceMs: 2000 });
        }
      });
    }

    if (s.cutOff !== null) {
      const cutOff = s.cutOff;
      const what = cutOff.expect === 'protocol-error' ? 'closes with protocol-error' : 'delivers the unterminated last frame';
      it(`${what} when the peer closes in the middle of a frame`, async () => {
        const e = await echoServer(s);
        try {
          const peer = await rawConnect({ port: portOf(e.server) });
          peer.socket.end(cutOff.bytes);
          await waitFor(() => e.closes.length === 1, WAIT_MS, 'the connection to close');
          if (cutOff.expect === 'protocol-error') {
            assert.deepEqual(e.closes, ['protocol-error']);
            assert.equal(e.server.stats().closes['protocol-error'], 1);
            assert.deepEqual(e.frames, []);
          } else {
            assert.deepEqual(e.frames, [cutOff.bytes.toString('latin1')]);
            assert.notEqual(e.closes[0], 'protocol-error');
          }
          peer.socket.destroy();
        } finally {
          await e.server.close({ graceMs: 2000 });
        }
      });
    }
  });
}
